//! The up/down state of every checked server, and the number up per
//! backend, kept together so that neither is ever recomputed.
//!
//! Checkers run on their own thread and write here; the supervisor reads.
//! With 50 000 servers, counting the up servers of each backend from the
//! full map on every transition was quadratic: the initial 50 000 reports
//! alone kept the supervisor's thread busy for minutes. So the counts are
//! updated with each transition instead.

use std::collections::HashMap;

use super::Key;

/// One server's entry. `owner` is the checker that may write it: a checker
/// stopped by a reload may still be finishing a report on the checkers'
/// thread, and must not overwrite the entry of its successor (or bring back
/// a removed server).
struct Entry {
    owner: u64,
    /// `None` until the checker reports its initial state.
    up: Option<bool>,
}

#[derive(Default)]
pub(super) struct Table {
    servers: HashMap<Key, Entry>,
    /// Servers up per backend; backends with none up are absent.
    up: HashMap<String, u32>,
    next_owner: u64,
}

impl Table {
    /// Makes a new checker the owner of `key`, forgetting its old state.
    /// Returns the owner id the checker reports with.
    pub(super) fn claim(&mut self, key: Key) -> u64 {
        self.remove(&key);
        self.next_owner += 1;
        let owner = self.next_owner;
        self.servers.insert(key, Entry { owner, up: None });
        owner
    }

    /// Records `up` for `key` if `owner` still owns it; returns whether it
    /// did (a report from a stopped checker is dropped).
    pub(super) fn set(&mut self, key: &Key, owner: u64, up: bool) -> bool {
        let Some(entry) = self.servers.get_mut(key) else {
            return false;
        };
        if entry.owner != owner {
            return false;
        }
        let was = entry.up.replace(up);
        match (was, up) {
            (Some(true), true) | (Some(false) | None, false) => {}
            (Some(true), false) => self.count_down(&key.0),
            (Some(false) | None, true) => *self.up.entry(key.0.clone()).or_insert(0) += 1,
        }
        true
    }

    pub(super) fn remove(&mut self, key: &Key) {
        if let Some(Entry { up: Some(true), .. }) = self.servers.remove(key) {
            self.count_down(&key.0);
        }
    }

    fn count_down(&mut self, backend: &str) {
        if let Some(n) = self.up.get_mut(backend) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.up.remove(backend);
            }
        }
    }

    /// Servers up per backend (backends with none up are absent).
    pub(super) fn up_per_backend(&self) -> HashMap<String, u32> {
        self.up.clone()
    }

    /// Every server with a reported state.
    pub(super) fn states(&self) -> impl Iterator<Item = (&Key, bool)> {
        self.servers
            .iter()
            .filter_map(|(k, e)| e.up.map(|up| (k, up)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: &str, s: &str) -> Key {
        (b.to_string(), s.to_string())
    }

    #[test]
    fn counts_follow_transitions_and_removals() {
        let mut t = Table::default();
        let a = t.claim(key("b", "a"));
        let c = t.claim(key("b", "c"));
        assert!(t.up_per_backend().is_empty());
        assert!(t.set(&key("b", "a"), a, false));
        assert!(t.set(&key("b", "a"), a, true));
        assert!(t.set(&key("b", "a"), a, true));
        assert!(t.set(&key("b", "c"), c, true));
        assert_eq!(t.up_per_backend().get("b"), Some(&2));
        assert!(t.set(&key("b", "c"), c, false));
        assert_eq!(t.up_per_backend().get("b"), Some(&1));
        t.remove(&key("b", "a"));
        assert!(t.up_per_backend().is_empty());
        assert_eq!(t.states().count(), 1);
    }

    #[test]
    fn a_replaced_or_removed_checker_cannot_write() {
        let mut t = Table::default();
        let old = t.claim(key("b", "a"));
        assert!(t.set(&key("b", "a"), old, true));
        let new = t.claim(key("b", "a"));
        // The old checker's late report is dropped; the server starts over.
        assert!(!t.set(&key("b", "a"), old, true));
        assert!(t.up_per_backend().is_empty());
        assert_eq!(t.states().count(), 0);
        assert!(t.set(&key("b", "a"), new, false));
        t.remove(&key("b", "a"));
        assert!(!t.set(&key("b", "a"), new, true));
        assert_eq!(t.states().count(), 0);
    }
}
