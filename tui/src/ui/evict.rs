//! What the UI forgets as the store evicts and processes exit, so that its state stays bounded
//! by the store and the live targets rather than by how long it has been running.
use super::app::Target;
use super::endpoints::{EndpointTree, NodeId, Stats};
use super::filter::Filter;
use super::store::Entry;

/// Exited targets kept (shown with ✝ in the status bar): enough to see that the ones asked
/// for died, without `-n` on a name that forks a process per request growing the list forever.
pub const MAX_DEAD_TARGETS: usize = 8;

/// Takes an exchange the store evicted whole out of the endpoint tree, and out of the tree's
/// filtered stats when a filter is in force. Removed node ids are pushed to `removed`.
pub fn forget(
    tree: &mut EndpointTree,
    filter: Option<&Filter>,
    filtered: &mut Option<Vec<Stats>>,
    gone: &Entry,
    removed: &mut Vec<NodeId>,
) {
    if let (Some(f), Some(stats)) = (filter, filtered.as_mut()) {
        if f.matches(&gone.ex) {
            for n in tree.path_to_root(gone.node) {
                if let Some(s) = stats.get_mut(n as usize) {
                    s.remove(&gone.ex);
                }
            }
        }
    }
    let before = removed.len();
    tree.remove(&gone.ex, gone.node, removed);
    // A body filter may no longer match an exchange whose body was evicted, leaving counts
    // behind; a removed node's slot is reused, so it must start from nothing.
    if let Some(stats) = filtered {
        for &n in &removed[before..] {
            if let Some(s) = stats.get_mut(n as usize) {
                *s = Stats::default();
            }
        }
    }
}

/// Marks `pid` exited, and drops the oldest exited targets beyond [`MAX_DEAD_TARGETS`].
pub fn target_exited(targets: &mut Vec<Target>, pid: u32) {
    if let Some(t) = targets.iter_mut().find(|t| t.pid == pid) {
        t.alive = false;
    }
    let mut dead = targets.iter().filter(|t| !t.alive).count();
    // Oldest first: targets are kept in the order they appeared.
    targets.retain(|t| {
        if !t.alive && dead > MAX_DEAD_TARGETS {
            dead -= 1;
            return false;
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exited_targets_do_not_pile_up() {
        let mut targets = vec![Target {
            pid: 1,
            comm: "server".into(),
            alive: true,
        }];
        // `-n curl` with a curl per request: 1000 processes come and go.
        for pid in 100..1_100 {
            targets.push(Target {
                pid,
                comm: "curl".into(),
                alive: true,
            });
            target_exited(&mut targets, pid);
        }
        assert_eq!(targets.len(), 1 + MAX_DEAD_TARGETS);
        assert!(targets[0].alive && targets[0].pid == 1, "live targets stay");
        let kept: Vec<u32> = targets[1..].iter().map(|t| t.pid).collect();
        let newest: Vec<u32> = (1_100 - MAX_DEAD_TARGETS as u32..1_100).collect();
        assert_eq!(kept, newest, "the most recent exits are the ones shown");
    }
}
