//! The endpoint tree: host → path segments, with ids folded into `{id}` so that
//! `/users/42` and `/users/43` count as one endpoint. Updated in O(depth) per exchange; each
//! node aggregates its whole subtree.
//!
//! Bounded: a per-level cap on distinct literals and one total node cap, past which new segments
//! count in their level's [`OTHER`] node; and exchanges the store evicts are taken back out with
//! [`EndpointTree::remove`], so the tree shows what the store holds and its emptied nodes go.
use std::collections::HashMap;

use capture::exchange::Exchange;
use capture::grpc;

mod stats;
pub use stats::{Latency, Stats};

pub const ID: &str = "{id}";
/// Where a node's distinct literal children are capped: beyond this many, new literals fold
/// into [`OTHER`] so that a stream of unfoldable unique paths cannot grow the tree forever.
pub const MAX_CHILDREN: usize = 200;
/// The same for hosts, higher: a proxy or crawler may well talk to hundreds of them.
pub const MAX_HOSTS: usize = 1000;
pub const OTHER: &str = "(other)";
/// The default total node cap (`--max-tree-nodes`), hosts included. A node is ~1.5 KiB (its
/// latency histogram is most of it), so this is ~15 MiB at most.
pub const DEFAULT_MAX_NODES: usize = 10_000;

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

#[derive(Clone, Debug)]
pub struct Node {
    /// `api.example.com` for a host node, `{id}` or `users` for a path segment.
    pub segment: String,
    pub parent: NodeId,
    pub depth: u16,
    pub children: Vec<NodeId>,
    index: HashMap<String, NodeId>,
    literal_children: usize,
    /// Counted in its parent's `literal_children`.
    literal: bool,
    /// False once removed: the slot is free for reuse.
    alive: bool,
    /// Everything that reached this node or below.
    pub stats: Stats,
    /// A concrete path that reached this node (the first one seen).
    pub example: String,
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
            literal: false,
            alive: true,
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
    /// Slots of removed nodes, reused before the vector grows.
    free: Vec<NodeId>,
    /// Live nodes, the root excluded.
    live: usize,
    max_nodes: usize,
    /// Bumped whenever a node is added or removed, so views know to recompute their rows.
    generation: u64,
}

impl Default for EndpointTree {
    fn default() -> Self {
        EndpointTree::with_max_nodes(DEFAULT_MAX_NODES)
    }
}

impl EndpointTree {
    /// A tree of at most `max_nodes` nodes besides the root, hosts included.
    pub fn with_max_nodes(max_nodes: usize) -> Self {
        EndpointTree {
            nodes: vec![Node::new(String::new(), ROOT, 0)],
            free: Vec::new(),
            live: 0,
            max_nodes: max_nodes.max(1),
            generation: 0,
        }
    }

    /// Live nodes, the root excluded: at most the node cap.
    pub fn node_count(&self) -> usize {
        self.live
    }

    pub fn max_nodes(&self) -> usize {
        self.max_nodes
    }

    /// Changes whenever a node is added or removed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether `id` is a node of the tree now (not a removed, or reused-later, slot).
    pub fn is_live(&self, id: NodeId) -> bool {
        self.nodes.get(id as usize).is_some_and(|n| n.alive)
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    pub fn get(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id as usize)
    }

    /// Node slots, the root and free ones included: every node id is below this.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Adds one exchange; returns the node it landed on (the leaf of its path, or where the
    /// caps stopped it).
    pub fn insert(&mut self, ex: &Exchange) -> NodeId {
        let host = ex.host();
        let path = ex.path();
        let path_only = path.split(['?', '#']).next().unwrap_or("");
        self.touch(ROOT, ex, path_only);
        let host = if host.is_empty() { "?" } else { host.as_str() };
        // A host node is always found: one slot stays reserved for the hosts' (other).
        let Some(mut at) = self.child(ROOT, host, true) else {
            return ROOT;
        };
        self.touch(at, ex, path_only);
        // gRPC routes are `/package.Service/Method`: names, never ids, even when they look
        // like tokens (`v2024.Billing`).
        let grpc = grpc::is_grpc(&ex.request.headers) && grpc::method(path_only).is_some();
        for seg in path_only.split('/').filter(|s| !s.is_empty()) {
            let folded = !grpc && is_id(seg);
            // No room left: the exchange counts where it got to, rather than under a parent
            // that is not its own.
            let Some(next) = self.child(at, if folded { ID } else { seg }, !folded) else {
                break;
            };
            at = next;
            self.touch(at, ex, path_only);
        }
        at
    }

    /// The child `seg` of `parent`, created if there is room, else the parent's [`OTHER`]
    /// child; None when even that cannot be created.
    fn child(&mut self, parent: NodeId, seg: &str, literal: bool) -> Option<NodeId> {
        let p = &self.nodes[parent as usize];
        if let Some(&c) = p.index.get(seg) {
            return Some(c);
        }
        let level_cap = if parent == ROOT {
            MAX_HOSTS
        } else {
            MAX_CHILDREN
        };
        // Until the hosts' (other) exists, one slot is kept for it, so that every exchange has
        // a host to count in however full the tree is.
        let reserve = usize::from(!self.nodes[ROOT as usize].index.contains_key(OTHER));
        let room = self.live + reserve < self.max_nodes;
        if room && !(literal && p.literal_children >= level_cap) {
            return Some(self.add_node(parent, seg, literal));
        }
        if let Some(&c) = p.index.get(OTHER) {
            return Some(c);
        }
        let room = if parent == ROOT {
            self.live < self.max_nodes
        } else {
            room
        };
        room.then(|| self.add_node(parent, OTHER, false))
    }

    fn add_node(&mut self, parent: NodeId, seg: &str, literal: bool) -> NodeId {
        let depth = self.nodes[parent as usize].depth + 1;
        let mut node = Node::new(seg.to_string(), parent, depth);
        node.literal = literal;
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as NodeId
            }
        };
        let p = &mut self.nodes[parent as usize];
        p.index.insert(seg.to_string(), id);
        p.children.push(id);
        if literal {
            p.literal_children += 1;
        }
        self.live += 1;
        self.generation += 1;
        id
    }

    /// Takes one exchange back out (the store evicted it): `node` is what [`Self::insert`]
    /// returned for it. Nodes left with no exchanges are removed and their ids pushed to
    /// `removed`, leaf first; the ids may be reused by later inserts.
    pub fn remove(&mut self, ex: &Exchange, node: NodeId, removed: &mut Vec<NodeId>) {
        if !self.is_live(node) {
            return;
        }
        let mut at = node;
        loop {
            let n = &mut self.nodes[at as usize];
            n.stats.remove(ex);
            let (parent, empty) = (n.parent, n.stats.count == 0);
            if at == ROOT {
                return;
            }
            if empty {
                self.free_node(at, removed);
            }
            at = parent;
        }
    }

    /// Removes `id` and whatever is left below it (nothing, when counts are consistent: a
    /// child never counts more than its parent).
    fn free_node(&mut self, id: NodeId, removed: &mut Vec<NodeId>) {
        for c in std::mem::take(&mut self.nodes[id as usize].children) {
            self.free_node(c, removed);
        }
        let n = &mut self.nodes[id as usize];
        let (parent, literal) = (n.parent, n.literal);
        let seg = std::mem::take(&mut n.segment);
        *n = Node::new(String::new(), ROOT, 0);
        n.alive = false;
        let p = &mut self.nodes[parent as usize];
        p.index.remove(&seg);
        p.children.retain(|&c| c != id);
        if literal {
            p.literal_children = p.literal_children.saturating_sub(1);
        }
        self.free.push(id);
        self.live -= 1;
        self.generation += 1;
        removed.push(id);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::store::Store;
    use crate::ui::testing::ex;

    /// Every live node's count is the sum of what landed on it and its children's counts, and
    /// the live count matches what `visible` reaches.
    fn check_consistent(t: &EndpointTree, landed: &HashMap<NodeId, u64>) {
        let rows = t.visible(&Default::default());
        assert_eq!(rows.len(), t.node_count());
        for &id in rows.iter().chain([ROOT].iter()) {
            let n = t.node(id);
            let below: u64 = n.children.iter().map(|&c| t.node(c).stats.count).sum();
            let here = landed.get(&id).copied().unwrap_or(0);
            assert_eq!(n.stats.count, below + here, "{}", t.template(id));
            assert!(
                n.stats.count > 0 || id == ROOT,
                "empty node {}",
                t.template(id)
            );
        }
    }

    #[test]
    fn the_node_cap_holds_with_ten_thousand_hosts() {
        let mut t = EndpointTree::with_max_nodes(2_000);
        let mut landed = HashMap::new();
        for i in 0..10_000u64 {
            let host = format!("10.0.{}.{}:{}", i / 250, i % 250, 40_000 + i);
            let n = t.insert(&ex(i, &host, "/v1/things/list", 0, 0));
            *landed.entry(n).or_insert(0) += 1;
            assert!(t.node_count() <= 2_000);
        }
        assert_eq!(
            t.node(ROOT).stats.count,
            10_000,
            "every exchange is counted"
        );
        let other = *t.node(ROOT).index.get(OTHER).expect("an (other) host");
        assert!(t.node(other).stats.count >= 10_000 - MAX_HOSTS as u64);
        check_consistent(&t, &landed);
        // A tree smaller than the host cap still finds room for (other).
        let mut small = EndpointTree::with_max_nodes(50);
        for i in 0..10_000u64 {
            small.insert(&ex(i, &format!("h{i}"), &format!("/a{}/b{i}", i % 7), 0, 0));
        }
        assert!(small.node_count() <= 50);
        assert_eq!(small.node(ROOT).stats.count, 10_000);
        assert!(small.node(ROOT).index.contains_key(OTHER));
    }

    #[test]
    fn removing_every_exchange_empties_the_tree_and_frees_slots_for_reuse() {
        let mut t = EndpointTree::default();
        let exs: Vec<_> = (0..300u64)
            .map(|i| {
                ex(
                    i,
                    &format!("h{}", i % 7),
                    &format!("/u/{i}/x{}", i % 5),
                    0,
                    0,
                )
            })
            .collect();
        let nodes: Vec<NodeId> = exs.iter().map(|e| t.insert(e)).collect();
        let slots = t.len();
        let mut removed = Vec::new();
        for (e, &n) in exs.iter().zip(&nodes).take(150) {
            t.remove(e, n, &mut removed);
        }
        let mut landed = HashMap::new();
        for &n in &nodes[150..] {
            *landed.entry(n).or_insert(0) += 1;
        }
        check_consistent(&t, &landed);
        for (e, &n) in exs.iter().zip(&nodes).skip(150) {
            t.remove(e, n, &mut removed);
        }
        assert!(t.is_empty() && t.node(ROOT).children.is_empty());
        assert_eq!(t.node(ROOT).stats.count, 0);
        assert_eq!(removed.len(), slots - 1);
        for (i, e) in exs.iter().enumerate() {
            let n = t.insert(e);
            assert!(t.is_live(n), "{i}");
        }
        assert_eq!(t.len(), slots, "freed slots are reused, not appended");
    }

    #[test]
    fn tree_counts_follow_store_eviction() {
        // The store keeps 100; the tree must show those 100 and nothing of the 900 before.
        let mut store = Store::with_budget(100, 1 << 30);
        let mut t = EndpointTree::default();
        let mut removed = Vec::new();
        for i in 0..1_000u64 {
            let e = ex(
                i,
                &format!("host{}", i / 100),
                &format!("/p/v{}", i % 3),
                0,
                0,
            );
            let n = t.insert(&e);
            store.push_with(e, n, true, |gone| {
                t.remove(&gone.ex, gone.node, &mut removed)
            });
        }
        assert_eq!(t.node(ROOT).stats.count, 100);
        let hosts: Vec<String> = t
            .node(ROOT)
            .children
            .iter()
            .map(|&h| t.template(h))
            .collect();
        assert_eq!(
            hosts,
            ["host9"],
            "the nine earlier hosts went with their exchanges"
        );
        let host = t.node(ROOT).children[0];
        assert_eq!(t.node(host).stats.count, 100);
        assert_eq!(t.node(host).stats.methods, [("GET".to_string(), 100)]);
        assert_eq!(t.node(host).stats.latency.count(), 100);
        assert_eq!(t.node_count(), 1 + 1 + 3, "host9, p, and three leaves");
        let mut landed = HashMap::new();
        for (_, e) in store.iter() {
            *landed.entry(e.node).or_insert(0) += 1;
        }
        check_consistent(&t, &landed);
    }
}
