//! Addresses as text, byte for byte as glibc's inet_ntop writes them (the
//! Python codec's socket.inet_ntop): IPv4 dotted, IPv6 with the first longest
//! run of two or more zero words compressed, and an IPv4 tail where glibc
//! writes one (::a.b.c.d and ::ffff:a.b.c.d).
use std::fmt::Write;

pub fn ipv4(b: &[u8]) -> String {
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

pub fn ipv6(b: &[u8]) -> String {
    ipv6_with(b, true)
}

/// IPv6 as Python's ipaddress writes it (the BMP codec's): the same
/// compression, but never an IPv4 tail (::ffff:102:304).
pub fn ipv6_plain(b: &[u8]) -> String {
    ipv6_with(b, false)
}

fn ipv6_with(b: &[u8], v4_tail: bool) -> String {
    let mut words = [0u16; 8];
    for i in 0..8 {
        words[i] = u16::from_be_bytes([b[2 * i], b[2 * i + 1]]);
    }
    // the first longest run of zero words, of length 2 or more
    let (mut best_base, mut best_len) = (-1i32, 0i32);
    let (mut cur_base, mut cur_len) = (-1i32, 0i32);
    for i in 0..8 {
        if words[i] == 0 {
            if cur_base == -1 {
                cur_base = i as i32;
                cur_len = 1;
            } else {
                cur_len += 1;
            }
        } else if cur_base != -1 {
            if best_base == -1 || cur_len > best_len {
                best_base = cur_base;
                best_len = cur_len;
            }
            cur_base = -1;
        }
    }
    if cur_base != -1 && (best_base == -1 || cur_len > best_len) {
        best_base = cur_base;
        best_len = cur_len;
    }
    if best_base != -1 && best_len < 2 {
        best_base = -1;
    }
    let mut out = String::with_capacity(40);
    let mut i = 0i32;
    while i < 8 {
        if best_base != -1 && i >= best_base && i < best_base + best_len {
            if i == best_base {
                out.push(':');
            }
            i += 1;
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        if v4_tail && i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff)) {
            out.push_str(&ipv4(&b[12..16]));
            break;
        }
        let _ = write!(out, "{:x}", words[i as usize]);
        i += 1;
    }
    if best_base != -1 && best_base + best_len == 8 {
        out.push(':');
    }
    out
}

pub fn mac(b: &[u8]) -> String {
    let mut out = String::with_capacity(17);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{:02x}", x);
    }
    out
}
