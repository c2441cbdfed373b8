//! A map of names (nicks, channels) by case-fold, with an index of their look-alike keys.
//!
//! Lookups go by [`casefold`](charla_proto::casemap::casefold) alone: a message to `pablo`
//! reaches `Pablo`, never the holder of a look-alike such as `pаblo` (Cyrillic `а`). Holding a
//! name is by both: a name is free only if neither its case-fold nor its
//! [`skeleton`](charla_proto::confusable::skeleton) is held by someone else. The two maps live
//! in one value so that one lock keeps them in step (the lock order is in `state.rs`).

use std::collections::HashMap;

/// What the index holds under one case-folded name.
#[derive(Debug)]
struct Held<T> {
    skeleton: String,
    value: T,
}

/// Names by case-fold, and the case-fold of the holder of each skeleton.
#[derive(Debug)]
pub(crate) struct NameIndex<T> {
    by_fold: HashMap<String, Held<T>>,
    by_skeleton: HashMap<String, String>,
}

impl<T> Default for NameIndex<T> {
    fn default() -> Self {
        NameIndex {
            by_fold: HashMap::new(),
            by_skeleton: HashMap::new(),
        }
    }
}

impl<T> NameIndex<T> {
    /// The holder of the case-folded name `fold`.
    pub(crate) fn get(&self, fold: &str) -> Option<&T> {
        self.by_fold.get(fold).map(|h| &h.value)
    }

    /// The holder of a name whose skeleton is `skeleton`.
    pub(crate) fn look_alike(&self, skeleton: &str) -> Option<&T> {
        self.by_skeleton
            .get(skeleton)
            .and_then(|fold| self.get(fold))
    }

    /// Puts `value` under `fold` and `skeleton`, replacing what was under `fold`. The caller has
    /// checked that no one else holds either.
    pub(crate) fn insert(&mut self, fold: String, skeleton: String, value: T) {
        let held = Held {
            skeleton: skeleton.clone(),
            value,
        };
        if let Some(old) = self.by_fold.insert(fold.clone(), held) {
            self.forget_skeleton(&old.skeleton, &fold);
        }
        self.by_skeleton.insert(skeleton, fold);
    }

    /// Takes out what is under `fold`.
    pub(crate) fn remove(&mut self, fold: &str) -> Option<T> {
        let held = self.by_fold.remove(fold)?;
        self.forget_skeleton(&held.skeleton, fold);
        Some(held.value)
    }

    /// Every holder.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.by_fold.values().map(|h| &h.value)
    }

    /// How many names are held.
    pub(crate) fn len(&self) -> usize {
        self.by_fold.len()
    }

    /// Drops `skeleton` if it still points at `fold` (a holder's own case change may have
    /// given it a new skeleton already).
    fn forget_skeleton(&mut self, skeleton: &str, fold: &str) {
        if self.by_skeleton.get(skeleton).is_some_and(|f| f == fold) {
            self.by_skeleton.remove(skeleton);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_both_keys_in_step() {
        let mut index = NameIndex::default();
        index.insert("pablo".into(), "pablo".into(), 1);
        assert_eq!(index.get("pablo"), Some(&1));
        assert_eq!(index.look_alike("pablo"), Some(&1));
        // The holder's own look-alike spelling replaces the first (same skeleton).
        index.insert("p\u{430}blo".into(), "pablo".into(), 1);
        index.remove("pablo");
        assert_eq!(index.look_alike("pablo"), Some(&1));
        assert_eq!(index.remove("p\u{430}blo"), Some(1));
        assert_eq!(index.look_alike("pablo"), None);
        assert_eq!(index.len(), 0);
        // A new skeleton under the same fold drops the old one.
        index.insert("bill".into(), "bill".into(), 2);
        index.insert("bill".into(), "blll".into(), 2);
        assert_eq!(index.look_alike("bill"), None);
        assert_eq!(index.look_alike("blll"), Some(&2));
        assert_eq!(index.values().count(), 1);
    }
}
