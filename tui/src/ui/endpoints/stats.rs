//! What each endpoint-tree node aggregates: count, methods, status mix, and a streaming
//! latency histogram; each can take back what it added, for exchanges the store evicts.
use capture::exchange::Exchange;

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
    /// Takes back one [`Latency::record`] of `ns`. The min and max are not rewound (that would
    /// need every sample): they only clamp quantiles, so a stale one loosens the clamp a little.
    pub fn unrecord(&mut self, ns: u64) {
        if self.count <= 1 {
            *self = Latency::default();
            return;
        }
        if let Some(b) = self.buckets.get_mut(bucket_of(ns)) {
            *b = b.saturating_sub(1);
        }
        self.count -= 1;
    }

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

    /// The slowest recorded (not rewound by [`Latency::unrecord`]).
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// Counts per bucket from the fastest present to the slowest present, with each bucket's
    /// upper bound in ns: the latency histogram's shape for a sparkline.
    pub fn histogram(&self) -> Vec<(u64, u32)> {
        let first = self.buckets.iter().position(|&n| n > 0);
        let last = self.buckets.iter().rposition(|&n| n > 0);
        let (Some(first), Some(last)) = (first, last) else {
            return Vec::new();
        };
        (first..=last)
            .map(|i| (bucket_upper(i), self.buckets[i]))
            .collect()
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

/// Upper bound of bucket `i`.
fn bucket_upper(i: usize) -> u64 {
    (LAT_BASE_NS * 2f64.powf(i as f64 / LAT_PER_DOUBLING)) as u64
}

/// Geometric middle of bucket `i`, which spans (base·2^((i-1)/8), base·2^(i/8)].
fn bucket_middle(i: usize) -> u64 {
    (LAT_BASE_NS * 2f64.powf((i as f64 - 0.5) / LAT_PER_DOUBLING)) as u64
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

    /// Takes back one [`Stats::add`] of the same exchange. At zero everything resets, so a
    /// reused slot starts clean.
    pub fn remove(&mut self, ex: &Exchange) {
        if self.count <= 1 {
            *self = Stats::default();
            return;
        }
        self.count -= 1;
        if let Some(i) = self
            .methods
            .iter()
            .position(|(m, _)| *m == ex.request.method)
        {
            self.methods[i].1 -= 1;
            if self.methods[i].1 == 0 {
                self.methods.remove(i);
            }
        }
        let class = ex
            .response
            .as_ref()
            .map(|r| usize::from((r.status / 100).clamp(1, 5)) - 1)
            .unwrap_or(5);
        self.status[class] = self.status[class].saturating_sub(1);
        if let Some(d) = ex.duration_ns() {
            self.latency.unrecord(d);
        }
    }
}
