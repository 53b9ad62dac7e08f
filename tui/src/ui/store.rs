//! Every exchange by arrival number (its `Seq`), the newest N kept, and a filtered, sorted
//! view of seqs. The view is always ascending by (sort key, seq); "reverse" is applied when
//! displaying, so new arrivals under the default sort are a push, and evictions a pop.
use std::collections::VecDeque;

use capture::exchange::Exchange;

use super::endpoints::NodeId;

/// Arrival number, assigned by the store: unique, increasing, never reused.
pub type Seq = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// Arrival order (exchanges arrive when they complete).
    Time,
    Duration,
    Size,
    Status,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Time => SortKey::Duration,
            SortKey::Duration => SortKey::Size,
            SortKey::Size => SortKey::Status,
            SortKey::Status => SortKey::Time,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Time => "time",
            SortKey::Duration => "duration",
            SortKey::Size => "size",
            SortKey::Status => "status",
        }
    }
}

pub struct Entry {
    pub ex: Box<Exchange>,
    /// Leaf of the endpoint tree this exchange was counted in.
    pub node: NodeId,
}

impl Entry {
    pub fn size(&self) -> u64 {
        self.ex.response.as_ref().map_or(0, |r| r.body.raw_len)
    }

    fn key(&self, sort: SortKey) -> u64 {
        match sort {
            SortKey::Time => 0,
            SortKey::Duration => self.ex.duration_ns().unwrap_or(0),
            SortKey::Size => self.size(),
            SortKey::Status => self.ex.response.as_ref().map_or(0, |r| u64::from(r.status)),
        }
    }
}

pub struct Store {
    entries: VecDeque<Entry>,
    first: Seq,
    cap: usize,
    pub evicted: u64,
    /// Matching (sort key, seq), ascending. Keys are stored so that merges, evictions and
    /// lookups never chase pointers into the exchanges.
    view: VecDeque<(u64, Seq)>,
    sort: SortKey,
    /// Matches that arrived under a non-time sort, merged in by [`Store::flush`].
    pending: Vec<Seq>,
    /// Evictions not yet removed from a non-time-sorted view.
    stale: bool,
}

impl Store {
    pub fn new(cap: usize) -> Self {
        Store {
            entries: VecDeque::new(),
            first: 0,
            cap: cap.max(1),
            evicted: 0,
            view: VecDeque::new(),
            sort: SortKey::Time,
            pending: Vec::new(),
            stale: false,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn sort(&self) -> SortKey {
        self.sort
    }

    pub fn get(&self, seq: Seq) -> Option<&Entry> {
        let i = seq.checked_sub(self.first)?;
        self.entries.get(usize::try_from(i).ok()?)
    }

    /// The newest seq, if any.
    pub fn last_seq(&self) -> Option<Seq> {
        (!self.entries.is_empty()).then(|| self.first + self.entries.len() as u64 - 1)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (Seq, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (self.first + i as u64, e))
    }

    /// Adds an exchange; `matches` says whether it passes the current filter. Evicts the
    /// oldest when full.
    pub fn push(&mut self, ex: Box<Exchange>, node: NodeId, matches: bool) -> Seq {
        if self.entries.len() >= self.cap {
            self.entries.pop_front();
            let gone = self.first;
            self.first += 1;
            self.evicted += 1;
            match self.sort {
                SortKey::Time => {
                    if self.view.front().is_some_and(|&(_, s)| s == gone) {
                        self.view.pop_front();
                    }
                }
                _ => self.stale = true,
            }
        }
        let seq = self.first + self.entries.len() as u64;
        self.entries.push_back(Entry { ex, node });
        if matches {
            match self.sort {
                SortKey::Time => self.view.push_back((0, seq)),
                _ => self.pending.push(seq),
            }
        }
        seq
    }

    /// Folds pending arrivals and evictions into the view: one merge per frame rather than an
    /// insertion per exchange.
    pub fn flush(&mut self) {
        if self.stale {
            let first = self.first;
            self.view.retain(|&(_, s)| s >= first);
            self.pending.retain(|&s| s >= first);
            self.stale = false;
        }
        if self.pending.is_empty() {
            return;
        }
        let sort = self.sort;
        let mut pending: Vec<(u64, Seq)> = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|s| self.sort_key(s, sort))
            .collect();
        pending.sort_unstable();
        // Merge from the back, in place: only the tail after the smallest arrival moves, and
        // nothing is reallocated (a fresh million-entry view per frame cost ~20 ms).
        let old_len = self.view.len();
        self.view.resize(old_len + pending.len(), (0, 0));
        let v = self.view.make_contiguous();
        let (mut i, mut j, mut k) = (old_len, pending.len(), v.len());
        while j > 0 {
            if i > 0 && v[i - 1] > pending[j - 1] {
                v[k - 1] = v[i - 1];
                i -= 1;
            } else {
                v[k - 1] = pending[j - 1];
                j -= 1;
            }
            k -= 1;
        }
    }

    fn sort_key(&self, seq: Seq, sort: SortKey) -> (u64, Seq) {
        (self.get(seq).map_or(0, |e| e.key(sort)), seq)
    }

    /// Rebuilds the view from scratch with a new predicate and sort.
    pub fn rebuild(&mut self, sort: SortKey, mut pred: impl FnMut(&Entry) -> bool) {
        self.sort = sort;
        self.pending.clear();
        self.stale = false;
        let first = self.first;
        let mut view: Vec<(u64, Seq)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| pred(e))
            .map(|(i, e)| (e.key(sort), first + i as u64))
            .collect();
        if sort != SortKey::Time {
            view.sort_unstable();
        }
        self.view = view.into();
    }

    /// Number of matching exchanges (after [`Store::flush`]).
    pub fn view_len(&self) -> usize {
        self.view.len()
    }

    /// The seq at display row `row` (`reverse` flips the order).
    pub fn at(&self, row: usize, reverse: bool) -> Option<Seq> {
        let n = self.view.len();
        if row >= n {
            return None;
        }
        let i = if reverse { n - 1 - row } else { row };
        self.view.get(i).map(|&(_, s)| s)
    }

    /// The display row of `seq`, if it is in the view. O(log n).
    pub fn row_of(&self, seq: Seq, reverse: bool) -> Option<usize> {
        let key = self.sort_key(seq, self.sort);
        self.get(seq)?;
        let i = self.view.binary_search(&key).ok()?;
        Some(if reverse { self.view.len() - 1 - i } else { i })
    }
}
