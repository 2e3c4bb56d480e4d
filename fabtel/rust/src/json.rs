//! A decoded sFlow datagram as `fabtel sflow decode` prints it: one JSON
//! object per sample, byte for byte what connectors/sflow/decode_cmd.py's
//! sample_json gives to orjson (the Python path is the reference; the
//! differential tests hold the two equal). A LAG record's LACP fields are
//! left to the caller: their bit order is learnt per agent (fabtel.lacp).
use std::fmt::Write;

use crate::sflow::{Datagram, Sample};

const PORT_FORMATS: [&str; 4] = ["ifIndex", "dropCode", "multiple", "format==3"];   // sflowtool's words

const IF_COUNTERS: [&str; 19] = [
    "ifIndex", "ifType", "ifSpeed", "ifDirection", "ifStatus", "ifInOctets", "ifInUcastPkts", "ifInMulticastPkts",
    "ifInBroadcastPkts", "ifInDiscards", "ifInErrors", "ifInUnknownProtos", "ifOutOctets", "ifOutUcastPkts",
    "ifOutMulticastPkts", "ifOutBroadcastPkts", "ifOutDiscards", "ifOutErrors", "ifPromiscuousMode",
];
const ETHERNET: [&str; 13] = [
    "dot3StatsAlignmentErrors", "dot3StatsFCSErrors", "dot3StatsSingleCollisionFrames",
    "dot3StatsMultipleCollisionFrames", "dot3StatsSQETestErrors", "dot3StatsDeferredTransmissions",
    "dot3StatsLateCollisions", "dot3StatsExcessiveCollisions", "dot3StatsInternalMacTransmitErrors",
    "dot3StatsCarrierSenseErrors", "dot3StatsFrameTooLongs", "dot3StatsInternalMacReceiveErrors",
    "dot3StatsSymbolErrors",
];
const LAG_COUNTS: [&str; 8] = [
    "LACPDUsRx", "markerPDUsRx", "markerResponsePDUsRx", "unknownRx", "illegalRx", "LACPDUsTx", "markerPDUsTx",
    "markerResponsePDUsTx",
];

/// What one datagram prints: JSON text, and where a LAG record's LACP fields
/// go, the agent and the four raw state octets they are made from.
pub enum Part {
    Text(String),
    Lacp(String, [u32; 4]),
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An integer as JSON writes it (std's formatting, without its machinery per call).
fn decimal(out: &mut String, v: i128) {
    if v < 0 {
        out.push('-');
    }
    let mut n = v.unsigned_abs();
    let mut digits = [0u8; 40];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits only
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or("0"));
}

/// An object's members, written in order, with their commas.
struct Members<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Members<'a> {
    fn open(out: &'a mut String) -> Self {
        out.push('{');
        Members { out, first: true }
    }
    /// `k` is one of this module's field names: nothing in it to escape.
    fn key(&mut self, k: &str) -> &mut String {
        self.out.push_str(if self.first { "\"" } else { ",\"" });
        self.first = false;
        self.out.push_str(k);
        self.out.push_str("\":");
        self.out
    }
    fn int<T: Into<i128>>(&mut self, k: &str, v: T) {
        let o = self.key(k);
        decimal(o, v.into());
    }
    fn opt_int(&mut self, k: &str, v: Option<i64>) {
        if let Some(v) = v {
            self.int(k, v);
        }
    }
    fn str(&mut self, k: &str, v: &str) {
        let o = self.key(k);
        string(o, v);
    }
    fn opt_str(&mut self, k: &str, v: &Option<String>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }
    fn ints(&mut self, k: &str, vs: &[u32]) {
        let o = self.key(k);
        o.push('[');
        for (i, v) in vs.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            decimal(o, *v as i128);
        }
        o.push(']');
    }
    fn close(self) {
        self.out.push('}');
    }
}

/// sflowtool's word for a port's format; an expanded sample's 32-bit format
/// may be any number ("format==N", as sflowtool names 3).
fn port_format(out: &mut String, fmt: u32) {
    match PORT_FORMATS.get(fmt as usize) {
        Some(word) => string(out, word),
        None => {
            out.push_str("\"format==");
            decimal(out, fmt as i128);
            out.push('"');
        }
    }
}

fn sample(parts: &mut Vec<Part>, out: &mut String, dg: &Datagram, s: &Sample) {
    let mut m = Members::open(out);
    m.str("agent", &dg.agent);
    m.int("sub_agent_id", dg.sub_agent_id);
    m.int("datagram_sequence", dg.sequence);
    m.int("uptime_ms", dg.uptime_ms);
    m.str("sample_type", if s.flow { "flow" } else { "counters" });
    m.int("sample_sequence", s.sequence);
    m.int("source_id_type", s.source_type);
    m.int("source_id_index", s.source_index);
    if s.flow {
        m.int("sampling_rate", s.rate);
        m.int("sample_pool", s.pool);
        m.int("drops", s.drops);
        m.int("input", s.input);
        port_format(m.key("input_format"), s.input_format);
        m.int("output", s.output);
        port_format(m.key("output_format"), s.output_format);
    }
    let o = m.key("records");
    let mut r = Members::open(o);
    if let Some(v) = &s.if_counters {
        let mut c = Members::open(r.key("if_counters"));
        for (k, x) in IF_COUNTERS.iter().zip(v) {
            c.int(k, *x);
        }
        c.close();
    }
    if let Some(v) = &s.ethernet {
        let mut c = Members::open(r.key("ethernet_counters"));
        for (k, x) in ETHERNET.iter().zip(v) {
            c.int(k, *x);
        }
        c.close();
    }
    if let Some(l) = &s.lag {
        let mut c = Members::open(r.key("lag_port_stats"));
        c.str("actorSystemID", &l.actor);
        c.str("partnerSystemID", &l.partner);
        c.int("attachedAggID", l.agg);
        c.int("portStateRaw", l.state);
        let wire = [l.state >> 24, (l.state >> 16) & 0xFF, (l.state >> 8) & 0xFF, l.state & 0xFF];
        for (k, x) in ["actorAdminPortState", "actorOperPortState", "partnerAdminPortState", "partnerOperPortState"]
            .iter()
            .zip(wire)
        {
            c.int(k, x);
        }
        for (k, x) in LAG_COUNTS.iter().zip(l.counts) {
            c.int(k, x);
        }
        // the LACP fields go here: the text so far is one part, the rest another
        parts.push(Part::Text(std::mem::take(c.out)));
        parts.push(Part::Lacp(dg.agent.clone(), wire));
        c.close();
    }
    if let Some((pct, mem)) = &s.processor {
        let mut c = Members::open(r.key("processor"));
        for (k, x) in ["cpu_percentage_5s", "cpu_percentage_1m", "cpu_percentage_5m"].iter().zip(pct) {
            c.int(k, *x);
        }
        c.int("total_memory", mem[0]);
        c.int("free_memory", mem[1]);
        c.close();
    }
    if let Some(h) = &s.header {
        let mut c = Members::open(r.key("sampled_header"));
        c.int("headerProtocol", h.protocol);
        c.int("sampledPacketSize", h.frame_len);
        c.int("strippedBytes", h.stripped);
        c.int("headerLen", h.header_len);
        let o = c.key("headerBytes");
        o.push('"');
        const HEX: &[u8; 16] = b"0123456789abcdef";
        o.extend(h.header.iter().flat_map(|b| [HEX[(b >> 4) as usize] as char, HEX[(b & 15) as usize] as char]));
        o.push('"');
        c.opt_str("srcMAC", &h.src_mac);
        c.opt_str("dstMAC", &h.dst_mac);
        c.opt_int("vlan", h.vlan);
        c.opt_int("etherType", h.ether_type);
        c.opt_str("srcIP", &h.src_ip);
        c.opt_str("dstIP", &h.dst_ip);
        c.opt_int("IPProtocol", h.ip_protocol);
        c.opt_int("IPTOS", h.ip_tos);
        c.opt_int("IPTTL", h.ip_ttl);
        c.opt_int("srcPort", h.src_port);
        c.opt_int("dstPort", h.dst_port);
        c.opt_int("TCPFlags", h.tcp_flags);
        c.opt_int("vni", h.vni);
        c.opt_str("innerSrcIP", &h.inner_src_ip);
        c.opt_str("innerDstIP", &h.inner_dst_ip);
        c.opt_int("innerIPProtocol", h.inner_ip_protocol);
        c.opt_int("innerSrcPort", h.inner_src_port);
        c.opt_int("innerDstPort", h.inner_dst_port);
        c.close();
    }
    if let Some(v) = &s.switch {
        let mut c = Members::open(r.key("extended_switch"));
        for (k, x) in ["in_vlan", "in_priority", "out_vlan", "out_priority"].iter().zip(v) {
            c.int(k, *x);
        }
        c.close();
    }
    if let Some((nh, src, dst)) = &s.router {
        let mut c = Members::open(r.key("extended_router"));
        c.str("nextHop", nh);
        c.int("srcSubnetMask", *src);
        c.int("dstSubnetMask", *dst);
        c.close();
    }
    if let Some(g) = &s.gateway {
        let mut c = Members::open(r.key("extended_gateway"));
        c.str("bgp_nexthop", &g.nexthop);
        c.int("my_as", g.my_as);
        c.int("src_as", g.src_as);
        c.int("src_peer_as", g.src_peer_as);
        let o = c.key("dst_as_path");
        o.push('[');
        for (i, (t, asns)) in g.segments.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let mut seg = Members::open(o);
            seg.int("type", *t);
            seg.ints("asns", asns);
            seg.close();
        }
        o.push(']');
        c.int("dst_as", g.dst_as);
        c.int("dst_peer_as", g.dst_peer_as);
        c.ints("BGP_communities", &g.communities);
        c.int("BGP_localpref", g.localpref);
        c.close();
    }
    r.close();
    out.push_str("}\n");
}

/// Every sample of `dg`, one JSON line each.
pub fn datagram(dg: &Datagram) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut out = String::with_capacity(1024 * dg.samples.len().max(1));
    for s in &dg.samples {
        sample(&mut parts, &mut out, dg, s);
    }
    if !out.is_empty() {
        parts.push(Part::Text(out));
    }
    parts
}
