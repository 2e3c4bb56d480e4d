//! BMP v3 (RFC 7854) messages and the BGP messages inside them, decoded as
//! connectors/bmp/codec.py decodes them: that code is the reference, and the
//! differential tests hold the two equal (the same message, field by field,
//! or the same rejection with the same reason and detail). A malformed
//! attribute or NLRI is recorded on the UPDATE as RFC 7606 says.
use std::collections::HashSet;

use crate::inet;
use crate::nlri::{self, Capabilities, Route, AFI_IPV4, SAFI_UNICAST};

const VERSION: u8 = 3;
const COMMON_HEADER: usize = 6;
const PER_PEER_HEADER: usize = 42;
const MSG_TYPES: [&str; 7] = ["route_monitoring", "statistics", "peer_down", "peer_up", "initiation", "termination",
                              "route_mirroring"];
const BGP_TYPES: [&str; 5] = ["open", "update", "notification", "keepalive", "route_refresh"];
const STAT_NAMES: [&str; 9] = ["rejected_prefixes", "duplicate_advertisements", "duplicate_withdraws",
                               "invalid_cluster_list", "invalid_as_path", "invalid_originator_id", "invalid_as_confed",
                               "adj_rib_in_routes", "loc_rib_routes"];
const ATTR_ORIGIN: u8 = 1;
const ATTR_AS_PATH: u8 = 2;
const ATTR_NEXT_HOP: u8 = 3;
const ATTR_EXT_COMMUNITIES: u8 = 16;
const ATTR_MP_REACH: u8 = 14;
const ATTR_MP_UNREACH: u8 = 15;
const ATTR_AS4_PATH: u8 = 17;
const ATTR_CLUSTER_LIST: u8 = 10;
const VNI_TUNNELS: [u16; 3] = [8, 9, 12];
const WITHDRAW: &str = "routes treated as withdrawn";
const DISCARD: &str = "attribute discarded";

/// A refused message: codec.py's BmpError(reason, detail).
#[derive(Debug)]
pub struct BmpError {
    pub reason: &'static str,
    pub detail: String,
}

fn fail<T>(reason: &'static str, detail: impl Into<String>) -> Result<T, BmpError> {
    Err(BmpError { reason, detail: detail.into() })
}

pub struct PeerHeader {
    pub peer_type: u8,
    pub flags: u8,
    pub address: String,
    pub asn: u32,
    pub bgp_id: String,
    pub ts_ns: u64,
    pub distinguisher: [u8; 8],
}

#[derive(Default)]
pub struct BgpMessage {
    pub kind: &'static str,
    pub size: usize,
    pub routes: Vec<Route>,
    pub as_path: Vec<u32>,
    pub next_hop: Option<String>,
    pub end_of_rib: Option<String>,
    pub problems: Vec<String>,
    pub treat_as_withdraw: bool,
    pub open_caps: Option<Capabilities>,
    pub encapsulation: Option<u16>,
}

/// An info value: text as the router sent it (UTF-8, or bytes for the caller
/// to decode with replacement, as Python does), or text of our own.
pub enum Info {
    Raw(Vec<u8>),
    Text(String),
}

#[derive(Default)]
pub struct Message {
    pub kind: &'static str,
    pub length: u32,
    pub peer: Option<PeerHeader>,
    pub bgp: Option<BgpMessage>,
    pub info: Vec<(String, Info)>,         // in order; a later name replaces an earlier one's value
    pub peer_down_reason: Option<u8>,
    pub open_sent: Option<Capabilities>,
    pub open_received: Option<Capabilities>,
}

/// What a peer's session negotiated (codec.py's Negotiated), found by the caller.
pub struct Negotiated {
    pub add_path: HashSet<(u16, u8)>,
    pub four_byte_as: bool,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// One complete BMP message; `negotiated` finds what a peer's session agreed.
pub fn decode(data: &[u8], negotiated: impl FnOnce(&PeerHeader) -> Option<Negotiated>) -> Result<Message, BmpError> {
    if data.len() < COMMON_HEADER {
        return fail("truncated common header", "");
    }
    if data[0] != VERSION {
        return fail("unsupported BMP version", data[0].to_string());
    }
    let length = u32_at(data, 1);
    if length as usize != data.len() {
        return fail("length disagrees with the message", format!("{} != {}", length, data.len()));
    }
    let kind = data[5];
    if kind as usize >= MSG_TYPES.len() {
        return fail("unknown message type", kind.to_string());
    }
    let mut msg = Message { kind: MSG_TYPES[kind as usize], length, ..Default::default() };
    let mut body = &data[COMMON_HEADER..];
    if matches!(kind, 0 | 1 | 2 | 3 | 6) {
        if body.len() < PER_PEER_HEADER {
            return fail("truncated per-peer header", "");
        }
        msg.peer = Some(peer_header(body)?);
        body = &body[PER_PEER_HEADER..];
    }
    let agreed = msg.peer.as_ref().and_then(negotiated);
    let none = HashSet::new();
    let paths = agreed.as_ref().map_or(&none, |a| &a.add_path);
    let two_byte_as = msg.peer.as_ref().is_some_and(|p| p.flags & 0x20 != 0 || agreed.as_ref().is_some_and(|a| !a.four_byte_as));
    match kind {
        0 => msg.bgp = Some(decode_bgp(body, two_byte_as, paths)?),
        6 => {
            for tlv in tlvs(body, "route mirroring") {
                let (t, value) = tlv?;
                if t == 0 {
                    msg.bgp = Some(decode_bgp(value, two_byte_as, paths)?);
                } else if t == 1 && value.len() == 2 {
                    let what = match u16_at(value, 0) { 0 => "errored PDU", 1 => "messages lost", _ => "?" };
                    set_info(&mut msg, "mirroring".into(), Info::Text(what.into()));
                }
            }
        }
        2 => {
            if body.is_empty() {
                return fail("truncated peer down", "");
            }
            msg.peer_down_reason = Some(body[0]);
            if body.len() > 1 && (body[0] == 1 || body[0] == 3) {
                msg.bgp = Some(decode_bgp(&body[1..], two_byte_as, paths)?);
            }
        }
        3 => peer_up(body, &mut msg)?,
        1 => statistics(body, &mut msg)?,
        _ => {
            for tlv in tlvs(body, msg.kind) {
                let (t, value) = tlv?;
                let name = match (kind, t) {
                    (4, 0) | (5, 0) => "string".to_string(),
                    (4, 1) => "sysDescr".into(),
                    (4, 2) => "sysName".into(),
                    (5, 1) => "reason".into(),
                    _ => format!("tlv{t}"),
                };
                let v = if name == "reason" && value.len() == 2 {
                    Info::Text(u16_at(value, 0).to_string())
                } else {
                    Info::Raw(value.to_vec())
                };
                set_info(&mut msg, name, v);
            }
        }
    }
    Ok(msg)
}

fn set_info(msg: &mut Message, name: String, value: Info) {
    match msg.info.iter_mut().find(|(k, _)| *k == name) {
        Some(slot) => slot.1 = value,
        None => msg.info.push((name, value)),
    }
}

fn peer_header(b: &[u8]) -> Result<PeerHeader, BmpError> {
    let flags = b[1];
    let address = if flags & 0x80 != 0 { inet::ipv6_plain(&b[10..26]) } else { inet::ipv4(&b[22..26]) };
    let (sec, usec) = (u32_at(b, 34) as u64, u32_at(b, 38) as u64);
    if usec >= 1_000_000 {
        return fail("bad timestamp microseconds", usec.to_string());
    }
    let mut distinguisher = [0u8; 8];
    distinguisher.copy_from_slice(&b[2..10]);
    Ok(PeerHeader { peer_type: b[0], flags, address, asn: u32_at(b, 26), bgp_id: inet::ipv4(&b[30..34]),
                    ts_ns: sec * 1_000_000_000 + usec * 1000, distinguisher })
}

/// A message's TLVs, one at a time: a framing fault is raised where it is
/// met, after the TLVs before it were used (route mirroring decodes as it goes).
struct Tlvs<'a> {
    b: &'a [u8],
    i: usize,
    place: &'a str,
}

fn tlvs<'a>(b: &'a [u8], place: &'a str) -> Tlvs<'a> {
    Tlvs { b, i: 0, place }
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Result<(u16, &'a [u8]), BmpError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (b, i) = (self.b, self.i);
        if i >= b.len() {
            return None;
        }
        self.i = b.len();                        // after a fault, nothing more
        if i + 4 > b.len() {
            return Some(fail("truncated TLV", self.place));
        }
        let (t, n) = (u16_at(b, i), u16_at(b, i + 2) as usize);
        if i + 4 + n > b.len() {
            return Some(fail("TLV length past the message", self.place));
        }
        self.i = i + 4 + n;
        Some(Ok((t, &b[i + 4..i + 4 + n])))
    }
}

fn peer_up(b: &[u8], msg: &mut Message) -> Result<(), BmpError> {
    if b.len() < 20 {
        return fail("truncated peer up", "");
    }
    let mut i = 20;
    for which in ["sent", "received"] {
        let n = bgp_length(&b[i..], &format!("peer up {which} OPEN"))?;
        let opened = decode_bgp(&b[i..i + n], true, &HashSet::new())?;
        if opened.kind != "open" {
            return fail("peer up without an OPEN", which);
        }
        if which == "sent" { msg.open_sent = opened.open_caps } else { msg.open_received = opened.open_caps }
        i += n;
    }
    for tlv in tlvs(&b[i..], "peer up") {
        let (t, value) = tlv?;
        let name = match t { 0 => "string".to_string(), 1 => "sysDescr".into(), 2 => "sysName".into(), _ => format!("tlv{t}") };
        set_info(msg, name, Info::Raw(value.to_vec()));
    }
    Ok(())
}

fn statistics(b: &[u8], msg: &mut Message) -> Result<(), BmpError> {
    if b.len() < 4 {
        return fail("truncated statistics", "");
    }
    let count = u32_at(b, 0);
    let stats = tlvs(&b[4..], "statistics").collect::<Result<Vec<_>, _>>()?;
    if stats.len() != count as usize {
        return fail("statistics count disagrees with its TLVs", format!("{} != {}", count, stats.len()));
    }
    let parts: Vec<String> = stats.iter().map(|(t, v)| {
        let value = match v.len() {
            4 => u32_at(v, 0) as u64,
            8 => u64::from_be_bytes(v[..8].try_into().unwrap()),
            n => n as u64,
        };
        match STAT_NAMES.get(*t as usize) {
            Some(name) => format!("{name}={value}"),
            None => format!("stat{t}={value}"),
        }
    }).collect();
    set_info(msg, "stats".into(), Info::Text(parts.join(",")));
    Ok(())
}

fn bgp_length(b: &[u8], place: &str) -> Result<usize, BmpError> {
    if b.len() < 19 {
        return fail("truncated BGP header", place);
    }
    if b[..16].iter().any(|x| *x != 0xff) {
        return fail("bad BGP marker", place);
    }
    let n = u16_at(b, 16) as usize;
    if !(19..=b.len()).contains(&n) {
        return fail("BGP length past the message", place);
    }
    Ok(n)
}

/// One BGP message (marker included).
pub fn decode_bgp(b: &[u8], two_byte_as: bool, add_path: &HashSet<(u16, u8)>) -> Result<BgpMessage, BmpError> {
    let n = bgp_length(b, "bgp")?;
    if n != b.len() {
        return fail("BGP length disagrees with the message", format!("{} != {}", n, b.len()));
    }
    let code = b[18];
    if !(1..=5).contains(&code) {
        return fail("unknown BGP message type", code.to_string());
    }
    let mut msg = BgpMessage { kind: BGP_TYPES[code as usize - 1], size: n, ..Default::default() };
    if code == 2 {
        update(&b[19..], &mut msg, two_byte_as, add_path)?;
    } else if code == 1 {
        msg.open_caps = Some(nlri::open_capabilities(&b[19..]));
    }
    Ok(msg)
}

/// An MP_REACH or MP_UNREACH NLRI field still to read, and its attribute's name.
struct MpField<'a> {
    afi: u16,
    safi: u8,
    action: &'static str,
    nlri: &'a [u8],
    place: &'static str,
}

fn routes(msg: &mut BgpMessage, b: &[u8], afi: u16, safi: u8, action: &'static str, add_path: &HashSet<(u16, u8)>,
          place: &str) {
    let vni = msg.encapsulation.is_some_and(|t| VNI_TUNNELS.contains(&t));
    match nlri::decode(b, afi, safi, action, add_path.contains(&(afi, safi)), vni) {
        Ok(r) => msg.routes.extend(r),
        Err(e) => {
            msg.routes.extend(e.routes);
            msg.problems.push(format!("{place} {}: {}", nlri::family(afi, safi), e.reason));
        }
    }
}

fn update(b: &[u8], msg: &mut BgpMessage, two_byte_as: bool, add_path: &HashSet<(u16, u8)>) -> Result<(), BmpError> {
    if b.len() < 4 {
        return fail("truncated UPDATE", "");
    }
    let wlen = u16_at(b, 0) as usize;
    if 2 + wlen + 2 > b.len() {
        return fail("withdrawn routes past the UPDATE", "");
    }
    let alen = u16_at(b, 2 + wlen) as usize;
    let start = 4 + wlen;
    if start + alen > b.len() {
        return fail("path attributes past the UPDATE", "");
    }
    let (codes, mp) = attributes(&b[start..start + alen], msg, two_byte_as)?;
    // the NLRI after every attribute: the encapsulation community says whether EVPN labels are VNIs
    routes(msg, &b[2..2 + wlen], AFI_IPV4, SAFI_UNICAST, "withdraw", add_path, "withdrawn routes");
    for f in &mp {
        routes(msg, f.nlri, f.afi, f.safi, f.action, add_path, f.place);
    }
    routes(msg, &b[start + alen..], AFI_IPV4, SAFI_UNICAST, "announce", add_path, "NLRI");
    if msg.routes.iter().any(|r| r.action == "announce") {
        let mut missing: Vec<&str> = [(ATTR_ORIGIN, "ORIGIN"), (ATTR_AS_PATH, "AS_PATH")].iter()
            .filter(|(c, _)| !codes.contains(c)).map(|(_, name)| *name).collect();
        if !codes.contains(&ATTR_NEXT_HOP) && b.len() > start + alen
            && msg.routes.iter().any(|r| r.action == "announce" && r.family == "ipv4-unicast") {
            missing.push("NEXT_HOP");
        }
        for name in missing {
            malformed(msg, name, "missing (well-known mandatory)", WITHDRAW);
        }
    }
    if msg.treat_as_withdraw {
        for r in msg.routes.iter_mut().filter(|r| r.action == "announce") {
            r.action = "withdraw";
        }
    }
    if b.len() == 4 {
        msg.end_of_rib = Some(nlri::family(AFI_IPV4, SAFI_UNICAST));
    } else if codes == [ATTR_MP_UNREACH] && mp.len() == 1 && mp[0].nlri.is_empty() && wlen == 0
        && b.len() == start + alen {
        msg.end_of_rib = Some(nlri::family(mp[0].afi, mp[0].safi));
    }
    Ok(())
}

fn malformed(msg: &mut BgpMessage, name: &str, what: &str, action: &str) {
    msg.problems.push(format!("{name}: {what} ({action}, RFC 7606)"));
    if action == WITHDRAW {
        msg.treat_as_withdraw = true;
    }
}

/// codec.py's ATTRIBUTES: name, (optional, transitive) bits, and what a malformed one costs.
fn attribute(code: u8) -> (String, Option<(bool, bool)>, &'static str) {
    let (name, bits, action) = match code {
        1 => ("ORIGIN", (false, true), WITHDRAW),
        2 => ("AS_PATH", (false, true), WITHDRAW),
        3 => ("NEXT_HOP", (false, true), WITHDRAW),
        4 => ("MULTI_EXIT_DISC", (true, false), WITHDRAW),
        5 => ("LOCAL_PREF", (false, true), WITHDRAW),
        6 => ("ATOMIC_AGGREGATE", (false, true), DISCARD),
        7 => ("AGGREGATOR", (true, true), DISCARD),
        8 => ("COMMUNITIES", (true, true), WITHDRAW),
        9 => ("ORIGINATOR_ID", (true, false), WITHDRAW),
        10 => ("CLUSTER_LIST", (true, false), WITHDRAW),
        14 => ("MP_REACH_NLRI", (true, false), WITHDRAW),
        15 => ("MP_UNREACH_NLRI", (true, false), WITHDRAW),
        16 => ("EXTENDED_COMMUNITIES", (true, true), WITHDRAW),
        17 => ("AS4_PATH", (true, true), DISCARD),
        18 => ("AS4_AGGREGATOR", (true, true), DISCARD),
        32 => ("LARGE_COMMUNITY", (true, true), WITHDRAW),
        _ => return (format!("attribute {code}"), None, DISCARD),
    };
    (name.to_string(), Some(bits), action)
}

/// What is wrong with an attribute's length, by its definition (RFC 7606 7).
fn length_fault(code: u8, n: usize, two_byte_as: bool) -> Option<String> {
    let fixed = match code {
        1 => Some(1),
        3 | 4 | 5 | 9 => Some(4),
        6 => Some(0),
        7 => Some(if two_byte_as { 6 } else { 8 }),
        18 => Some(8),
        _ => None,
    };
    let multiple = match code { 8 | 10 => Some(4), 16 => Some(8), 32 => Some(12), _ => None };
    if let Some(f) = fixed.filter(|f| n != *f) {
        return Some(format!("length {n}, not {f}"));
    }
    if let Some(m) = multiple.filter(|m| n % m != 0) {
        return Some(format!("length {n}, not a multiple of {m}"));
    }
    if code == ATTR_CLUSTER_LIST && n == 0 {
        return Some("empty".into());
    }
    None
}

type Attributes<'a> = (Vec<u8>, Vec<MpField<'a>>);

/// The path attributes, as codec.py's _attributes reads them: the codes of those present and the MP NLRI fields.
fn attributes<'a>(b: &'a [u8], msg: &mut BgpMessage, two_byte_as: bool) -> Result<Attributes<'a>, BmpError> {
    let (mut codes, mut mp) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < b.len() {
        if i + 3 > b.len() || (b[i] & 0x10 != 0 && i + 4 > b.len()) {
            malformed(msg, "path attributes", "an attribute's header past their length", WITHDRAW);
            break;
        }
        let (flags, code) = (b[i], b[i + 1]);
        let n;
        if flags & 0x10 != 0 {
            n = u16_at(b, i + 2) as usize;
            i += 4;
        } else {
            n = b[i + 2] as usize;
            i += 3;
        }
        let (name, bits, action) = attribute(code);
        if i + n > b.len() {
            codes.push(code);
            malformed(msg, &name, "past the path attributes' length", WITHDRAW);
            break;
        }
        let value = &b[i..i + n];
        i += n;
        if codes.contains(&code) {
            if code == ATTR_MP_REACH || code == ATTR_MP_UNREACH {
                return fail("MP_REACH_NLRI or MP_UNREACH_NLRI twice in an UPDATE", name);
            }
            msg.problems.push(format!("{name}: repeated (the first kept, RFC 7606)"));
            continue;
        }
        codes.push(code);
        if bits.is_some_and(|want| want != (flags & 0x80 != 0, flags & 0x40 != 0)) {
            malformed(msg, &name, &format!("flags 0x{flags:02x} disagree with its definition"), action);
            continue;
        }
        if let Some(fault) = length_fault(code, n, two_byte_as) {
            malformed(msg, &name, &fault, action);
            continue;
        }
        match code {
            ATTR_ORIGIN if value[0] > 2 => malformed(msg, &name, &format!("undefined value {}", value[0]), WITHDRAW),
            ATTR_AS_PATH | ATTR_AS4_PATH => {
                let width = if code == ATTR_AS4_PATH || !two_byte_as { 4 } else { 2 };
                match as_path(value, width) {
                    Ok(path) if code == ATTR_AS_PATH => msg.as_path = path,
                    Ok(_) => {}
                    Err(reason) => malformed(msg, &name, reason, action),
                }
            }
            ATTR_NEXT_HOP => msg.next_hop = Some(inet::ipv4(value)),
            ATTR_EXT_COMMUNITIES => {
                let mut k = 0;
                while k + 7 < n {
                    if value[k] == 0x03 && value[k + 1] == 0x0C {          // Encapsulation (RFC 9012 4.1)
                        msg.encapsulation = Some(u16_at(value, k + 6));
                    }
                    k += 8;
                }
            }
            ATTR_MP_REACH => {
                if n < 5 || 4 + value[3] as usize + 1 > n {
                    malformed(msg, &name, "truncated", WITHDRAW);
                    continue;
                }
                let nh_len = value[3] as usize;
                if let Some(hop) = mp_next_hop(&value[4..4 + nh_len]) {
                    msg.next_hop = Some(hop);
                }
                mp.push(MpField { afi: u16_at(value, 0), safi: value[2], action: "announce", nlri: &value[5 + nh_len..],
                                  place: "MP_REACH_NLRI" });
            }
            ATTR_MP_UNREACH => {
                if n < 3 {
                    malformed(msg, &name, "truncated", WITHDRAW);
                    continue;
                }
                mp.push(MpField { afi: u16_at(value, 0), safi: value[2], action: "withdraw", nlri: &value[3..],
                                  place: "MP_UNREACH_NLRI" });
            }
            _ => {}
        }
    }
    Ok((codes, mp))
}

fn as_path(b: &[u8], width: usize) -> Result<Vec<u32>, &'static str> {
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        if i + 2 > b.len() {
            return Err("truncated AS_PATH segment");
        }
        let (kind, count) = (b[i], b[i + 1] as usize);
        if !(1..=4).contains(&kind) {
            return Err("undefined AS_PATH segment type");
        }
        if count == 0 {
            return Err("empty AS_PATH segment");
        }
        let end = i + 2 + count * width;
        if end > b.len() {
            return Err("AS_PATH segment past the attribute");
        }
        out.extend(b[i + 2..end].chunks(width).map(|c| c.iter().fold(0u32, |a, x| (a << 8) | *x as u32)));
        i = end;
    }
    Ok(out)
}

fn mp_next_hop(nh: &[u8]) -> Option<String> {
    let nh = if nh.len() == 12 || nh.len() == 24 { &nh[8..] } else { nh };   // VPN: a zero RD first
    match nh.len() {
        16 | 32 => Some(inet::ipv6_plain(&nh[..16])),
        4 => Some(inet::ipv4(nh)),
        _ => None,
    }
}
