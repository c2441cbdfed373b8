//! MONITOR (<https://ircv3.net/specs/extensions/monitor>): a client names nicks it wants to
//! follow and is told when each comes online (730) or goes offline (731), without sharing a
//! channel. With `extended-monitor`, watchers also get the AWAY, ACCOUNT, CHGHOST and SETNAME
//! lines of the users they follow, as channel peers do.
//!
//! One lock holds both directions — who follows a nick, and what each client follows — so a
//! client that leaves is forgotten everywhere at once. Lists are bounded per client
//! ([`MAX_PER_CLIENT`], ISUPPORT `MONITOR`).

use std::collections::HashMap;
use std::sync::Arc;

use charla_proto::casemap::casefold;
use parking_lot::Mutex;

use crate::client::{Client, ConnectionId};

/// The most nicks one client may follow (ISUPPORT `MONITOR`).
pub const MAX_PER_CLIENT: usize = 100;

/// Who follows whom.
#[derive(Debug, Default)]
pub struct Monitors {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Folded nick → the clients following it.
    watchers: HashMap<String, Vec<Arc<Client>>>,
    /// Client → the nicks it follows, as it wrote them, in the order it added them.
    lists: HashMap<ConnectionId, Vec<String>>,
}

impl Monitors {
    /// Adds `nicks` to `client`'s list, as long as there is room; returns those that did not
    /// fit. A nick already there is not added twice.
    pub fn add(&self, client: &Arc<Client>, nicks: &[&str]) -> Vec<String> {
        let mut inner = self.inner.lock();
        let mut refused = Vec::new();
        for nick in nicks {
            let folded = casefold(nick).into_owned();
            let list = inner.lists.entry(client.id).or_default();
            if list.iter().any(|n| casefold(n) == folded) {
                continue;
            }
            if list.len() >= MAX_PER_CLIENT {
                refused.push((*nick).to_owned());
                continue;
            }
            list.push((*nick).to_owned());
            inner
                .watchers
                .entry(folded)
                .or_default()
                .push(client.clone());
        }
        refused
    }

    /// Takes `nicks` off `client`'s list.
    pub fn remove(&self, client: &Client, nicks: &[&str]) {
        let mut inner = self.inner.lock();
        for nick in nicks {
            let folded = casefold(nick).into_owned();
            if let Some(list) = inner.lists.get_mut(&client.id) {
                list.retain(|n| casefold(n) != folded);
            }
            inner.unwatch(&folded, client.id);
        }
    }

    /// Empties `client`'s list (MONITOR C, and when it leaves).
    pub fn clear(&self, client: &Client) {
        let mut inner = self.inner.lock();
        for nick in inner.lists.remove(&client.id).unwrap_or_default() {
            inner.unwatch(&casefold(&nick), client.id);
        }
    }

    /// The nicks `client` follows, as it wrote them.
    pub fn list(&self, client: &Client) -> Vec<String> {
        self.inner
            .lock()
            .lists
            .get(&client.id)
            .cloned()
            .unwrap_or_default()
    }

    /// The clients following `nick`.
    pub fn watchers(&self, nick: &str) -> Vec<Arc<Client>> {
        self.inner
            .lock()
            .watchers
            .get(casefold(nick).as_ref())
            .cloned()
            .unwrap_or_default()
    }
}

impl Inner {
    fn unwatch(&mut self, folded: &str, id: ConnectionId) {
        if let Some(watchers) = self.watchers.get_mut(folded) {
            watchers.retain(|c| c.id != id);
            if watchers.is_empty() {
                self.watchers.remove(folded);
            }
        }
    }
}

/// Splits `items` into comma-separated lists of at most `max` bytes each.
pub fn comma_lists(items: &[String], max: usize) -> Vec<String> {
    let mut lists = Vec::new();
    let mut current = String::new();
    for item in items {
        if !current.is_empty() && current.len() + 1 + item.len() > max {
            lists.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(',');
        }
        current.push_str(item);
    }
    if !current.is_empty() {
        lists.push(current);
    }
    lists
}

/// Tells everyone following `nick` that it is online as `source` (`nick!user@host`).
pub fn tell_online(state: &crate::state::State, nick: &str, source: &str) {
    tell(state, nick, charla_proto::numeric::RPL_MONONLINE, source);
}

/// Tells everyone following `nick` that it went offline.
pub fn tell_offline(state: &crate::state::State, nick: &str) {
    tell(state, nick, charla_proto::numeric::RPL_MONOFFLINE, nick);
}

fn tell(state: &crate::state::State, nick: &str, numeric: u16, what: &str) {
    for watcher in state.monitors.watchers(nick) {
        let mut line = charla_proto::LineBuilder::new();
        line.source(state.name())
            .numeric(numeric)
            .param(&watcher.nick())
            .trailing(what);
        // Lists are the user's: each of its connections hears.
        let payload = crate::deliver::Payload::new(crate::outbound::Outgoing::new(line));
        crate::deliver::to_client(&watcher, &payload, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_lists_stay_within_their_length() {
        let items: Vec<String> = (0..50).map(|i| format!("nick{i}")).collect();
        let lists = comma_lists(&items, 40);
        assert!(lists.iter().all(|l| l.len() <= 40), "{lists:?}");
        assert_eq!(lists.join(",").split(',').count(), 50);
        assert!(comma_lists(&[], 40).is_empty());
    }
}
