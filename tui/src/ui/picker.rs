//! Process picker state: the process list, the search that narrows it, marks and the cursor.
use std::collections::BTreeSet;

use capture::procinfo::ProcessInfo;

/// One process as the picker shows it (listening ports are looked up by the runtime).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessRow {
    pub info: ProcessInfo,
    pub ports: Vec<u16>,
}

#[derive(Debug, Default)]
pub struct Picker {
    pub procs: Vec<ProcessRow>,
    pub query: String,
    pub marked: BTreeSet<u32>,
    /// Index into `matches`.
    pub cursor: usize,
    pub offset: usize,
    /// Indices into `procs` that match the query, capturable ones first.
    pub matches: Vec<usize>,
    /// Waiting for the first process list.
    pub loading: bool,
    /// The outcome of the last Enter, shown under the list.
    pub message: Option<String>,
    /// JVMs the last Enter asked about: loading apitop's agent into them needs a second Enter.
    pub java_confirm: Option<Vec<u32>>,
}

impl Picker {
    pub fn new() -> Picker {
        Picker {
            loading: true,
            ..Picker::default()
        }
    }

    pub fn set_procs(&mut self, procs: Vec<ProcessRow>) {
        let keep = self.current().map(|r| r.info.pid);
        self.procs = procs;
        self.loading = false;
        let alive: BTreeSet<u32> = self.procs.iter().map(|p| p.info.pid).collect();
        self.marked.retain(|p| alive.contains(p));
        self.refilter();
        if let Some(pid) = keep {
            if let Some(i) = self
                .matches
                .iter()
                .position(|&i| self.procs[i].info.pid == pid)
            {
                self.cursor = i;
            }
        }
    }

    pub fn refilter(&mut self) {
        let q = self.query.to_lowercase();
        let mut m: Vec<usize> = self
            .procs
            .iter()
            .enumerate()
            .filter(|(_, p)| q.is_empty() || matches(p, &q))
            .map(|(i, _)| i)
            .collect();
        // Capturable processes first: they are what the picker is for.
        m.sort_by_key(|&i| (!self.procs[i].info.tls.capturable, self.procs[i].info.pid));
        self.matches = m;
        self.cursor = self.cursor.min(self.matches.len().saturating_sub(1));
    }

    pub fn current(&self) -> Option<&ProcessRow> {
        self.matches.get(self.cursor).map(|&i| &self.procs[i])
    }

    pub fn rows(&self) -> impl Iterator<Item = &ProcessRow> {
        self.matches.iter().map(|&i| &self.procs[i])
    }

    pub fn move_by(&mut self, delta: isize) {
        let n = self.matches.len();
        if n == 0 {
            return;
        }
        self.cursor = self.cursor.saturating_add_signed(delta).min(n - 1);
    }

    pub fn toggle_mark(&mut self) {
        if let Some(pid) = self.current().map(|r| r.info.pid) {
            if !self.marked.remove(&pid) {
                self.marked.insert(pid);
            }
        }
    }

    /// The marked processes, or the highlighted one when none is marked.
    pub fn chosen(&self) -> Vec<&ProcessRow> {
        if self.marked.is_empty() {
            return self.current().into_iter().collect();
        }
        self.procs
            .iter()
            .filter(|p| self.marked.contains(&p.info.pid))
            .collect()
    }
}

fn matches(p: &ProcessRow, q: &str) -> bool {
    let i = &p.info;
    i.pid.to_string().contains(q)
        || i.comm.to_lowercase().contains(q)
        || i.user.to_lowercase().contains(q)
        || i.cmdline.to_lowercase().contains(q)
        || i.tls.reason.to_lowercase().contains(q)
        || p.ports.iter().any(|port| port.to_string() == q)
}

/// What attaching to `p` will and will not show.
pub fn expectation(p: &ProcessInfo) -> String {
    if p.tls.capturable && p.tls.java.is_some() {
        format!(
            "{} ({}): {}: its TLS traffic will be seen through apitop's Java agent, its plain HTTP directly",
            p.comm, p.pid, p.tls.reason
        )
    } else if p.tls.capturable {
        let probes = p
            .tls
            .probes
            .as_deref()
            .map(|w| format!(" · probes: {w}"))
            .unwrap_or_default();
        format!(
            "{} ({}): its TLS traffic via {} will be seen (HTTP/1.1, HTTP/2){probes}",
            p.comm, p.pid, p.tls.reason
        )
    } else {
        format!(
            "{} ({}): {} — its TLS traffic won't be seen, so it is not attached",
            p.comm, p.pid, p.tls.reason
        )
    }
}
