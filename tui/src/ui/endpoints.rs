//! The endpoint tree: host → path segments, with ids folded into `{id}` so that
//! `/users/42` and `/users/43` count as one endpoint. Updated in O(depth) per exchange; each
//! node aggregates its whole subtree.
use std::collections::HashMap;

use capture::exchange::Exchange;
use capture::grpc;

pub const ID: &str = "{id}";
/// Where a node's distinct literal children are capped: beyond this many, new literals fold
/// into [`OTHER`] so that a stream of unfoldable unique paths cannot grow the tree forever.
pub const MAX_CHILDREN: usize = 200;
pub const OTHER: &str = "{*}";

pub type NodeId = u32;
pub const ROOT: NodeId = 0;

/// Whether a path segment is an identifier rather than a fixed part of the route.
pub fn is_id(seg: &str) -> bool {
    if seg.is_empty() {
        return false;
    }
    let b = seg.as_bytes();
    if b.iter().all(u8::is_ascii_digit) {
        return true;
    }
    if is_uuid(seg) {
        return true;
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    if b.len() >= 8 && digits > 0 && b.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    // Long tokens (base64url, ULIDs, slugs with numbers): long and mixing letters and digits.
    let token_chars = b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'='));
    let letters = b.iter().filter(|c| c.is_ascii_alphabetic()).count();
    token_chars && b.len() >= 16 && digits >= 2 && letters > 0
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The template segment for `seg`: `{id}` or the segment itself.
pub fn fold(seg: &str) -> &str {
    if is_id(seg) {
        ID
    } else {
        seg
    }
}

/// A streaming latency histogram: log-spaced buckets, 8 per doubling from 1 µs (each ~9 % wide),
/// so p50/p95 cost O(1) per exchange and are within ~5 % (the bucket's geometric middle, clamped
/// to the exact min and max seen).
#[derive(Clone, Debug, Default)]
pub struct Latency {
    buckets: Vec<u32>,
    count: u32,
    min: u64,
    max: u64,
}

const LAT_BASE_NS: f64 = 1_000.0;
const LAT_PER_DOUBLING: f64 = 8.0;
/// 28 doublings above 1 µs: up to ~4.5 minutes; slower calls share the last bucket.
const LAT_BUCKETS: usize = 28 * 8;

impl Latency {
    pub fn record(&mut self, ns: u64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; LAT_BUCKETS];
            self.min = ns;
            self.max = ns;
        }
        self.buckets[bucket_of(ns)] += 1;
        self.count += 1;
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Quantile `q` (0..=1) in ns: the middle of the bucket holding it, within [min, max].
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * f64::from(self.count)).ceil() as u32).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(bucket_middle(i).clamp(self.min, self.max));
            }
        }
        None
    }
}

fn bucket_of(ns: u64) -> usize {
    if (ns as f64) <= LAT_BASE_NS {
        return 0;
    }
    let i = (LAT_PER_DOUBLING * (ns as f64 / LAT_BASE_NS).log2()).ceil() as usize;
    i.min(LAT_BUCKETS - 1)
}

/// Geometric middle of bucket `i`, which spans (base·2^((i-1)/8), base·2^(i/8)].
fn bucket_middle(i: usize) -> u64 {
    (LAT_BASE_NS * 2f64.powf((i as f64 - 0.5) / LAT_PER_DOUBLING)) as u64
}

#[derive(Clone, Debug)]
pub struct Node {
    /// `api.example.com` for a host node, `{id}` or `users` for a path segment.
    pub segment: String,
    pub parent: NodeId,
    pub depth: u16,
    pub children: Vec<NodeId>,
    index: HashMap<String, NodeId>,
    literal_children: usize,
    /// Everything that reached this node or below.
    pub stats: Stats,
    /// A concrete path that reached this node (the first one seen).
    pub example: String,
}

/// What a node shows: count, methods, status mix, latency.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub count: u64,
    /// Method → count, in first-seen order (few distinct values).
    pub methods: Vec<(String, u64)>,
    /// Responses by class: [1xx, 2xx, 3xx, 4xx, 5xx, no response].
    pub status: [u64; 6],
    pub latency: Latency,
}

impl Stats {
    pub fn add(&mut self, ex: &Exchange) {
        self.count += 1;
        match self
            .methods
            .iter_mut()
            .find(|(m, _)| *m == ex.request.method)
        {
            Some((_, c)) => *c += 1,
            None => self.methods.push((ex.request.method.clone(), 1)),
        }
        let class = ex
            .response
            .as_ref()
            .map(|r| usize::from((r.status / 100).clamp(1, 5)) - 1)
            .unwrap_or(5);
        self.status[class] += 1;
        if let Some(d) = ex.duration_ns() {
            self.latency.record(d);
        }
    }
}

impl Node {
    fn new(segment: String, parent: NodeId, depth: u16) -> Self {
        Node {
            segment,
            parent,
            depth,
            children: Vec::new(),
            index: HashMap::new(),
            literal_children: 0,
            stats: Stats::default(),
            example: String::new(),
        }
    }

    pub fn is_host(&self) -> bool {
        self.depth == 1
    }
}

#[derive(Clone, Debug)]
pub struct EndpointTree {
    nodes: Vec<Node>,
}

impl Default for EndpointTree {
    fn default() -> Self {
        EndpointTree {
            nodes: vec![Node::new(String::new(), ROOT, 0)],
        }
    }
}

impl EndpointTree {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    pub fn get(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id as usize)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// Adds one exchange; returns the leaf node it landed on.
    pub fn insert(&mut self, ex: &Exchange) -> NodeId {
        let host = ex.host();
        let path = ex.path();
        let path_only = path.split(['?', '#']).next().unwrap_or("");
        let mut at = ROOT;
        self.touch(at, ex, path_only);
        let host = if host.is_empty() { "?" } else { host.as_str() };
        at = self.child(at, host, false);
        self.touch(at, ex, path_only);
        // gRPC routes are `/package.Service/Method`: names, never ids, even when they look
        // like tokens (`v2024.Billing`).
        let grpc = grpc::is_grpc(&ex.request.headers) && grpc::method(path_only).is_some();
        for seg in path_only.split('/').filter(|s| !s.is_empty()) {
            let folded = !grpc && is_id(seg);
            at = self.child(at, if folded { ID } else { seg }, !folded);
            self.touch(at, ex, path_only);
        }
        at
    }

    fn child(&mut self, parent: NodeId, seg: &str, literal: bool) -> NodeId {
        let p = &self.nodes[parent as usize];
        if let Some(&c) = p.index.get(seg) {
            return c;
        }
        let seg = if literal && p.literal_children >= MAX_CHILDREN {
            if let Some(&c) = p.index.get(OTHER) {
                return c;
            }
            OTHER
        } else {
            seg
        };
        let id = self.nodes.len() as NodeId;
        let depth = p.depth + 1;
        self.nodes.push(Node::new(seg.to_string(), parent, depth));
        let p = &mut self.nodes[parent as usize];
        p.index.insert(seg.to_string(), id);
        p.children.push(id);
        if literal && seg != OTHER {
            p.literal_children += 1;
        }
        id
    }

    fn touch(&mut self, id: NodeId, ex: &Exchange, path: &str) {
        let n = &mut self.nodes[id as usize];
        n.stats.add(ex);
        if n.example.is_empty() {
            n.example = if path.is_empty() {
                "/".into()
            } else {
                path.into()
            };
        }
    }

    /// `node` and its ancestors below the root: the nodes an exchange landing on `node` counts in.
    pub fn path_to_root(&self, mut node: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        std::iter::from_fn(move || {
            if node == ROOT || node as usize >= self.nodes.len() {
                return None;
            }
            let here = node;
            node = self.nodes[node as usize].parent;
            Some(here)
        })
    }

    /// Whether `node` is `ancestor` or below it. O(depth).
    pub fn is_within(&self, mut node: NodeId, ancestor: NodeId) -> bool {
        loop {
            if node == ancestor {
                return true;
            }
            if node == ROOT {
                return false;
            }
            node = self.nodes[node as usize].parent;
        }
    }

    /// `host/users/{id}` for a node.
    pub fn template(&self, id: NodeId) -> String {
        let mut parts = Vec::new();
        let mut at = id;
        while at != ROOT {
            let n = &self.nodes[at as usize];
            parts.push(n.segment.as_str());
            at = n.parent;
        }
        parts.reverse();
        match parts.split_first() {
            Some((host, [])) => host.to_string(),
            Some((host, rest)) => format!("{host}/{}", rest.join("/")),
            None => String::new(),
        }
    }

    /// Rows to display, depth first, skipping the children of collapsed nodes.
    pub fn visible(&self, collapsed: &std::collections::HashSet<NodeId>) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut stack: Vec<NodeId> = self.nodes[0].children.iter().rev().copied().collect();
        while let Some(id) = stack.pop() {
            out.push(id);
            if !collapsed.contains(&id) {
                stack.extend(self.nodes[id as usize].children.iter().rev());
            }
        }
        out
    }
}
