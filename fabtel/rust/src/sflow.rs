//! sFlow v5 datagrams, decoded as connectors/sflow/codec.py decodes them
//! (the same records, the same rejections with the same reasons, offsets and
//! details: the Python codec is the reference, and the differential tests
//! hold the two equal), and each sample written as the Avro body of
//! fabtel's SflowSample (schemas/sflow_sample.avsc, field by field).
use crate::avro::Out;
use crate::inet;

pub const MAX_SAMPLES: u32 = 1000;
pub const MAX_RECORDS: u32 = 1000;
pub const MAX_AS_PATH: u32 = 255;
const VXLAN_PORT: u16 = 4789;

#[derive(Debug)]
pub struct DecodeError {
    pub reason: &'static str,
    pub offset: usize,
    pub data_format: Option<String>,
    pub detail: String,
}

fn err(reason: &'static str, offset: usize, data_format: Option<String>, detail: String) -> DecodeError {
    DecodeError { reason, offset, data_format, detail }
}

#[derive(Default, Clone)]
pub struct SampledHeader {
    pub protocol: u32,
    pub frame_len: u32,
    pub stripped: u32,
    pub header_len: u32,
    pub header: Vec<u8>,
    pub src_mac: Option<String>,
    pub dst_mac: Option<String>,
    pub vlan: Option<i64>,
    pub ether_type: Option<i64>,
    pub src_ip: Option<String>,
    pub dst_ip: Option<String>,
    pub ip_protocol: Option<i64>,
    pub ip_tos: Option<i64>,
    pub ip_ttl: Option<i64>,
    pub src_port: Option<i64>,
    pub dst_port: Option<i64>,
    pub tcp_flags: Option<i64>,
    pub vni: Option<i64>,
    pub inner_src_ip: Option<String>,
    pub inner_dst_ip: Option<String>,
    pub inner_ip_protocol: Option<i64>,
    pub inner_src_port: Option<i64>,
    pub inner_dst_port: Option<i64>,
}

pub struct Lag {
    pub actor: String,
    pub partner: String,
    pub agg: u32,
    pub state: u32,
    pub counts: [u32; 8],
}

pub struct Gateway {
    pub nexthop: String,
    pub my_as: u32,
    pub src_as: u32,
    pub src_peer_as: u32,
    pub segments: Vec<(u32, Vec<u32>)>,
    pub dst_as: u32,
    pub dst_peer_as: u32,
    pub communities: Vec<u32>,
    pub localpref: u32,
}

pub struct Sample {
    pub flow: bool,
    pub sequence: u32,
    pub source_type: u32,
    pub source_index: u32,
    pub rate: u32,
    pub pool: u32,
    pub drops: u32,
    pub input: u32,
    pub output: u32,
    pub input_format: u32,
    pub output_format: u32,
    pub if_counters: Option<[u64; 19]>,
    pub ethernet: Option<[u32; 13]>,
    pub lag: Option<Lag>,
    pub processor: Option<([i32; 3], [u64; 2])>,
    pub header: Option<SampledHeader>,
    pub switch: Option<[u32; 4]>,
    pub router: Option<(String, u32, u32)>,
    pub gateway: Option<Gateway>,
}

pub struct Datagram {
    pub agent: String,
    pub sub_agent_id: u32,
    pub sequence: u32,
    pub uptime_ms: u32,
    pub samples: Vec<Sample>,
    pub skipped: Vec<String>,
    pub leftover: usize,
}

#[inline]
fn u32_at(d: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([d[off], d[off + 1], d[off + 2], d[off + 3]])
}

#[inline]
fn u64_at(d: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[off..off + 8]);
    u64::from_be_bytes(b)
}

fn fmt_name(fmt: u32) -> String {
    format!("{}:{}", fmt >> 12, fmt & 0xFFF)
}

pub fn decode(data: &[u8]) -> Result<Datagram, DecodeError> {
    let n = data.len();
    if n < 28 {
        return Err(err("truncated header", 0, None, format!("{} bytes", n)));
    }
    let version = u32_at(data, 0);
    let addr_type = u32_at(data, 4);
    if version != 5 {
        return Err(err("wrong version", 0, None, format!("version {}", version)));
    }
    let (agent, sub_agent, seq, uptime, nsamples, mut off);
    if addr_type == 1 {
        agent = inet::ipv4(&data[8..12]);
        sub_agent = u32_at(data, 12);
        seq = u32_at(data, 16);
        uptime = u32_at(data, 20);
        nsamples = u32_at(data, 24);
        off = 28;
    } else if addr_type == 2 {
        if n < 40 {
            return Err(err("truncated header", 0, None, format!("{} bytes for an IPv6 agent", n)));
        }
        agent = inet::ipv6(&data[8..24]);
        sub_agent = u32_at(data, 24);
        seq = u32_at(data, 28);
        uptime = u32_at(data, 32);
        nsamples = u32_at(data, 36);
        off = 40;
    } else {
        return Err(err("bad agent address type", 4, None, format!("type {}", addr_type)));
    }
    if nsamples > MAX_SAMPLES || (nsamples as usize) * 8 > n - off {
        return Err(err("sample count does not fit", off - 4, None,
                       format!("{} samples in {} bytes", nsamples, n - off)));
    }
    let mut dg = Datagram { agent, sub_agent_id: sub_agent, sequence: seq, uptime_ms: uptime,
                            samples: Vec::with_capacity(nsamples as usize), skipped: Vec::new(), leftover: 0 };
    for _ in 0..nsamples {
        if off + 8 > n {
            return Err(err("truncated sample header", off, None, String::new()));
        }
        let fmt = u32_at(data, off);
        let length = u32_at(data, off + 4) as usize;
        let start = off + 8;
        if start + length > n {
            return Err(err("sample length past the end", off, Some(fmt_name(fmt)),
                           format!("{} bytes declared, {} left", length, n - start)));
        }
        let end = start + length;
        match fmt {
            1 | 3 => {
                let s = flow_sample(data, start, end, fmt == 3, &mut dg.skipped)?;
                dg.samples.push(s);
            }
            2 | 4 => {
                let s = counter_sample(data, start, end, fmt == 4, &mut dg.skipped)?;
                dg.samples.push(s);
            }
            _ => dg.skipped.push(format!("sample {}", fmt_name(fmt))),
        }
        off = end;
    }
    dg.leftover = n - off;
    Ok(dg)
}

fn new_sample(flow: bool) -> Sample {
    Sample { flow, sequence: 0, source_type: 0, source_index: 0, rate: 0, pool: 0, drops: 0, input: 0, output: 0,
             input_format: 0, output_format: 0, if_counters: None, ethernet: None, lag: None, processor: None,
             header: None, switch: None, router: None, gateway: None }
}

fn counter_sample(data: &[u8], mut off: usize, end: usize, expanded: bool, skipped: &mut Vec<String>)
                  -> Result<Sample, DecodeError> {
    let name = if expanded { "0:4" } else { "0:2" };
    let mut s = new_sample(false);
    let nrec;
    if expanded {
        if end - off < 16 {
            return Err(err("truncated sample", off, Some(name.into()), String::new()));
        }
        s.sequence = u32_at(data, off);
        s.source_type = u32_at(data, off + 4);
        s.source_index = u32_at(data, off + 8);
        nrec = u32_at(data, off + 12);
        off += 16;
    } else {
        if end - off < 12 {
            return Err(err("truncated sample", off, Some(name.into()), String::new()));
        }
        s.sequence = u32_at(data, off);
        let source = u32_at(data, off + 4);
        s.source_type = source >> 24;
        s.source_index = source & 0xFFFFFF;
        nrec = u32_at(data, off + 8);
        off += 12;
    }
    walk(data, off, end, nrec, name, "counters", skipped, &mut s, counter_record)?;
    Ok(s)
}

type RecordFn = fn(&mut Sample, &[u8], u32, usize, usize, usize) -> Result<bool, DecodeError>;

#[allow(clippy::too_many_arguments)]
fn walk(data: &[u8], mut off: usize, end: usize, nrec: u32, name: &str, kind: &str, skipped: &mut Vec<String>,
        s: &mut Sample, record: RecordFn) -> Result<(), DecodeError> {
    if nrec > MAX_RECORDS || (nrec as usize) * 8 > end - off {
        return Err(err("record count does not fit", off - 4, Some(name.into()),
                       format!("{} records in {} bytes", nrec, end - off)));
    }
    for _ in 0..nrec {
        if off + 8 > end {
            return Err(err("truncated record header", off, Some(name.into()), String::new()));
        }
        let rfmt = u32_at(data, off);
        let rlen = u32_at(data, off + 4) as usize;
        let start = off + 8;
        if start + rlen > end {
            return Err(err("record length past the sample", off, Some(format!("{} {}", kind, fmt_name(rfmt))),
                           format!("{} bytes declared", rlen)));
        }
        if !record(s, data, rfmt, start, rlen, off)? {
            skipped.push(format!("{} {}", kind, fmt_name(rfmt)));
        }
        off = start + rlen;
    }
    if off != end {
        return Err(err("sample length disagrees with its records", off, Some(name.into()),
                       format!("{} bytes left over", end - off)));
    }
    Ok(())
}

fn length_error(off: usize, what: &str, detail: String) -> DecodeError {
    err("record length disagrees with format", off, Some(what.into()), detail)
}

fn counter_record(s: &mut Sample, d: &[u8], rfmt: u32, start: usize, rlen: usize, off: usize)
                  -> Result<bool, DecodeError> {
    match rfmt {
        1 => {
            if rlen != 88 {
                return Err(length_error(off, "counters 0:1", format!("{} bytes, expected 88", rlen)));
            }
            // >IIQIIQIIIIIIQIIIIII
            let mut v = [0u64; 19];
            let mut p = start;
            for (i, slot) in v.iter_mut().enumerate() {
                if i == 2 || i == 5 || i == 12 {
                    *slot = u64_at(d, p);
                    p += 8;
                } else {
                    *slot = u32_at(d, p) as u64;
                    p += 4;
                }
            }
            s.if_counters = Some(v);
        }
        2 => {
            if rlen != 52 {
                return Err(length_error(off, "counters 0:2", format!("{} bytes, expected 52", rlen)));
            }
            let mut v = [0u32; 13];
            for (i, slot) in v.iter_mut().enumerate() {
                *slot = u32_at(d, start + 4 * i);
            }
            s.ethernet = Some(v);
        }
        7 => {
            let (actor, partner, tail) = if rlen == 56 {
                (&d[start..start + 6], &d[start + 8..start + 14], start + 16)
            } else if rlen == 52 {
                (&d[start..start + 6], &d[start + 6..start + 12], start + 12)
            } else {
                return Err(length_error(off, "counters 0:7", format!("{} bytes, expected 56 or 52", rlen)));
            };
            let mut counts = [0u32; 8];
            for (i, slot) in counts.iter_mut().enumerate() {
                *slot = u32_at(d, tail + 8 + 4 * i);
            }
            s.lag = Some(Lag { actor: inet::mac(actor), partner: inet::mac(partner), agg: u32_at(d, tail),
                               state: u32_at(d, tail + 4), counts });
        }
        1001 => {
            if rlen != 28 {
                return Err(length_error(off, "counters 0:1001", format!("{} bytes, expected 28", rlen)));
            }
            let pct = [u32_at(d, start) as i32, u32_at(d, start + 4) as i32, u32_at(d, start + 8) as i32];
            s.processor = Some((pct, [u64_at(d, start + 12), u64_at(d, start + 20)]));
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn flow_sample(data: &[u8], mut off: usize, end: usize, expanded: bool, skipped: &mut Vec<String>)
               -> Result<Sample, DecodeError> {
    let name = if expanded { "0:3" } else { "0:1" };
    let mut s = new_sample(true);
    let nrec;
    if expanded {
        if end - off < 44 {
            return Err(err("truncated sample", off, Some(name.into()), String::new()));
        }
        s.sequence = u32_at(data, off);
        s.source_type = u32_at(data, off + 4);
        s.source_index = u32_at(data, off + 8);
        s.rate = u32_at(data, off + 12);
        s.pool = u32_at(data, off + 16);
        s.drops = u32_at(data, off + 20);
        s.input_format = u32_at(data, off + 24);
        s.input = u32_at(data, off + 28);
        s.output_format = u32_at(data, off + 32);
        s.output = u32_at(data, off + 36);
        nrec = u32_at(data, off + 40);
        off += 44;
    } else {
        if end - off < 32 {
            return Err(err("truncated sample", off, Some(name.into()), String::new()));
        }
        s.sequence = u32_at(data, off);
        let source = u32_at(data, off + 4);
        s.source_type = source >> 24;
        s.source_index = source & 0xFFFFFF;
        s.rate = u32_at(data, off + 8);
        s.pool = u32_at(data, off + 12);
        s.drops = u32_at(data, off + 16);
        let inp = u32_at(data, off + 20);
        let outp = u32_at(data, off + 24);
        nrec = u32_at(data, off + 28);
        s.input_format = inp >> 30;
        s.output_format = outp >> 30;
        s.input = inp & 0x3FFFFFFF;
        s.output = outp & 0x3FFFFFFF;
        off += 32;
    }
    walk(data, off, end, nrec, name, "flow", skipped, &mut s, flow_record)?;
    Ok(s)
}

fn flow_record(s: &mut Sample, d: &[u8], rfmt: u32, start: usize, rlen: usize, off: usize) -> Result<bool, DecodeError> {
    match rfmt {
        1 => s.header = Some(raw_header(d, start, rlen, off)?),
        1001 => {
            if rlen != 16 {
                return Err(length_error(off, "flow 0:1001", format!("{} bytes, expected 16", rlen)));
            }
            s.switch = Some([u32_at(d, start), u32_at(d, start + 4), u32_at(d, start + 8), u32_at(d, start + 12)]);
        }
        1002 => {
            let mut r = Reader { d, pos: start, end: start + rlen, off, what: "flow 0:1002" };
            let rec = (r.address()?, r.u32()?, r.u32()?);
            r.done()?;
            s.router = Some(rec);
        }
        1003 => s.gateway = Some(gateway(d, start, start + rlen, off)?),
        _ => return Ok(false),
    }
    Ok(true)
}

struct Reader<'a> {
    d: &'a [u8],
    pos: usize,
    end: usize,
    off: usize,
    what: &'static str,
}

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32, DecodeError> {
        if self.pos + 4 > self.end {
            return Err(length_error(self.off, self.what,
                                    format!("ends inside the record ({} bytes)", self.end - self.off - 8)));
        }
        let v = u32_at(self.d, self.pos);
        self.pos += 4;
        Ok(v)
    }

    fn address(&mut self) -> Result<String, DecodeError> {
        let kind = self.u32()?;
        let size = match kind {
            1 => 4,
            2 => 16,
            _ => return Err(err("bad address type", self.pos - 4, Some(self.what.into()), format!("type {}", kind))),
        };
        if self.pos + size > self.end {
            return Err(length_error(self.off, self.what, "address past the record".into()));
        }
        let b = &self.d[self.pos..self.pos + size];
        self.pos += size;
        Ok(if size == 4 { inet::ipv4(b) } else { inet::ipv6(b) })
    }

    fn done(&self) -> Result<(), DecodeError> {
        if self.pos != self.end {
            return Err(length_error(self.off, self.what, format!("{} bytes left over", self.end - self.pos)));
        }
        Ok(())
    }
}

fn gateway(d: &[u8], start: usize, end: usize, off: usize) -> Result<Gateway, DecodeError> {
    let mut r = Reader { d, pos: start, end, off, what: "flow 0:1003" };
    let nexthop = r.address()?;
    let my_as = r.u32()?;
    let src_as = r.u32()?;
    let src_peer_as = r.u32()?;
    let nseg = r.u32()?;
    if (nseg as u64) * 8 > (end - r.pos) as u64 {
        return Err(length_error(off, "flow 0:1003", format!("{} AS path segments", nseg)));
    }
    let mut segments = Vec::with_capacity(nseg as usize);
    let mut total: u64 = 0;
    for _ in 0..nseg {
        let seg_type = r.u32()?;
        let seg_len = r.u32()?;
        total += seg_len as u64;
        if total > MAX_AS_PATH as u64 {
            return Err(err("AS path too long", off, Some("flow 0:1003".into()), format!("over {} ASNs", MAX_AS_PATH)));
        }
        let mut asns = Vec::with_capacity(seg_len as usize);
        for _ in 0..seg_len {
            asns.push(r.u32()?);
        }
        segments.push((seg_type, asns));
    }
    let count = r.u32()?;
    if (count as u64) * 4 > (end - r.pos) as u64 {
        return Err(length_error(off, "flow 0:1003", format!("{} communities", count)));
    }
    let mut communities = Vec::with_capacity(count as usize);
    for _ in 0..count {
        communities.push(r.u32()?);
    }
    let localpref = r.u32()?;
    r.done()?;
    let any = segments.iter().any(|(_, a)| !a.is_empty());
    let first = segments.first().and_then(|(_, a)| a.first().copied()).unwrap_or(0);
    let last = segments.last().and_then(|(_, a)| a.last().copied()).unwrap_or(0);
    Ok(Gateway { nexthop, my_as, src_as, src_peer_as, segments, dst_as: if any { last } else { 0 },
                 dst_peer_as: first, communities, localpref })
}

fn raw_header(d: &[u8], start: usize, rlen: usize, off: usize) -> Result<SampledHeader, DecodeError> {
    if rlen < 16 {
        return Err(length_error(off, "flow 0:1", format!("{} bytes, at least 16 needed", rlen)));
    }
    let proto = u32_at(d, start);
    let frame_len = u32_at(d, start + 4);
    let stripped = u32_at(d, start + 8);
    let hlen = u32_at(d, start + 12);
    if 16 + ((hlen as u64 + 3) & !3) != rlen as u64 {
        return Err(length_error(off, "flow 0:1", format!("header of {} bytes in a {}-byte record", hlen, rlen)));
    }
    let header = d[start + 16..start + 16 + hlen as usize].to_vec();
    let mut rec = SampledHeader { protocol: proto, frame_len, stripped, header_len: hlen, ..Default::default() };
    match proto {
        1 => parse_ethernet(&header, &mut rec),
        11 | 12 => parse_ip(&header, 0, &mut rec),
        _ => {}
    }
    rec.header = header;
    Ok(rec)
}

fn parse_ethernet(h: &[u8], rec: &mut SampledHeader) {
    let n = h.len();
    if n < 14 {
        return;
    }
    rec.dst_mac = Some(inet::mac(&h[0..6]));
    rec.src_mac = Some(inet::mac(&h[6..12]));
    let mut etype = ((h[12] as u32) << 8) | h[13] as u32;
    let mut off = 14;
    while (etype == 0x8100 || etype == 0x88A8) && n >= off + 4 {
        if rec.vlan.is_none() {
            rec.vlan = Some(((((h[off] as u32) << 8) | h[off + 1] as u32) & 0x0FFF) as i64);
        }
        etype = ((h[off + 2] as u32) << 8) | h[off + 3] as u32;
        off += 4;
    }
    rec.ether_type = Some(etype as i64);
    if etype == 0x0800 || etype == 0x86DD {
        parse_ip(h, off, rec);
    }
}

fn parse_ip(h: &[u8], off: usize, rec: &mut SampledHeader) {
    let n = h.len();
    if n <= off {
        return;
    }
    let version = h[off] >> 4;
    let l4;
    if version == 4 && n >= off + 20 {
        let ihl = ((h[off] & 0x0F) as usize) * 4;
        rec.ip_tos = Some(h[off + 1] as i64);
        rec.ip_ttl = Some(h[off + 8] as i64);
        rec.ip_protocol = Some(h[off + 9] as i64);
        rec.src_ip = Some(inet::ipv4(&h[off + 12..off + 16]));
        rec.dst_ip = Some(inet::ipv4(&h[off + 16..off + 20]));
        let frag = (((h[off + 6] & 0x1F) as u32) << 8) | h[off + 7] as u32;
        if ihl >= 20 && frag == 0 {
            l4 = off + ihl;
        } else {
            return;
        }
    } else if version == 6 && n >= off + 40 {
        rec.ip_tos = Some((((h[off] & 0x0F) << 4) | (h[off + 1] >> 4)) as i64);
        rec.ip_protocol = Some(h[off + 6] as i64);
        rec.ip_ttl = Some(h[off + 7] as i64);
        rec.src_ip = Some(inet::ipv6(&h[off + 8..off + 24]));
        rec.dst_ip = Some(inet::ipv6(&h[off + 24..off + 40]));
        l4 = off + 40;
    } else {
        return;
    }
    let proto = rec.ip_protocol.unwrap_or(-1);
    if (proto == 6 || proto == 17) && n >= l4 + 4 {
        let sport = ((h[l4] as u16) << 8) | h[l4 + 1] as u16;
        let dport = ((h[l4 + 2] as u16) << 8) | h[l4 + 3] as u16;
        rec.src_port = Some(sport as i64);
        rec.dst_port = Some(dport as i64);
        if proto == 6 && n >= l4 + 14 {
            rec.tcp_flags = Some(h[l4 + 13] as i64);
        } else if proto == 17 && dport == VXLAN_PORT && n >= l4 + 16 && h[l4 + 8] & 0x08 != 0 {
            vxlan(h, l4 + 8, rec);
        }
    }
}

fn vxlan(h: &[u8], off: usize, rec: &mut SampledHeader) {
    rec.vni = Some((((h[off + 4] as u32) << 16) | ((h[off + 5] as u32) << 8) | h[off + 6] as u32) as i64);
    let mut inner = SampledHeader::default();
    parse_ethernet(&h[off + 8..], &mut inner);
    rec.inner_src_ip = inner.src_ip;
    rec.inner_dst_ip = inner.dst_ip;
    rec.inner_ip_protocol = inner.ip_protocol;
    rec.inner_src_port = inner.src_port;
    rec.inner_dst_port = inner.dst_port;
}

// ------------------------------------------------------------------ Avro

/// The Avro body of one SflowSample (schemas/sflow_sample.avsc), after `header`.
pub fn encode(dg: &Datagram, s: &Sample, device: Option<&str>, receive_ts_ns: i64, header: &[u8]) -> Vec<u8> {
    let mut o = Out::with_header(header, 256 + s.header.as_ref().map_or(0, |h| h.header.len()));
    o.string(&dg.agent);
    match device {
        None => o.null(),
        Some(x) => {
            o.some();
            o.string(x)
        }
    }
    o.long(dg.sub_agent_id as i64);
    o.long(dg.sequence as i64);
    o.long(dg.uptime_ms as i64);
    o.string(if s.flow { "flow" } else { "counters" });
    o.long(s.sequence as i64);
    o.long(s.source_type as i64);
    o.long(s.source_index as i64);
    for v in [s.rate, s.pool, s.drops, s.input, s.output] {
        if s.flow {
            o.some();
            o.long(v as i64);
        } else {
            o.null();
        }
    }
    match &s.if_counters {
        None => o.null(),
        Some(v) => {
            o.some();
            for x in v {
                o.ulong(*x);
            }
        }
    }
    match &s.ethernet {
        None => o.null(),
        Some(v) => {
            o.some();
            for x in v {
                o.long(*x as i64);
            }
        }
    }
    match &s.lag {
        None => o.null(),
        Some(l) => {
            o.some();
            o.string(&l.actor);
            o.string(&l.partner);
            o.long(l.agg as i64);
            o.long(l.state as i64);
            for x in [l.state >> 24, (l.state >> 16) & 0xFF, (l.state >> 8) & 0xFF, l.state & 0xFF] {
                o.long(x as i64);
            }
            for x in l.counts {
                o.long(x as i64);
            }
        }
    }
    match &s.processor {
        None => o.null(),
        Some((pct, mem)) => {
            o.some();
            for x in pct {
                o.long(*x as i64);
            }
            for x in mem {
                o.ulong(*x);
            }
        }
    }
    match &s.header {
        None => o.null(),
        Some(h) => {
            o.some();
            o.long(h.protocol as i64);
            o.long(h.frame_len as i64);
            o.long(h.stripped as i64);
            o.long(h.header_len as i64);
            o.bytes(&h.header);
            o.opt_string(&h.src_mac);
            o.opt_string(&h.dst_mac);
            o.opt_long(h.vlan);
            o.opt_long(h.ether_type);
            o.opt_string(&h.src_ip);
            o.opt_string(&h.dst_ip);
            o.opt_long(h.ip_protocol);
            o.opt_long(h.ip_tos);
            o.opt_long(h.ip_ttl);
            o.opt_long(h.src_port);
            o.opt_long(h.dst_port);
            o.opt_long(h.tcp_flags);
            o.opt_long(h.vni);
            o.opt_string(&h.inner_src_ip);
            o.opt_string(&h.inner_dst_ip);
            o.opt_long(h.inner_ip_protocol);
            o.opt_long(h.inner_src_port);
            o.opt_long(h.inner_dst_port);
        }
    }
    o.long(receive_ts_ns);
    if s.flow {
        o.some();
        o.long(s.input_format as i64);
        o.some();
        o.long(s.output_format as i64);
    } else {
        o.null();
        o.null();
    }
    match &s.switch {
        None => o.null(),
        Some(v) => {
            o.some();
            for x in v {
                o.long(*x as i64);
            }
        }
    }
    match &s.router {
        None => o.null(),
        Some((nh, a, b)) => {
            o.some();
            o.string(nh);
            o.long(*a as i64);
            o.long(*b as i64);
        }
    }
    match &s.gateway {
        None => o.null(),
        Some(g) => {
            o.some();
            o.string(&g.nexthop);
            o.long(g.my_as as i64);
            o.long(g.src_as as i64);
            o.long(g.src_peer_as as i64);
            o.array(&g.segments, |o, (t, asns)| {
                o.long(*t as i64);
                o.array(asns, |o, a| o.long(*a as i64));
            });
            o.long(g.dst_as as i64);
            o.long(g.dst_peer_as as i64);
            o.array(&g.communities, |o, c| o.long(*c as i64));
            o.long(g.localpref as i64);
        }
    }
    o.buf
}
