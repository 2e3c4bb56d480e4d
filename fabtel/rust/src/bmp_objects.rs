//! The compiled BMP decoder's Python side: bmp.rs's message built as the
//! very objects connectors/bmp/codec.py's `decode` returns (its dataclasses,
//! handed over once), and its refusal raised as codec.py's BmpError.
use std::collections::HashSet;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PySet, PyString, PyTuple};

use crate::bmp::{self, Info, Negotiated};
use crate::nlri::{Capabilities, Route};

#[pyclass(module = "fabtel._native", frozen)]
pub struct BmpDecoder {
    message: PyObject,
    peer_header: PyObject,
    bgp_message: PyObject,
    route: PyObject,
    capabilities: PyObject,
    error: PyObject,
}

/// What a peer's session negotiated, from the caller's map (PeerHeader.key -> codec.Negotiated).
fn negotiated(py: Python<'_>, peers: &Bound<'_, PyAny>, p: &bmp::PeerHeader) -> PyResult<Option<Negotiated>> {
    let key = PyTuple::new(py, [PyBytes::new(py, &p.distinguisher).into_any(),
                                PyString::new(py, &p.address).into_any()])?;
    let found = peers.call_method1("get", (key,))?;
    if found.is_none() {
        return Ok(None);
    }
    let mut add_path = HashSet::new();
    for f in found.getattr("add_path")?.try_iter()? {
        add_path.insert(f?.extract::<(u16, u8)>()?);
    }
    Ok(Some(Negotiated { add_path, four_byte_as: found.getattr("four_byte_as")?.is_truthy()? }))
}

impl BmpDecoder {
    fn route<'py>(&self, py: Python<'py>, r: Route) -> PyResult<Bound<'py, PyAny>> {
        self.route.bind(py).call1((r.family, r.action, r.prefix, r.rd, r.labels, r.path_id, r.route_type, r.esi,
                                   r.ethernet_tag, r.mac, r.ip, r.length))
    }

    fn capabilities<'py>(&self, py: Python<'py>, c: Option<Capabilities>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(c) = c else { return Ok(None) };
        let add_path = PyDict::new(py);
        for (f, mode) in c.add_path {
            add_path.set_item(f, mode)?;
        }
        Ok(Some(self.capabilities.bind(py).call1((PySet::new(py, c.families)?, c.four_byte_as, add_path))?))
    }

    fn bgp<'py>(&self, py: Python<'py>, m: Option<bmp::BgpMessage>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(m) = m else { return Ok(None) };
        let routes = PyList::empty(py);
        for r in m.routes {
            routes.append(self.route(py, r)?)?;
        }
        let caps = self.capabilities(py, m.open_caps)?;
        Ok(Some(self.bgp_message.bind(py).call1((m.kind, m.size, routes, m.as_path, m.next_hop, m.end_of_rib,
                                                  m.problems, m.treat_as_withdraw, caps, m.encapsulation))?))
    }

    fn message<'py>(&self, py: Python<'py>, m: bmp::Message) -> PyResult<Bound<'py, PyAny>> {
        let peer = match m.peer {
            Some(p) => Some(self.peer_header.bind(py).call1((p.peer_type, p.flags, p.address, p.asn, p.bgp_id, p.ts_ns,
                                                             PyBytes::new(py, &p.distinguisher)))?),
            None => None,
        };
        let info = PyDict::new(py);
        for (name, value) in m.info {
            match value {
                Info::Text(t) => info.set_item(name, t)?,
                Info::Raw(raw) => match std::str::from_utf8(&raw) {
                    Ok(t) => info.set_item(name, t)?,
                    // Python's own replacement, byte for byte as codec.py's
                    Err(_) => info.set_item(name, PyBytes::new(py, &raw).call_method1("decode", ("utf-8", "replace"))?)?,
                },
            }
        }
        let bgp = self.bgp(py, m.bgp)?;
        let (sent, received) = (self.capabilities(py, m.open_sent)?, self.capabilities(py, m.open_received)?);
        self.message.bind(py).call1((m.kind, m.length, peer, bgp, info, m.peer_down_reason, sent, received))
    }
}

#[pymethods]
impl BmpDecoder {
    #[new]
    fn new(message: PyObject, peer_header: PyObject, bgp_message: PyObject, route: PyObject, capabilities: PyObject,
           error: PyObject) -> Self {
        BmpDecoder { message, peer_header, bgp_message, route, capabilities, error }
    }

    /// codec.decode(data, peers), compiled: the same Message, or the same BmpError.
    #[pyo3(signature = (data, peers=None))]
    fn decode<'py>(&self, py: Python<'py>, data: &[u8], peers: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let mut lookup_failed = None;
        let decoded = bmp::decode(data, |p| match peers.filter(|d| !d.is_none()) {
            None => None,
            Some(d) => negotiated(py, d, p).unwrap_or_else(|e| {
                lookup_failed = Some(e);
                None
            }),
        });
        if let Some(e) = lookup_failed {
            return Err(e);
        }
        match decoded {
            Ok(m) => self.message(py, m),
            Err(e) => Err(PyErr::from_value(self.error.bind(py).call1((e.reason, e.detail))?)),
        }
    }
}
