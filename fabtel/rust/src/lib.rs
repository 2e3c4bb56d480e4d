//! fabtel's compiled hot paths (fabtel.native is the Python side): an sFlow
//! datagram to its samples' Avro values and the flow windows' per-sample
//! work, in one call per datagram; a gNMI SubscribeResponse to its updates'
//! raw paths and values; a BMP message to the BMP codec's own objects
//! (bmp.rs, nlri.rs, bmp_objects.rs). The Python code they mirror is the
//! reference: FABTEL_NATIVE=off runs it instead, and the differential tests
//! hold the two equal.
use std::collections::HashMap;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

mod avro;
mod bmp;
mod bmp_objects;
mod flows;
mod gnmi;
mod inet;
mod json;
mod nlri;
mod sflow;

create_exception!(_native, DecodeError, PyException,
                  "input a codec refuses: (reason, offset, sFlow format or protobuf message, detail)");

fn decode_error(e: sflow::DecodeError) -> PyErr {
    DecodeError::new_err((e.reason, e.offset, e.data_format, e.detail))
}

/// One collector's decoder: the Avro header of its SflowSample values, the
/// agents it knows (address -> device), and its flow windows.
#[pyclass(module = "fabtel._native")]
struct SflowDecoder {
    header: Vec<u8>,
    devices: HashMap<String, String>,
    aggregate: bool,
    raw_flows: bool,
    flows: flows::Aggregator,
}

fn opt<'py>(py: Python<'py>, v: &Option<i64>) -> PyObject {
    match v {
        Some(x) => x.into_pyobject(py).unwrap().into_any().unbind(),
        None => py.None(),
    }
}

fn flow_key(h: &sflow::SampledHeader) -> Option<flows::FlowKey> {
    if h.vni.is_some() && h.inner_src_ip.is_some() {
        Some(flows::FlowKey { src: h.inner_src_ip.as_deref().unwrap().into(),
                              dst: h.inner_dst_ip.as_deref().unwrap_or_default().into(),
                              proto: h.inner_ip_protocol, sport: h.inner_src_port.unwrap_or(0),
                              dport: h.inner_dst_port.unwrap_or(0), vlan: h.vlan, vni: h.vni })
    } else if let Some(src) = &h.src_ip {
        Some(flows::FlowKey { src: src.as_str().into(), dst: h.dst_ip.as_deref().unwrap_or_default().into(),
                              proto: h.ip_protocol,
                              sport: h.src_port.unwrap_or(0), dport: h.dst_port.unwrap_or(0), vlan: h.vlan,
                              vni: None })
    } else {
        None
    }
}

#[pymethods]
impl SflowDecoder {
    #[new]
    #[pyo3(signature = (header, devices, window_ms, table_size, aggregate=true, raw_flows=true))]
    fn new(header: Vec<u8>, devices: HashMap<String, String>, window_ms: i64, table_size: usize, aggregate: bool,
           raw_flows: bool) -> Self {
        SflowDecoder { header, devices, aggregate, raw_flows, flows: flows::Aggregator::new(window_ms, table_size) }
    }

    /// One datagram: (agent, device or None, sub agent, sequence, uptime ms, skipped, leftover bytes,
    /// the values to send, counter samples, flow samples, [(input, drop code)] of discarded packets).
    /// A bad datagram raises DecodeError.
    fn handle<'py>(&mut self, py: Python<'py>, data: &[u8], receive_ts_ns: i64) -> PyResult<Bound<'py, PyTuple>> {
        let dg = sflow::decode(data).map_err(decode_error)?;
        let device = self.devices.get(&dg.agent).cloned();
        let name = device.as_deref().unwrap_or(&dg.agent).to_string();
        let values = PyList::empty(py);
        let discards = PyList::empty(py);
        let (mut counters, mut nflows) = (0u64, 0u64);
        for s in &dg.samples {
            if s.flow {
                nflows += 1;
                if s.output_format == 1 {
                    discards.append((s.input, s.output))?;
                }
                if self.aggregate {
                    if let Some(h) = &s.header {
                        let source = if s.source_type == 0 { s.source_index } else { s.input };
                        self.flows.add(&name, source, s.rate, s.pool, s.drops, s.output_format, s.output, h.frame_len,
                                       flow_key(h), receive_ts_ns);
                    }
                }
                if !self.raw_flows {
                    continue;
                }
            } else {
                counters += 1;
            }
            let v = sflow::encode(&dg, s, device.as_deref(), receive_ts_ns, &self.header);
            values.append(PyBytes::new(py, &v))?;
        }
        let skipped = PyList::new(py, &dg.skipped)?;
        PyTuple::new(py, [
            dg.agent.into_pyobject(py)?.into_any(),
            match &device { Some(d) => d.into_pyobject(py)?.into_any(), None => py.None().into_bound(py) },
            dg.sub_agent_id.into_pyobject(py)?.into_any(),
            dg.sequence.into_pyobject(py)?.into_any(),
            dg.uptime_ms.into_pyobject(py)?.into_any(),
            skipped.into_any(),
            dg.leftover.into_pyobject(py)?.into_any(),
            values.into_any(),
            counters.into_pyobject(py)?.into_any(),
            nflows.into_pyobject(py)?.into_any(),
            discards.into_any(),
        ])
    }

    /// The windows that ended by now_ns (every one with `every`), each as
    /// (start, (device, ifIndex, direction, code), samples, packets, bytes, rate, pool, drops,
    ///  outputs [(ifIndex or text, samples, bytes)], top [(key, samples, bytes, inherited samples,
    ///  inherited bytes)] for `top_n`, (min samples, min bytes)).
    #[pyo3(signature = (now_ns, top_n, every=false))]
    fn take_windows<'py>(&mut self, py: Python<'py>, now_ns: i64, top_n: usize, every: bool)
                         -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for (start, (device, ifindex, direction, code), w) in self.flows.take(now_ns, every) {
            let dir = match direction { flows::IN => "in", flows::OUT => "out", _ => "discard" };
            let outputs = PyList::empty(py);
            for (place, (n, b)) in w.outputs.iter() {
                let p = match place {
                    flows::Where::IfIndex(i) => i.into_pyobject(py)?.into_any(),
                    flows::Where::Text(t) => t.into_pyobject(py)?.into_any(),
                };
                outputs.append((p, *n, *b))?;
            }
            let top = PyList::empty(py);
            for (k, e) in w.table.top(top_n) {
                let key = PyTuple::new(py, [
                    (&*k.src).into_pyobject(py)?.into_any(), (&*k.dst).into_pyobject(py)?.into_any(),
                    opt(py, &k.proto).into_bound(py), k.sport.into_pyobject(py)?.into_any(),
                    k.dport.into_pyobject(py)?.into_any(), opt(py, &k.vlan).into_bound(py),
                    opt(py, &k.vni).into_bound(py)])?;
                top.append((key, e.samples, e.bytes, e.inherited_samples, e.inherited_bytes))?;
            }
            let (mn, mb) = w.table.min_count();
            out.append(PyTuple::new(py, [
                start.into_pyobject(py)?.into_any(),
                (&*device, ifindex, dir, code).into_pyobject(py)?.into_any(),
                w.samples.into_pyobject(py)?.into_any(), w.packets.into_pyobject(py)?.into_any(),
                w.bytes.into_pyobject(py)?.into_any(), w.rate.into_pyobject(py)?.into_any(),
                w.pool.into_pyobject(py)?.into_any(), w.drops.into_pyobject(py)?.into_any(),
                outputs.into_any(), top.into_any(), (mn, mb).into_pyobject(py)?.into_any(),
            ])?)?;
        }
        Ok(out)
    }

    /// Windows still open.
    fn open_windows(&self) -> usize {
        self.flows.windows.values().map(|w| w.len()).sum()
    }
}

const DATAGRAM_MAX: usize = 65536;

/// Up to `max` datagrams waiting on a UDP socket, in one recvmmsg(2) call
/// without blocking: one system call and one crossing into Python for a
/// burst, where socket.recv makes one per datagram. The buffers (a whole
/// 64 KiB datagram each) are allocated once.
#[pyclass]
struct BatchReceiver {
    bufs: Vec<u8>,
    max: usize,
}

#[pymethods]
impl BatchReceiver {
    #[new]
    fn new(max: usize) -> Self {
        let max = max.clamp(1, 256);
        BatchReceiver { bufs: vec![0u8; DATAGRAM_MAX * max], max }
    }

    /// The datagrams waiting on socket `fd` (an empty list when none waits).
    fn recv(&mut self, py: Python<'_>, fd: i32) -> PyResult<Vec<Py<PyBytes>>> {
        let mut iovs: Vec<libc::iovec> = self.bufs.chunks_mut(DATAGRAM_MAX)
            .map(|b| libc::iovec { iov_base: b.as_mut_ptr() as *mut libc::c_void, iov_len: DATAGRAM_MAX }).collect();
        let mut msgs: Vec<libc::mmsghdr> = iovs.iter_mut().map(|iov| {
            // SAFETY: an all-zero mmsghdr is valid (no name, no control data); its iovec outlives the call
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = iov as *mut libc::iovec;
            h.msg_hdr.msg_iovlen = 1;
            h
        }).collect();
        // SAFETY: msgs holds `max` headers, each pointing at its own DATAGRAM_MAX bytes of self.bufs
        let n = unsafe {
            libc::recvmmsg(fd, msgs.as_mut_ptr(), self.max as libc::c_uint, libc::MSG_DONTWAIT, std::ptr::null_mut())
        };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::WouldBlock {
                return Ok(Vec::new());
            }
            return Err(err.into());
        }
        Ok((0..n as usize)
            .map(|i| PyBytes::new(py, &self.bufs[i * DATAGRAM_MAX..i * DATAGRAM_MAX + msgs[i].msg_len as usize]).unbind())
            .collect())
    }
}

/// One datagram as `fabtel sflow decode` prints it: ([JSON lines as bytes, and
/// where a LAG record's LACP fields go, (agent, its four raw state octets)],
/// bytes after the stated samples). A bad datagram raises DecodeError.
#[pyfunction]
fn sflow_json<'py>(py: Python<'py>, data: &[u8]) -> PyResult<(Bound<'py, PyList>, usize)> {
    let dg = sflow::decode(data).map_err(decode_error)?;
    let parts = PyList::empty(py);
    for part in json::datagram(&dg) {
        match part {
            json::Part::Text(t) => parts.append(PyBytes::new(py, t.as_bytes()))?,
            json::Part::Lacp(agent, w) => parts.append((agent, (w[0], w[1], w[2], w[3])))?,
        }
    }
    Ok((parts, dg.leftover))
}

/// A JSON scalar that json.loads reads one way only (a string without
/// escapes or control characters, an integer of up to 18 digits, true, false,
/// null), else None: the caller leaves the rest to json.loads.
fn plain_json<'py>(py: Python<'py>, text: &[u8]) -> Option<Bound<'py, PyAny>> {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = text.iter().position(|b| !ws(b))?;
    let end = text.iter().rposition(|b| !ws(b))? + 1;
    let t = &text[start..end];
    match t {
        b"true" => return Some(true.into_pyobject(py).ok()?.to_owned().into_any()),
        b"false" => return Some(false.into_pyobject(py).ok()?.to_owned().into_any()),
        b"null" => return Some(py.None().into_bound(py)),
        _ => {}
    }
    if t.len() >= 2 && t[0] == b'"' && t[t.len() - 1] == b'"' {
        let inner = &t[1..t.len() - 1];
        if inner.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
            return None;
        }
        return std::str::from_utf8(inner).ok().map(|s| s.into_pyobject(py).unwrap().into_any());
    }
    let digits = t.strip_prefix(b"-").unwrap_or(t);
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit)
        || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    let n: i64 = std::str::from_utf8(t).ok()?.parse().ok()?;
    Some(n.into_pyobject(py).ok()?.into_any())
}

/// One gNMI SubscribeResponse's bytes, without a message object per update:
/// ("update", timestamp, prefix bytes, [(path bytes, value)], [delete path bytes]),
/// ("sync", flag) or ("other",). A value is what normalize.value_of gives;
/// `runtime_value(typed value bytes)` reads what this leaves to the protobuf
/// runtime (decimals, leaf lists, Any, JSON beyond a plain scalar).
/// A response the protobuf runtime would refuse raises DecodeError.
#[pyfunction]
fn gnmi_response<'py>(py: Python<'py>, data: &[u8], runtime_value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
    let resp = gnmi::decode(data).map_err(|e| DecodeError::new_err((e.reason, e.offset, e.message, "")))?;
    match resp {
        gnmi::Response::Sync(flag) => PyTuple::new(py, ["sync".into_pyobject(py)?.into_any(),
                                                        flag.into_pyobject(py)?.to_owned().into_any()]),
        gnmi::Response::Other => PyTuple::new(py, ["other"]),
        gnmi::Response::Update(n) => {
            let updates = PyList::empty(py);
            for u in &n.updates {
                let value = match &u.value {
                    gnmi::Value::Absent => py.None().into_bound(py),
                    gnmi::Value::Str(s) => s.into_pyobject(py)?.into_any(),
                    gnmi::Value::Int(i) => i.into_pyobject(py)?.into_any(),
                    gnmi::Value::Uint(i) => i.into_pyobject(py)?.into_any(),
                    gnmi::Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
                    gnmi::Value::Bytes(b) => PyBytes::new(py, b).into_any(),
                    gnmi::Value::Float(f) => f.into_pyobject(py)?.into_any(),
                    gnmi::Value::Json(t) => match plain_json(py, t) {
                        Some(v) => v,
                        None => runtime_value.call1((PyBytes::new(py, &u.typed),))?,
                    },
                    gnmi::Value::Other => runtime_value.call1((PyBytes::new(py, &u.typed),))?,
                };
                updates.append((PyBytes::new(py, &u.path), value))?;
            }
            let deletes = PyList::new(py, n.deletes.iter().map(|d| PyBytes::new(py, d)))?;
            PyTuple::new(py, ["update".into_pyobject(py)?.into_any(), n.timestamp.into_pyobject(py)?.into_any(),
                              PyBytes::new(py, &n.prefix).into_any(), updates.into_any(), deletes.into_any()])
        }
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BatchReceiver>()?;
    m.add("VERSION", "0.1.0")?;
    m.add("DecodeError", m.py().get_type::<DecodeError>())?;
    m.add_class::<SflowDecoder>()?;
    m.add_class::<bmp_objects::BmpDecoder>()?;
    m.add_function(wrap_pyfunction!(sflow_json, m)?)?;
    m.add_function(wrap_pyfunction!(gnmi_response, m)?)?;
    Ok(())
}
