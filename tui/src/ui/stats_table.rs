//! The stats view's table: one row per endpoint template (the endpoint tree's node where an
//! exchange ended), built from the exchanges the list shows, so it follows the filter, the
//! drill-down and the marked-only view. Rebuilt from the store when opened and once a second
//! while open: the tree's own per-node stats add up whole subtrees, and the rows want each
//! template's own exchanges.
use std::collections::HashMap;

use capture::exchange::{Exchange, UnixNanos};

use super::endpoints::{EndpointTree, Latency, NodeId};

/// What a column sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Endpoint,
    Count,
    Errors,
    P50,
    P90,
    P99,
    Max,
    ReqBytes,
    RespBytes,
    Rate,
}

impl Column {
    pub const ALL: [Column; 10] = [
        Column::Endpoint,
        Column::Count,
        Column::Errors,
        Column::P50,
        Column::P90,
        Column::P99,
        Column::Max,
        Column::ReqBytes,
        Column::RespBytes,
        Column::Rate,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Endpoint => "ENDPOINT",
            Column::Count => "COUNT",
            Column::Errors => "ERR",
            Column::P50 => "p50",
            Column::P90 => "p90",
            Column::P99 => "p99",
            Column::Max => "MAX",
            Column::ReqBytes => "REQ B",
            Column::RespBytes => "RESP B",
            Column::Rate => "RATE/s",
        }
    }

    /// The next column to the right, wrapping.
    pub fn next(self) -> Column {
        let i = Column::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Column::ALL[(i + 1) % Column::ALL.len()]
    }

    pub fn prev(self) -> Column {
        let i = Column::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Column::ALL[(i + Column::ALL.len() - 1) % Column::ALL.len()]
    }
}

/// One endpoint template's own exchanges.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub node: NodeId,
    pub template: String,
    pub count: u64,
    /// 4xx and 5xx responses.
    pub errors: u64,
    pub latency: Latency,
    pub req_bytes: u64,
    pub resp_bytes: u64,
    first: UnixNanos,
    last: UnixNanos,
}

impl Row {
    fn add(&mut self, ex: &Exchange) {
        if self.count == 0 {
            self.first = ex.start;
        }
        self.count += 1;
        self.first = self.first.min(ex.start);
        self.last = self.last.max(ex.start);
        let status = ex.response.as_ref().map_or(0, |r| r.status);
        self.errors += u64::from(status >= 400);
        if let Some(d) = ex.duration_ns() {
            self.latency.record(d);
        }
        self.req_bytes += ex.request.body.raw_len;
        self.resp_bytes += ex.response.as_ref().map_or(0, |r| r.body.raw_len);
    }

    /// Exchanges per second over the span between the first and the last one's start (at
    /// least a second, so a burst does not read as a huge rate).
    pub fn rate(&self) -> f64 {
        let span = (self.last.saturating_sub(self.first) as f64 / 1e9).max(1.0);
        self.count as f64 / span
    }

    pub fn quantile(&self, q: f64) -> Option<u64> {
        self.latency.quantile(q)
    }

    /// The value `col` sorts by (the template sorts by name, elsewhere).
    fn key(&self, col: Column) -> f64 {
        let q = |q| self.quantile(q).unwrap_or(0) as f64;
        match col {
            Column::Endpoint => 0.0,
            Column::Count => self.count as f64,
            Column::Errors => self.errors as f64,
            Column::P50 => q(0.5),
            Column::P90 => q(0.9),
            Column::P99 => q(0.99),
            Column::Max => self.latency.max().unwrap_or(0) as f64,
            Column::ReqBytes => self.req_bytes as f64,
            Column::RespBytes => self.resp_bytes as f64,
            Column::Rate => self.rate(),
        }
    }
}

/// Rows for `exchanges` (each with the tree node it ended at).
pub fn build<'a>(
    exchanges: impl Iterator<Item = (&'a Exchange, NodeId)>,
    tree: &EndpointTree,
) -> Vec<Row> {
    let mut by_node: HashMap<NodeId, Row> = HashMap::new();
    for (ex, node) in exchanges {
        by_node
            .entry(node)
            .or_insert_with(|| Row {
                node,
                template: tree.template(node),
                ..Row::default()
            })
            .add(ex);
    }
    by_node.into_values().collect()
}

/// Sorts `rows` by `col`: numbers largest first and names A to Z, unless `reverse`; ties by
/// name, so the order is stable from one rebuild to the next.
pub fn sort(rows: &mut [Row], col: Column, reverse: bool) {
    rows.sort_by(|a, b| {
        let primary = match col {
            Column::Endpoint => a.template.cmp(&b.template),
            _ => b.key(col).total_cmp(&a.key(col)),
        };
        let primary = if reverse { primary.reverse() } else { primary };
        primary.then_with(|| a.template.cmp(&b.template))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(host: &str, path: &str, status: u16, ms: u64, start_s: u64, body: u64) -> Exchange {
        let mut x = *crate::ui::testing::ex(0, host, path, 0, 0);
        x.start = start_s * 1_000_000_000;
        x.end = Some(x.start + ms * 1_000_000);
        if let Some(r) = x.response.as_mut() {
            r.status = status;
            r.body.raw_len = body;
        }
        x
    }

    #[test]
    fn rows_per_template_with_their_own_figures() {
        let mut tree = EndpointTree::default();
        let xs = [
            ex("a.test", "/users/1", 200, 10, 0, 100),
            ex("a.test", "/users/2", 404, 20, 1, 50),
            ex("a.test", "/users/3", 500, 30, 2, 0),
            ex("a.test", "/users", 200, 5, 3, 1000),
            ex("a.test", "/users/4", 200, 40, 10, 10),
        ];
        let nodes: Vec<NodeId> = xs.iter().map(|x| tree.insert(x)).collect();
        let mut rows = build(xs.iter().zip(nodes.iter().copied()), &tree);
        sort(&mut rows, Column::Count, false);
        assert_eq!(rows.len(), 2, "{rows:?}");
        let ids = &rows[0];
        assert_eq!(ids.template, "a.test/users/{id}");
        assert_eq!((ids.count, ids.errors), (4, 2));
        assert_eq!(ids.resp_bytes, 160);
        assert_eq!(ids.latency.max(), Some(40_000_000));
        // 4 exchanges started over 10 s.
        assert!((ids.rate() - 0.4).abs() < 1e-9);
        let list = &rows[1];
        assert_eq!((list.template.as_str(), list.count), ("a.test/users", 1));
        // "big": the list endpoint's 1000 bytes first; reversed, last.
        sort(&mut rows, Column::RespBytes, false);
        assert_eq!(rows[0].template, "a.test/users");
        sort(&mut rows, Column::RespBytes, true);
        assert_eq!(rows[0].template, "a.test/users/{id}");
        sort(&mut rows, Column::Endpoint, false);
        assert_eq!(rows[0].template, "a.test/users");
        // "slow": by p99.
        sort(&mut rows, Column::P99, false);
        assert_eq!(rows[0].template, "a.test/users/{id}");
    }

    #[test]
    fn columns_cycle() {
        let mut c = Column::Endpoint;
        for _ in 0..Column::ALL.len() {
            c = c.next();
        }
        assert_eq!(c, Column::Endpoint);
        assert_eq!(Column::Endpoint.prev(), Column::Rate);
    }
}
