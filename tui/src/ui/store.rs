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
    /// Matching seqs, ascending by (key, seq).
    view: VecDeque<Seq>,
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
                    if self.view.front() == Some(&gone) {
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
                SortKey::Time => self.view.push_back(seq),
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
            self.view.retain(|&s| s >= first);
            self.pending.retain(|&s| s >= first);
            self.stale = false;
        }
        if self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        let sort = self.sort;
        pending.sort_unstable_by_key(|&s| self.sort_key(s, sort));
        let old = std::mem::take(&mut self.view);
        let mut merged = VecDeque::with_capacity(old.len() + pending.len());
        let (mut a, mut b) = (old.into_iter().peekable(), pending.into_iter().peekable());
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (Some(&x), Some(&y)) => self.sort_key(x, sort) <= self.sort_key(y, sort),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_a { a.next() } else { b.next() };
            merged.extend(next);
        }
        self.view = merged;
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
        let mut view: Vec<Seq> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| pred(e))
            .map(|(i, _)| first + i as u64)
            .collect();
        if sort != SortKey::Time {
            // Keys computed once: sorting a million entries must not chase pointers per compare.
            let mut keyed: Vec<(u64, Seq)> = view.iter().map(|&s| self.sort_key(s, sort)).collect();
            keyed.sort_unstable();
            view = keyed.into_iter().map(|(_, s)| s).collect();
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
        self.view.get(i).copied()
    }

    /// The display row of `seq`, if it is in the view. O(log n).
    pub fn row_of(&self, seq: Seq, reverse: bool) -> Option<usize> {
        let key = self.sort_key(seq, self.sort);
        self.get(seq)?;
        let i = self
            .view
            .binary_search_by(|&s| self.sort_key(s, self.sort).cmp(&key))
            .ok()?;
        Some(if reverse { self.view.len() - 1 - i } else { i })
    }

    /// Approximate heap use of the kept exchanges, for the status bar and the bench.
    pub fn approx_bytes(&self) -> usize {
        self.entries.len() * std::mem::size_of::<Entry>() + self.view.len() * 8
    }
}
