//! The flow windows' per-sample work, as connectors/sflow/flows.py does it:
//! per (device, ifIndex, direction, drop code) and window, samples, packets
//! and bytes scaled by the sampling rate, sample_pool and drops, the outputs,
//! and a space-saving table of the largest flows. The same arithmetic in the
//! same order (floats where Python has floats, exact integers where it has
//! ints), the same eviction victim on ties and the same order of the top flows,
//! so that the records built from a window are equal to the Python path's.
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// FxHash (rustc's): a multiply-rotate hash, several times cheaper than SipHash
/// on these short keys. Its weakness, collisions an attacker could aim at, is
/// bounded here: every table it indexes holds at most a window's table size.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

pub const IN: u8 = 0;
pub const OUT: u8 = 1;
pub const DISCARD: u8 = 2;

/// (src ip, dst ip, protocol, src port, dst port, vlan, vni)
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct FlowKey {
    pub src: Arc<str>,       // shared, not copied: a key is cloned into the table and its heap
    pub dst: Arc<str>,
    pub proto: Option<i64>,
    pub sport: i64,
    pub dport: i64,
    pub vlan: Option<i64>,
    pub vni: Option<i64>,
}

impl FlowKey {
    /// The heap's tie-break, as Python's flows.py orders keys (an absent vlan or vni as -1).
    fn order(&self) -> (&str, &str, i64, i64, i64, i64, i64) {
        (&self.src, &self.dst, self.proto.unwrap_or(-1), self.sport, self.dport, self.vlan.unwrap_or(-1),
         self.vni.unwrap_or(-1))
    }
}

#[derive(Clone)]
pub struct Entry {
    pub samples: u64,
    pub bytes: u128,
    pub inherited_samples: u64,
    pub inherited_bytes: u128,
}

/// A dict with Python's order: insertion order, a removed key gone, a new one at the end.
pub struct Ordered<K: std::hash::Hash + Eq + Clone, V> {
    slots: Vec<Option<(K, V)>>,
    index: FxMap<K, usize>,
}

impl<K: std::hash::Hash + Eq + Clone, V> Ordered<K, V> {
    pub fn new() -> Self {
        Ordered { slots: Vec::new(), index: FxMap::default() }
    }
    pub fn len(&self) -> usize {
        self.index.len()
    }
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let i = *self.index.get(k)?;
        self.slots[i].as_mut().map(|(_, v)| v)
    }
    pub fn get(&self, k: &K) -> Option<&V> {
        let i = *self.index.get(k)?;
        self.slots[i].as_ref().map(|(_, v)| v)
    }
    pub fn insert(&mut self, k: K, v: V) {
        self.index.insert(k.clone(), self.slots.len());
        self.slots.push(Some((k, v)));
    }
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let i = self.index.remove(k)?;
        let out = self.slots[i].take().map(|(_, v)| v);
        if self.slots.len() > 64 && self.index.len() * 2 < self.slots.len() {
            self.compact();
        }
        out
    }
    fn compact(&mut self) {
        let slots: Vec<Option<(K, V)>> = self.slots.drain(..).filter(|s| s.is_some()).collect();
        self.index = slots.iter().enumerate().map(|(i, s)| (s.as_ref().unwrap().0.clone(), i)).collect();
        self.slots = slots;
    }
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots.iter().filter_map(|s| s.as_ref().map(|(k, v)| (k, v)))
    }
}

pub struct SpaceSaving {
    capacity: usize,
    pub entries: Ordered<FlowKey, Entry>,
    heap: Vec<(u64, FlowKey)>,   // a min-heap on (samples, key order), lazily updated, as Python's heapq
    pub evicted: bool,
}

fn less(a: &(u64, FlowKey), b: &(u64, FlowKey)) -> bool {
    (a.0, a.1.order()) < (b.0, b.1.order())
}

impl SpaceSaving {
    pub fn new(capacity: usize) -> Self {
        SpaceSaving { capacity, entries: Ordered::new(), heap: Vec::new(), evicted: false }
    }

    // heapq's push, pop and replace, the same sift steps (so equal items land where Python's do)
    fn siftdown(&mut self, start: usize, mut pos: usize) {
        let item = self.heap[pos].clone();
        while pos > start {
            let parent = (pos - 1) >> 1;
            if less(&item, &self.heap[parent]) {
                self.heap[pos] = self.heap[parent].clone();
                pos = parent;
                continue;
            }
            break;
        }
        self.heap[pos] = item;
    }
    fn siftup(&mut self, mut pos: usize) {
        let end = self.heap.len();
        let start = pos;
        let item = self.heap[pos].clone();
        let mut child = 2 * pos + 1;
        while child < end {
            let right = child + 1;
            if right < end && !less(&self.heap[child], &self.heap[right]) {
                child = right;
            }
            self.heap[pos] = self.heap[child].clone();
            pos = child;
            child = 2 * pos + 1;
        }
        self.heap[pos] = item;
        self.siftdown(start, pos);
    }
    fn push(&mut self, item: (u64, FlowKey)) {
        self.heap.push(item);
        let n = self.heap.len() - 1;
        self.siftdown(0, n);
    }
    fn pop(&mut self) -> (u64, FlowKey) {
        let last = self.heap.pop().unwrap();
        if self.heap.is_empty() {
            return last;
        }
        let top = std::mem::replace(&mut self.heap[0], last);
        self.siftup(0);
        top
    }
    fn replace(&mut self, item: (u64, FlowKey)) {
        self.heap[0] = item;
        self.siftup(0);
    }

    pub fn add(&mut self, key: FlowKey, nbytes: u128) {
        if let Some(e) = self.entries.get_mut(&key) {
            e.samples += 1;
            e.bytes += nbytes;
            return;
        }
        if self.entries.len() < self.capacity {
            self.entries.insert(key.clone(), Entry { samples: 1, bytes: nbytes, inherited_samples: 0,
                                                     inherited_bytes: 0 });
            self.push((1, key));
            return;
        }
        let victim = self.smallest();
        let v = self.entries.remove(&victim).unwrap();
        self.entries.insert(key.clone(), Entry { samples: v.samples + 1, bytes: v.bytes + nbytes,
                                                 inherited_samples: v.samples, inherited_bytes: v.bytes });
        self.push((v.samples + 1, key));
        self.evicted = true;
    }

    fn smallest(&mut self) -> FlowKey {
        loop {
            let (count, key) = self.heap[0].clone();
            match self.entries.get(&key).map(|e| e.samples) {
                None => {
                    self.pop();
                }
                Some(n) if n != count => self.replace((n, key)),
                Some(_) => {
                    self.pop();
                    return key;
                }
            }
        }
    }

    /// (samples, bytes) of the smallest counter once flows were evicted (the first such in order), else (0, 0).
    pub fn min_count(&self) -> (u64, u128) {
        if !self.evicted || self.entries.len() == 0 {
            return (0, 0);
        }
        let mut best: Option<&Entry> = None;
        for (_, e) in self.entries.iter() {
            if best.is_none_or(|b| e.samples < b.samples) {
                best = Some(e);
            }
        }
        best.map_or((0, 0), |e| (e.samples, e.bytes))
    }

    /// The n largest flows by bytes, ties in insertion order (heapq.nlargest is stable).
    pub fn top(&self, n: usize) -> Vec<(FlowKey, Entry)> {
        let mut all: Vec<(FlowKey, Entry)> = self.entries.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes));
        all.truncate(n);
        all
    }
}

/// Where a sample went: an output ifIndex, or what it is instead.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Where {
    IfIndex(u32),
    Text(String),
}

pub struct Window {
    pub samples: u64,
    pub packets: f64,
    pub bytes: f64,
    pub rate: u64,
    pub pool: u64,
    pub drops: u64,
    pub table: SpaceSaving,
    pub outputs: Ordered<Where, (u64, f64)>,
}

impl Window {
    fn new(capacity: usize) -> Self {
        Window { samples: 0, packets: 0.0, bytes: 0.0, rate: 0, pool: 0, drops: 0, table: SpaceSaving::new(capacity),
                 outputs: Ordered::new() }
    }
}

/// (device, ifIndex, direction, drop code)
pub type WindowKey = (Arc<str>, u32, u8, Option<u32>);

pub struct Aggregator {
    pub window_ns: i64,
    pub table_size: usize,
    pub windows: BTreeMap<i64, Ordered<WindowKey, Window>>,
    last_pool: FxMap<(Arc<str>, u32), (u32, u32)>,
}

pub fn drop_reason(code: u32) -> String {
    let known = match code {
        0 => "net unreachable", 1 => "host unreachable", 2 => "protocol unreachable", 3 => "port unreachable",
        4 => "fragmentation needed", 5 => "source route failed", 6 => "destination network unknown",
        7 => "destination host unknown", 8 => "source host isolated", 9 => "destination network prohibited",
        10 => "destination host prohibited", 11 => "network unreachable for TOS", 12 => "host unreachable for TOS",
        13 => "communication prohibited", 14 => "host precedence violation", 15 => "precedence cutoff",
        256 => "unknown", 257 => "ttl exceeded", 258 => "ACL", 259 => "no buffer space", 260 => "RED",
        261 => "traffic shaping/rate limiting", 262 => "packet too big",
        _ => return format!("code {}", code),
    };
    known.to_string()
}

impl Aggregator {
    pub fn new(window_ms: i64, table_size: usize) -> Self {
        Aggregator { window_ns: window_ms * 1_000_000, table_size, windows: BTreeMap::new(), last_pool: FxMap::default() }
    }

    fn window(&mut self, start: i64, key: WindowKey) -> &mut Window {
        let size = self.table_size;
        let by_key = self.windows.entry(start).or_insert_with(Ordered::new);
        if by_key.get(&key).is_none() {
            by_key.insert(key.clone(), Window::new(size));
        }
        by_key.get_mut(&key).unwrap()
    }

    fn count(w: &mut Window, rate: u64, scaled: u128, key: &Option<FlowKey>) {
        w.samples += 1;
        w.packets += rate as f64;
        w.bytes += scaled as f64;
        w.rate = rate;
        if let Some(k) = key {
            w.table.add(k.clone(), scaled);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add(&mut self, device: &str, source: u32, rate: u32, pool: u32, drops: u32, out_format: u32, output: u32,
               frame_len: u32, key: Option<FlowKey>, ts_ns: i64) {
        let start = ts_ns - ts_ns.rem_euclid(self.window_ns);
        let scaled = rate as u128 * frame_len as u128;
        let dev: Arc<str> = Arc::from(device);
        let last = self.last_pool.get(&(dev.clone(), source)).copied();
        {
            let w = self.window(start, (dev.clone(), source, IN, None));
            Self::count(w, rate as u64, scaled, &key);
            if let Some((lp, ld)) = last {
                let grown = pool.wrapping_sub(lp);
                if grown < 1 << 31 {
                    w.pool += grown as u64;
                    w.drops += drops.wrapping_sub(ld) as u64;
                }
            }
        }
        self.last_pool.insert((dev.clone(), source), (pool, drops));
        let place = if out_format == 1 {
            let w = self.window(start, (dev.clone(), source, DISCARD, Some(output)));
            Self::count(w, rate as u64, scaled, &key);
            Where::Text(format!("(discard: {})", drop_reason(output)))
        } else if out_format == 0 && output != 0 && output != 0x3FFFFFFF {
            let w = self.window(start, (dev.clone(), output, OUT, None));
            Self::count(w, rate as u64, scaled, &key);
            Where::IfIndex(output)
        } else if out_format == 0 {
            Where::Text("(unknown)".into())
        } else {
            Where::Text("(multiple)".into())
        };
        let w = self.window(start, (dev, source, IN, None));
        match w.outputs.get_mut(&place) {
            Some(o) => {
                o.0 += 1;
                o.1 += scaled as f64;
            }
            None => w.outputs.insert(place, (1, scaled as f64)),
        }
    }

    /// The windows that ended by now_ns (all of them with `every`), in order, forgotten here.
    pub fn take(&mut self, now_ns: i64, every: bool) -> Vec<(i64, WindowKey, Window)> {
        let starts: Vec<i64> = self.windows.keys().copied()
            .filter(|s| every || s + self.window_ns <= now_ns).collect();
        let mut out = Vec::new();
        for start in starts {
            let by_key = self.windows.remove(&start).unwrap();
            let Ordered { slots, .. } = by_key;
            for (key, w) in slots.into_iter().flatten() {
                out.push((start, key, w));
            }
        }
        out
    }
}
