//! BGP routes by address family and an OPEN's capabilities, read as
//! connectors/bmp/nlri.py reads them (the reference: the same routes, the
//! same reasons for a malformed NLRI, with the routes before it kept).
use std::fmt::Write;

use crate::inet;

pub const AFI_IPV4: u16 = 1;
pub const AFI_IPV6: u16 = 2;
const AFI_L2VPN: u16 = 25;
pub const SAFI_UNICAST: u8 = 1;
const SAFI_MULTICAST: u8 = 2;
const SAFI_LABELED: u8 = 4;
const SAFI_EVPN: u8 = 70;
const SAFI_VPN: u8 = 128;
const MAX_LABELS: usize = 8;
const CAP_MP: u8 = 1;
const CAP_4BYTE_AS: u8 = 65;
const CAP_ADD_PATH: u8 = 69;

pub fn family(afi: u16, safi: u8) -> String {
    match (afi, safi) {
        (1, 1) => "ipv4-unicast".into(),
        (2, 1) => "ipv6-unicast".into(),
        (1, 2) => "ipv4-multicast".into(),
        (2, 2) => "ipv6-multicast".into(),
        (1, 4) => "ipv4-labeled-unicast".into(),
        (2, 4) => "ipv6-labeled-unicast".into(),
        (1, 128) => "vpnv4".into(),
        (2, 128) => "vpnv6".into(),
        (25, 70) => "evpn".into(),
        _ => format!("afi{afi}-safi{safi}"),
    }
}

/// One route of an UPDATE (nlri.py's Route, field by field).
#[derive(Clone, Default)]
pub struct Route {
    pub family: String,
    pub action: &'static str,
    pub prefix: Option<String>,
    pub rd: Option<String>,
    pub labels: Vec<u32>,
    pub path_id: Option<u32>,
    pub route_type: Option<u8>,
    pub esi: Option<String>,
    pub ethernet_tag: Option<u32>,
    pub mac: Option<String>,
    pub ip: Option<String>,
    pub length: Option<usize>,
}

/// A malformed NLRI: its stable reason, and the routes decoded before it.
pub struct NlriError {
    pub reason: &'static str,
    pub routes: Vec<Route>,
}

type Step = Result<(Route, usize), &'static str>;

/// Every route of one NLRI field. `vni`: EVPN label fields hold 24-bit VNIs.
pub fn decode(b: &[u8], afi: u16, safi: u8, action: &'static str, add_path: bool, vni: bool)
              -> Result<Vec<Route>, NlriError> {
    let name = family(afi, safi);
    let mut out = Vec::new();
    let (mut i, n) = (0usize, b.len());
    while i < n {
        let mut path_id = None;
        if add_path {
            if i + 4 > n {
                return Err(NlriError { reason: "truncated path identifier", routes: out });
            }
            path_id = Some(u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
            i += 4;
            if i >= n {
                return Err(NlriError { reason: "path identifier without a route", routes: out });
            }
        }
        let step = if (afi, safi) == (AFI_L2VPN, SAFI_EVPN) {
            evpn(b, i, action, vni)
        } else if (afi == AFI_IPV4 || afi == AFI_IPV6) && (safi == SAFI_UNICAST || safi == SAFI_MULTICAST) {
            ip(b, i, afi, &name, action)
        } else if (afi == AFI_IPV4 || afi == AFI_IPV6) && (safi == SAFI_LABELED || safi == SAFI_VPN) {
            labeled(b, i, afi, &name, action, safi == SAFI_VPN)
        } else {
            // kept whole and opaque: never a failure
            return Ok(vec![Route { family: name, action, length: Some(n), ..Default::default() }]);
        };
        match step {
            Ok((mut route, next)) => {
                route.path_id = path_id;
                out.push(route);
                i = next;
            }
            Err(reason) => return Err(NlriError { reason, routes: out }),
        }
    }
    Ok(out)
}

fn address(raw: &[u8]) -> String {
    if raw.len() == 4 { inet::ipv4(raw) } else { inet::ipv6_plain(raw) }
}

fn prefix(b: &[u8], i: usize, bits: usize, afi: u16) -> Result<(String, usize), &'static str> {
    let width = if afi == AFI_IPV4 { 32 } else { 128 };
    let nbytes = (bits + 7) / 8;
    if bits > width || i + nbytes > b.len() {
        return Err("bad prefix length");
    }
    let mut raw = [0u8; 16];
    raw[..nbytes].copy_from_slice(&b[i..i + nbytes]);
    Ok((format!("{}/{}", address(&raw[..width / 8]), bits), i + nbytes))
}

fn ip(b: &[u8], i: usize, afi: u16, name: &str, action: &'static str) -> Step {
    let (p, next) = prefix(b, i + 1, b[i] as usize, afi)?;
    Ok((Route { family: name.into(), action, prefix: Some(p), ..Default::default() }, next))
}

fn labels(b: &[u8], mut i: usize, end: usize, withdraw: bool) -> Result<(Vec<u32>, usize), &'static str> {
    let mut out = Vec::new();
    loop {
        if i + 3 > end || out.len() >= MAX_LABELS {
            return Err("bad label stack");
        }
        let raw = u32::from_be_bytes([0, b[i], b[i + 1], b[i + 2]]);
        i += 3;
        out.push(raw >> 4);
        if raw & 1 == 1 || withdraw {
            return Ok((out, i));
        }
    }
}

/// A route distinguisher (RFC 4364 4.2) as nlri.py's rd_text writes it.
pub fn rd_text(r: &[u8]) -> String {
    let u16_at = |k: usize| u16::from_be_bytes([r[k], r[k + 1]]);
    let u32_at = |k: usize| u32::from_be_bytes([r[k], r[k + 1], r[k + 2], r[k + 3]]);
    match u16_at(0) {
        0 => format!("{}:{}", u16_at(2), u32_at(4)),
        1 => format!("{}:{}", inet::ipv4(&r[2..6]), u16_at(6)),
        2 => format!("{}:{}", u32_at(2), u16_at(6)),
        kind => {
            let mut s = format!("type{kind}:");
            for x in &r[2..8] {
                let _ = write!(s, "{:02x}", x);
            }
            s
        }
    }
}

fn labeled(b: &[u8], i: usize, afi: u16, name: &str, action: &'static str, vpn: bool) -> Step {
    let bits = b[i] as usize;
    let end = i + 1 + (bits + 7) / 8;
    if end > b.len() {
        return Err("bad prefix length");
    }
    let (stack, mut j) = labels(b, i + 1, end, action == "withdraw")?;
    let mut used = (j - i - 1) * 8;
    let mut rd = None;
    if vpn {
        if j + 8 > end {
            return Err("truncated route distinguisher");
        }
        rd = Some(rd_text(&b[j..j + 8]));
        j += 8;
        used += 64;
    }
    if bits < used {
        return Err("bad prefix length");
    }
    let (p, k) = prefix(b, j, bits - used, afi)?;
    if k != end {
        return Err("bad prefix length");
    }
    Ok((Route { family: name.into(), action, prefix: Some(p), rd, labels: stack, ..Default::default() }, end))
}

fn u32_at(v: &[u8], k: usize) -> u32 {
    u32::from_be_bytes([v[k], v[k + 1], v[k + 2], v[k + 3]])
}

fn ip_field(v: &[u8], i: usize, bits: u8) -> Result<(Option<String>, usize), &'static str> {
    if bits == 0 {
        return Ok((None, i));
    }
    let n = bits as usize / 8;
    if (bits != 32 && bits != 128) || i + n > v.len() {
        return Err("bad IP address length");
    }
    Ok((Some(address(&v[i..i + n])), i + n))
}

fn evpn(b: &[u8], i: usize, action: &'static str, vni: bool) -> Step {
    let label = |raw: &[u8]| {
        let x = u32::from_be_bytes([0, raw[0], raw[1], raw[2]]);
        if vni { x } else { x >> 4 }
    };
    if i + 2 > b.len() {
        return Err("truncated EVPN route");
    }
    let (kind, n) = (b[i], b[i + 1] as usize);
    let end = i + 2 + n;
    if end > b.len() {
        return Err("EVPN route past the attribute");
    }
    let v = &b[i + 2..end];
    let mut r = Route { family: "evpn".into(), action, route_type: Some(kind), ..Default::default() };
    match kind {
        1 if n >= 25 => {
            r.rd = Some(rd_text(&v[..8]));
            r.esi = Some(inet::mac(&v[8..18]));
            r.ethernet_tag = Some(u32_at(v, 18));
            r.labels = vec![label(&v[22..25])];
        }
        2 if n >= 33 => {
            r.rd = Some(rd_text(&v[..8]));
            r.esi = Some(inet::mac(&v[8..18]));
            r.ethernet_tag = Some(u32_at(v, 18));
            if v[22] != 48 {
                return Err("bad MAC address length");
            }
            r.mac = Some(inet::mac(&v[23..29]));
            let (addr, j) = ip_field(v, 30, v[29])?;
            r.ip = addr;
            let rest = &v[j..];
            if rest.len() != 3 && rest.len() != 6 {
                return Err("bad EVPN route length");
            }
            r.labels = rest.chunks(3).map(label).collect();
        }
        3 if n >= 13 => {
            r.rd = Some(rd_text(&v[..8]));
            r.ethernet_tag = Some(u32_at(v, 8));
            let (addr, j) = ip_field(v, 13, v[12])?;
            if j != n {
                return Err("bad EVPN route length");
            }
            r.ip = addr;
        }
        4 if n >= 19 => {
            r.rd = Some(rd_text(&v[..8]));
            r.esi = Some(inet::mac(&v[8..18]));
            let (addr, j) = ip_field(v, 19, v[18])?;
            if j != n {
                return Err("bad EVPN route length");
            }
            r.ip = addr;
        }
        5 if n == 34 || n == 58 => {
            let width = if n == 34 { 4 } else { 16 };
            r.rd = Some(rd_text(&v[..8]));
            r.esi = Some(inet::mac(&v[8..18]));
            r.ethernet_tag = Some(u32_at(v, 18));
            let bits = v[22] as usize;
            if bits > width * 8 {
                return Err("bad prefix length");
            }
            let mut net = [0u8; 16];
            net[..width].copy_from_slice(&v[23..23 + width]);
            for (k, x) in net[..width].iter_mut().enumerate() {     // the network address: host bits cleared
                let keep = bits.saturating_sub(k * 8).min(8);
                *x &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
            }
            r.prefix = Some(format!("{}/{}", address(&net[..width]), bits));
            let gw = &v[23 + width..23 + 2 * width];
            r.ip = if gw.iter().all(|x| *x == 0) { None } else { Some(address(gw)) };
            r.labels = vec![label(&v[23 + 2 * width..26 + 2 * width])];
        }
        1..=5 => return Err("bad EVPN route length"),
        _ => r.length = Some(n),                // a route type this decoder does not know: opaque
    }
    Ok((r, end))
}

/// What one OPEN advertises (nlri.py's Capabilities).
#[derive(Default)]
pub struct Capabilities {
    pub families: Vec<(u16, u8)>,
    pub four_byte_as: bool,
    pub add_path: Vec<((u16, u8), u8)>,      // in order; a later entry for a family replaces an earlier one
}

/// The capabilities of an OPEN message's body (after the 19-byte header).
pub fn open_capabilities(body: &[u8]) -> Capabilities {
    let mut caps = Capabilities::default();
    if body.len() < 10 {
        return caps;
    }
    let mut i = 10;
    let end = (10 + body[9] as usize).min(body.len());
    while i + 2 <= end {
        let (ptype, plen) = (body[i], body[i + 1] as usize);
        let value = &body[(i + 2).min(body.len())..(i + 2 + plen).min(body.len())];
        i += 2 + plen;
        if ptype != 2 {
            continue;
        }
        let mut j = 0;
        while j + 2 <= value.len() {
            let (code, clen) = (value[j], value[j + 1] as usize);
            let cap = &value[j + 2..(j + 2 + clen).min(value.len())];
            j += 2 + clen;
            if code == CAP_MP && cap.len() == 4 {
                let f = (u16::from_be_bytes([cap[0], cap[1]]), cap[3]);
                if !caps.families.contains(&f) {
                    caps.families.push(f);
                }
            } else if code == CAP_4BYTE_AS {
                caps.four_byte_as = true;
            } else if code == CAP_ADD_PATH {
                let mut k = 0;
                while k + 3 < cap.len() {
                    caps.add_path.push(((u16::from_be_bytes([cap[k], cap[k + 1]]), cap[k + 2]), cap[k + 3]));
                    k += 4;
                }
            }
        }
    }
    caps
}
