//! Avro binary encoding, as fabtel's Python writer (fabtel/avro_writer.py)
//! emits it: zigzag varints (an unsigned 64-bit counter carried by two's
//! complement), strings and bytes with their length, unions of null with one
//! type as branch 0 or 1, arrays as one block and its end.

pub struct Out {
    pub buf: Vec<u8>,
}

impl Out {
    pub fn with_header(header: &[u8], capacity: usize) -> Out {
        let mut buf = Vec::with_capacity(header.len() + capacity);
        buf.extend_from_slice(header);
        Out { buf }
    }

    #[inline]
    fn varint(&mut self, mut n: u64) {
        while n > 0x7f {
            self.buf.push(((n & 0x7f) | 0x80) as u8);
            n >>= 7;
        }
        self.buf.push(n as u8);
    }

    #[inline]
    pub fn long(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    /// An unsigned value as Avro's long: two's complement past 2^63.
    #[inline]
    pub fn ulong(&mut self, v: u64) {
        self.long(v as i64);
    }

    #[inline]
    pub fn string(&mut self, s: &str) {
        self.long(s.len() as i64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    #[inline]
    pub fn bytes(&mut self, b: &[u8]) {
        self.long(b.len() as i64);
        self.buf.extend_from_slice(b);
    }

    #[inline]
    pub fn null(&mut self) {
        self.buf.push(0);
    }

    #[inline]
    pub fn some(&mut self) {
        self.buf.push(2);
    }

    #[inline]
    pub fn opt_long(&mut self, v: Option<i64>) {
        match v {
            None => self.null(),
            Some(x) => {
                self.some();
                self.long(x)
            }
        }
    }

    #[inline]
    pub fn opt_string(&mut self, v: &Option<String>) {
        match v {
            None => self.null(),
            Some(x) => {
                self.some();
                self.string(x)
            }
        }
    }

    /// An array of items: its count, the items, then the end marker (nothing but the marker when empty).
    pub fn array<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Out, &T)) {
        if !items.is_empty() {
            self.long(items.len() as i64);
            for x in items {
                each(self, x);
            }
        }
        self.buf.push(0);
    }
}
