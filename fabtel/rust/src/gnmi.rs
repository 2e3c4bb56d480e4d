//! A gNMI SubscribeResponse (protobuf wire format, gNMI 0.8's gnmi.proto as
//! pygnmi compiles it) read without building a message object per update:
//! the notification's timestamp, the raw bytes of its prefix and of each
//! update's and delete's path (the collector's cache keys), and each update's
//! value. It accepts and refuses what the protobuf runtime's parser does
//! (upb): a field of an unexpected wire type is an unknown field, repeated
//! occurrences of a message field merge, the last member of a oneof wins,
//! strings must be UTF-8, and everything nested is checked, extensions too.
use std::borrow::Cow;

pub struct Error {
    pub reason: &'static str,
    pub offset: usize,
    pub message: &'static str,
}

type Result<T> = std::result::Result<T, Error>;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;
const MAX_DEPTH: usize = 100;        // upb's default recursion limit

/// What a field holds, for checking a message fabtel does not interpret.
enum F {
    Str,
    Scalar,                           // read or skipped alike when checking
    Msg(&'static [(u32, F)]),
}

static KEY_ENTRY: [(u32, F); 2] = [(1, F::Str), (2, F::Str)];
static PATH_ELEM: [(u32, F); 2] = [(1, F::Str), (2, F::Msg(&KEY_ENTRY))];
static PATH: [(u32, F); 4] = [(1, F::Str), (2, F::Str), (3, F::Msg(&PATH_ELEM)), (4, F::Str)];
static ANY: [(u32, F); 2] = [(1, F::Str), (2, F::Scalar)];
static DECIMAL: [(u32, F); 2] = [(1, F::Scalar), (2, F::Scalar)];
static SCALAR_ARRAY: [(u32, F); 1] = [(1, F::Msg(&TYPED_VALUE))];
static TYPED_VALUE: [(u32, F); 14] = [
    (1, F::Str), (2, F::Scalar), (3, F::Scalar), (4, F::Scalar), (5, F::Scalar),
    (6, F::Scalar), (14, F::Scalar), (7, F::Msg(&DECIMAL)), (8, F::Msg(&SCALAR_ARRAY)),
    (9, F::Msg(&ANY)), (10, F::Scalar), (11, F::Scalar), (12, F::Str), (13, F::Scalar)];
static VALUE: [(u32, F); 2] = [(1, F::Scalar), (2, F::Scalar)];
static ERROR: [(u32, F); 3] = [(1, F::Scalar), (2, F::Str), (3, F::Msg(&ANY))];
static REGISTERED: [(u32, F); 2] = [(1, F::Scalar), (2, F::Scalar)];
static ROLE: [(u32, F); 1] = [(1, F::Str)];
static UINT128: [(u32, F); 2] = [(1, F::Scalar), (2, F::Scalar)];
static ARBITRATION: [(u32, F); 2] = [(1, F::Msg(&ROLE)), (2, F::Msg(&UINT128))];
static TIME_RANGE: [(u32, F); 2] = [(1, F::Scalar), (2, F::Scalar)];
static HISTORY: [(u32, F); 2] = [(1, F::Scalar), (2, F::Msg(&TIME_RANGE))];
static EXTENSION: [(u32, F); 3] = [(1, F::Msg(&REGISTERED)), (2, F::Msg(&ARBITRATION)), (3, F::Msg(&HISTORY))];

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,                      // where buf starts in the response, for the error's offset
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize, message: &'static str) -> Self {
        Reader { buf, pos: 0, base, message }
    }

    fn err(&self, reason: &'static str) -> Error {
        Error { reason, offset: self.base + self.pos, message: self.message }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else { return Err(self.err("truncated varint")) };
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    /// The next field's (number, wire type).
    fn key(&mut self) -> Result<(u32, u8)> {
        let (field, wire) = self.any_key()?;
        if field == 0 {
            return Err(self.err("field number 0"));
        }
        Ok((field, wire))
    }

    /// A key inside a group being skipped: upb passes over field number 0 there.
    fn any_key(&mut self) -> Result<(u32, u8)> {
        let k = self.varint()?;
        if k > u32::MAX as u64 {
            return Err(self.err("field key past 32 bits"));
        }
        Ok(((k >> 3) as u32, (k & 7) as u8))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() - self.pos < n {
            return Err(self.err("field past the end of its message"));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// A length-delimited field's bytes, and where they start in the response.
    fn bytes(&mut self) -> Result<(&'a [u8], usize)> {
        let n = self.varint()?;
        if n > i32::MAX as u64 {
            return Err(self.err("length past 2 GiB"));
        }
        let at = self.base + self.pos;
        Ok((self.take(n as usize)?, at))
    }

    fn string(&mut self) -> Result<&'a str> {
        let (b, _) = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| self.err("string field not UTF-8"))
    }

    fn fixed32(&mut self) -> Result<[u8; 4]> {
        Ok(self.take(4)?.try_into().unwrap())
    }

    fn fixed64(&mut self) -> Result<[u8; 8]> {
        Ok(self.take(8)?.try_into().unwrap())
    }

    /// Pass over a field fabtel does not read (groups too, nested).
    fn skip(&mut self, field: u32, wire: u8, depth: usize) -> Result<()> {
        match wire {
            VARINT => self.varint().map(|_| ()),
            FIXED64 => self.take(8).map(|_| ()),
            LEN => self.bytes().map(|_| ()),
            FIXED32 => self.take(4).map(|_| ()),
            START_GROUP => {
                if depth >= MAX_DEPTH {
                    return Err(self.err("nested too deep"));
                }
                loop {
                    if self.done() {
                        return Err(self.err("group without its end"));
                    }
                    let (f, w) = self.any_key()?;
                    if w == END_GROUP {
                        return if f == field { Ok(()) } else { Err(self.err("end of another group")) };
                    }
                    self.skip(f, w, depth + 1)?;
                }
            }
            END_GROUP => Err(self.err("end of a group never started")),
            _ => Err(self.err("invalid wire type")),
        }
    }
}

/// Check a message the way the runtime parses it, without keeping anything.
fn check(buf: &[u8], base: usize, schema: &'static [(u32, F)], message: &'static str, depth: usize) -> Result<()> {
    let mut r = Reader::new(buf, base, message);
    if depth >= MAX_DEPTH {
        return Err(r.err("nested too deep"));
    }
    while !r.done() {
        let (field, wire) = r.key()?;
        match schema.iter().find(|(n, _)| *n == field).map(|(_, f)| f) {
            Some(F::Str) if wire == LEN => {
                r.string()?;
            }
            Some(F::Msg(inner)) if wire == LEN => {
                let (b, at) = r.bytes()?;
                check(b, at, inner, message, depth + 1)?;
            }
            _ => r.skip(field, wire, depth)?,
        }
    }
    Ok(())
}

/// An update's value, as the collector's Python reads it (normalize.value_of).
pub enum Value<'a> {
    Absent,
    Str(&'a str),
    Int(i64),
    Uint(u64),
    Bool(bool),
    Bytes(&'a [u8]),
    Float(f64),
    /// json_val or json_ietf_val: the JSON text
    Json(&'a [u8]),
    /// decimal, leaf list or Any: left to the protobuf runtime (the TypedValue's bytes)
    Other,
}

pub struct Update<'a> {
    pub path: Cow<'a, [u8]>,
    pub value: Value<'a>,
    /// the TypedValue's bytes (its occurrences, merged), for what Value leaves to the runtime
    pub typed: Cow<'a, [u8]>,
}

#[derive(Default)]
pub struct Notification<'a> {
    pub timestamp: i64,
    pub prefix: Cow<'a, [u8]>,
    pub updates: Vec<Update<'a>>,
    pub deletes: Vec<Cow<'a, [u8]>>,
}

pub enum Response<'a> {
    Update(Notification<'a>),
    Sync(bool),
    /// an error (deprecated in gNMI) or no response at all
    Other,
}

/// Append another occurrence of a message field: protobuf merges them, and a
/// message's bytes followed by more of its bytes parse as the merge.
fn merge<'a>(into: &mut Cow<'a, [u8]>, more: &'a [u8]) {
    if into.is_empty() {
        *into = Cow::Borrowed(more);
    } else {
        into.to_mut().extend_from_slice(more);
    }
}

fn typed_value<'a>(buf: &'a [u8], base: usize) -> Result<Value<'a>> {
    let mut r = Reader::new(buf, base, "TypedValue");
    let mut value = Value::Absent;
    while !r.done() {
        let (field, wire) = r.key()?;
        value = match (field, wire) {
            (1, LEN) | (12, LEN) => Value::Str(r.string()?),
            (2, VARINT) => Value::Int(r.varint()? as i64),
            (3, VARINT) => Value::Uint(r.varint()?),
            (4, VARINT) => Value::Bool(r.varint()? != 0),
            (5, LEN) | (13, LEN) => Value::Bytes(r.bytes()?.0),
            (6, FIXED32) => Value::Float(f32::from_le_bytes(r.fixed32()?) as f64),
            (14, FIXED64) => Value::Float(f64::from_le_bytes(r.fixed64()?)),
            (10, LEN) | (11, LEN) => Value::Json(r.bytes()?.0),
            (7, LEN) | (8, LEN) | (9, LEN) => {
                r.bytes()?;
                Value::Other
            }
            _ => {
                r.skip(field, wire, 3)?;
                continue;
            }
        };
    }
    Ok(value)
}

fn update<'a>(buf: &'a [u8], base: usize) -> Result<Update<'a>> {
    let mut r = Reader::new(buf, base, "Update");
    let (mut path, mut typed): (Cow<[u8]>, Cow<[u8]>) = (Cow::Borrowed(&[]), Cow::Borrowed(&[]));
    let mut typed_at = base;
    while !r.done() {
        let (field, wire) = r.key()?;
        match (field, wire) {
            (1, LEN) => {
                let (b, at) = r.bytes()?;
                check(b, at, &PATH, "Path", 3)?;
                merge(&mut path, b);
            }
            (2, LEN) => {
                let (b, at) = r.bytes()?;
                check(b, at, &VALUE, "Value", 3)?;
            }
            (3, LEN) => {
                let (b, at) = r.bytes()?;
                check(b, at, &TYPED_VALUE, "TypedValue", 3)?;
                if typed.is_empty() {
                    typed_at = at;
                }
                merge(&mut typed, b);
            }
            _ => r.skip(field, wire, 2)?,
        }
    }
    // a value sent twice in one update merges; the runtime reads that merge
    let value = match &typed {
        Cow::Borrowed(b) => typed_value(b, typed_at)?,
        Cow::Owned(_) => Value::Other,
    };
    Ok(Update { path, value, typed })
}

fn notification<'a>(buf: &'a [u8], base: usize, n: &mut Notification<'a>) -> Result<()> {
    let mut r = Reader::new(buf, base, "Notification");
    while !r.done() {
        let (field, wire) = r.key()?;
        match (field, wire) {
            (1, VARINT) => n.timestamp = r.varint()? as i64,
            (2, LEN) => {
                let (b, at) = r.bytes()?;
                check(b, at, &PATH, "Path", 2)?;
                merge(&mut n.prefix, b);
            }
            (3, LEN) => {
                r.string()?;
            }
            (4, LEN) => {
                let (b, at) = r.bytes()?;
                n.updates.push(update(b, at)?);
            }
            (5, LEN) => {
                let (b, at) = r.bytes()?;
                check(b, at, &PATH, "Path", 2)?;
                n.deletes.push(Cow::Borrowed(b));
            }
            _ => r.skip(field, wire, 1)?,
        }
    }
    Ok(())
}

/// One SubscribeResponse.
pub fn decode(buf: &[u8]) -> Result<Response<'_>> {
    let mut r = Reader::new(buf, 0, "SubscribeResponse");
    let mut out = Response::Other;
    while !r.done() {
        let (field, wire) = r.key()?;
        match (field, wire) {
            (1, LEN) => {
                let (b, at) = r.bytes()?;
                if !matches!(out, Response::Update(_)) {
                    out = Response::Update(Notification::default());
                }
                if let Response::Update(n) = &mut out {
                    notification(b, at, n)?;
                }
            }
            (3, VARINT) => out = Response::Sync(r.varint()? != 0),
            (4, LEN) => {
                let (b, at) = r.bytes()?;
                check(b, at, &ERROR, "Error", 1)?;
                out = Response::Other;
            }
            (5, LEN) => {
                let (b, at) = r.bytes()?;
                check(b, at, &EXTENSION, "Extension", 1)?;
            }
            _ => r.skip(field, wire, 0)?,
        }
    }
    Ok(out)
}
