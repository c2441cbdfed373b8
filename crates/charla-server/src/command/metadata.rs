//! `draft/metadata-2` (<https://ircv3.net/specs/extensions/metadata>): key/value data on users
//! and channels (a display name, an avatar, a channel's home page), and `METADATA` lines to
//! those who follow it.
//!
//! A user's metadata lives with its connection and, for a logged-in user, in the store under its
//! account, so that it comes back on the next log-in (on every device); a channel's lives with
//! the channel and, for a registered channel, in the store. A client subscribes to the keys it
//! understands (`METADATA * SUB display-name avatar`) and then hears of changes to them on
//! itself, its channels and their members; joining a channel brings the channel's and its
//! members' current values (produced as the send queue drains, like NAMES). Limits: keys per
//! target, subscriptions per client and bytes per value are in the capability's value.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use charla_proto::LineBuilder;
use charla_proto::casemap::casefold;
use charla_proto::numeric::{
    ERR_KEYNOTSET, ERR_NOMATCHINGKEY, RPL_KEYVALUE, RPL_METADATASUBOK, RPL_METADATASUBS,
    RPL_METADATAUNSUBOK, RPL_WHOISKEYVALUE,
};
use charla_proto::validate::is_channel_name;
use charla_store::Write;

use crate::caps::Cap;
use crate::channel::Channel;
use crate::client::Client;
use crate::command::Flow;
use crate::command::paced::{self, Paced};
use crate::command::table::Args;
use crate::deliver::{self, Payload, batch_ref};
use crate::outbound::{Line, Outgoing};
use crate::session::Session;
use crate::state::State;

/// The most subscriptions a client may have.
pub const MAX_SUBS: usize = 50;
/// The most keys on one user or channel.
pub const MAX_KEYS: usize = 20;
/// The longest value, in bytes (it must fit in one line with the target and key).
pub const MAX_VALUE_BYTES: usize = 300;
/// The longest key name.
const MAX_KEY_LEN: usize = 64;
/// The keys WHOIS shows (RPL_WHOISKEYVALUE): those a person reads.
const WHOIS_KEYS: [&str; 3] = ["display-name", "pronouns", "homepage"];

/// The capability's value.
pub fn cap_value() -> String {
    format!("max-subs={MAX_SUBS},max-keys={MAX_KEYS},max-value-bytes={MAX_VALUE_BYTES}")
}

/// A user's metadata and subscriptions (boxed in its info: most users have none).
#[derive(Debug, Default, Clone)]
pub struct UserMetadata {
    /// Its keys and values.
    pub values: BTreeMap<String, String>,
    /// The keys it subscribed to.
    pub subs: BTreeSet<String>,
}

/// Whether `key` (already lower case) is a valid key name.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && !key.starts_with(':')
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b))
}

/// Whether `client` wants `METADATA` lines about `key`.
fn subscribed(client: &Client, key: &str) -> bool {
    client.has_cap(Cap::Metadata)
        && client
            .info
            .read()
            .metadata
            .as_ref()
            .is_some_and(|m| m.subs.contains(key))
}

/// The store key of a user's metadata (by account) or a channel's.
pub fn store_target_of_account(account: &str) -> String {
    format!("a:{}", casefold(account))
}

/// The store key of a channel's metadata.
pub fn store_target_of_channel(ch: &Channel) -> String {
    format!("c:{}", ch.key())
}

/// What a METADATA command is about.
pub(crate) enum Target {
    User(Arc<Client>),
    Channel(Arc<Channel>),
}

impl Target {
    fn name(&self) -> String {
        match self {
            Target::User(c) => c.nick(),
            Target::Channel(ch) => ch.name(),
        }
    }

    fn values(&self) -> BTreeMap<String, String> {
        match self {
            Target::User(c) => c
                .info
                .read()
                .metadata
                .as_ref()
                .map(|m| m.values.clone())
                .unwrap_or_default(),
            Target::Channel(ch) => ch.read(|st| st.metadata.clone()),
        }
    }
}

/// `FAIL METADATA <code> <params> :<text>`.
fn fail(s: &Session, code: &str, params: &[&str], text: &str) {
    let mut line = s.server_line("FAIL");
    line.param("METADATA").param(code);
    for p in params {
        line.param(p);
    }
    line.trailing(text);
    s.send_line(line);
}

/// `METADATA <target> <subcommand> [<params>]`.
pub fn metadata(s: &mut Session, p: Args<'_, 2>) -> Flow {
    let sub = p.req[1].to_ascii_uppercase();
    let keys: Vec<String> = p.all()[2..]
        .iter()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    match sub.as_str() {
        "SUB" => subscribe(s, &keys),
        "UNSUB" => unsubscribe(s, &keys),
        "SUBS" => list_subs(s),
        "GET" | "LIST" | "SET" | "CLEAR" | "SYNC" => {
            let Some(target) = resolve(s, p.req[0]) else {
                fail(s, "INVALID_TARGET", &[p.req[0]], "invalid metadata target");
                return Flow::Continue;
            };
            match sub.as_str() {
                "GET" => get(s, &target, &keys),
                "LIST" => list(s, &target),
                "SET" => {
                    let key = keys.first().map_or("", String::as_str);
                    set(s, &target, key, p.get(3));
                }
                "CLEAR" => clear(s, &target),
                _ => sync(s, target),
            }
        }
        _ => fail(s, "INVALID_SUBCOMMAND", &[p.req[1]], "invalid subcommand"),
    }
    Flow::Continue
}

/// The user or channel named `name` (`*` is the client itself), if the client may see it.
fn resolve(s: &Session, name: &str) -> Option<Target> {
    if name == "*" {
        return Some(Target::User(s.client.clone()));
    }
    if is_channel_name(name) {
        let ch = s.state.channel(name)?;
        let hidden = ch.read(|st| st.modes.secret && st.member(s.client.id).is_none());
        return (!hidden).then_some(Target::Channel(ch));
    }
    s.state
        .find_nick(name)
        .filter(|c| c.info.read().registered)
        .map(Target::User)
}

/// Whether the client may change `target`'s metadata: its own, a channel it operates, or
/// anything for an IRC operator.
fn may_change(s: &Session, target: &Target) -> bool {
    // Another node's user's keys are that node's to change.
    if let Target::User(c) = target
        && c.remote.is_some()
    {
        return false;
    }
    if s.client.is_oper() {
        return true;
    }
    match target {
        Target::User(c) => c.id == s.client.id,
        Target::Channel(ch) => ch.read(|st| st.member(s.client.id).is_some_and(|m| m.op)),
    }
}

/// Replies inside a `metadata` batch (when the client takes batches).
fn in_batch(s: &Session, lines: impl FnOnce(&dyn Fn(LineBuilder))) {
    let reference = s.conn.has_cap(Cap::Batch).then(batch_ref);
    if let Some(r) = &reference {
        let mut open = s.server_line("BATCH");
        open.param(&format!("+{r}")).param("metadata");
        s.send_line(open);
    }
    let send = |line: LineBuilder| match &reference {
        Some(r) => s.send_bytes(deliver::with_tags(&line.finish(), &format!("batch={r}"))),
        None => s.send_line(line),
    };
    lines(&send);
    if let Some(r) = &reference {
        s.send_bytes(Line::from(format!(":{} BATCH -{r}\r\n", s.state.name())));
    }
}

/// A numeric line to this client, built but not sent.
fn numeric(s: &Session, n: u16) -> LineBuilder {
    let mut line = LineBuilder::new();
    line.source(s.state.name()).numeric(n).param(&s.nick());
    line
}

/// `RPL_KEYVALUE <target> <key> * [:<value>]`.
fn key_value(s: &Session, target: &str, key: &str, value: Option<&str>) -> LineBuilder {
    let mut line = numeric(s, RPL_KEYVALUE);
    line.param(target).param(key).param("*");
    if let Some(v) = value {
        line.trailing(v);
    }
    line
}

fn get(s: &Session, target: &Target, keys: &[String]) {
    let name = target.name();
    let values = target.values();
    in_batch(s, |send| {
        for key in keys {
            if !valid_key(key) {
                let mut line = s.server_line("FAIL");
                line.param("METADATA")
                    .param("INVALID_KEY")
                    .param(key)
                    .trailing("invalid key");
                send(line);
            } else if let Some(v) = values.get(key) {
                send(key_value(s, &name, key, Some(v)));
            } else {
                let mut line = numeric(s, ERR_NOMATCHINGKEY);
                line.param(&name).param(key).trailing("no matching key");
                send(line);
            }
        }
    });
}

fn list(s: &Session, target: &Target) {
    let name = target.name();
    let values = target.values();
    in_batch(s, |send| {
        for (key, value) in &values {
            send(key_value(s, &name, key, Some(value)));
        }
    });
}

/// Why a change was refused.
enum Refused {
    KeyNotSet,
    LimitReached,
}

/// Sets (or, with `None`, removes) `key` on `target`; returns whether it changed.
fn change(target: &Target, key: &str, value: Option<&str>) -> Result<bool, Refused> {
    let apply = |values: &mut BTreeMap<String, String>| match value {
        None => values.remove(key).map(|_| true).ok_or(Refused::KeyNotSet),
        Some(v) => {
            if !values.contains_key(key) && values.len() >= MAX_KEYS {
                return Err(Refused::LimitReached);
            }
            Ok(values.insert(key.to_owned(), v.to_owned()).as_deref() != Some(v))
        }
    };
    match target {
        Target::User(c) => {
            let mut info = c.info.write();
            apply(&mut info.metadata.get_or_insert_default().values)
        }
        Target::Channel(ch) => ch.with_metadata(apply),
    }
}

fn set(s: &Session, target: &Target, key: &str, value: Option<&str>) {
    let name = target.name();
    if !valid_key(key) {
        fail(s, "INVALID_KEY", &[key], "invalid key");
        return;
    }
    if !may_change(s, target) {
        fail(s, "KEY_NO_PERMISSION", &[&name, key], "permission denied");
        return;
    }
    // An empty value removes the key, as no value does.
    let value = value.filter(|v| !v.is_empty());
    if value.is_some_and(|v| v.len() > MAX_VALUE_BYTES || v.contains(['\r', '\n', '\0'])) {
        fail(
            s,
            "VALUE_INVALID",
            &[],
            &format!("a value is at most {MAX_VALUE_BYTES} bytes of text"),
        );
        return;
    }
    match change(target, key, value) {
        Err(Refused::KeyNotSet) => {
            let mut line = numeric(s, ERR_KEYNOTSET);
            line.param(&name).param(key).trailing("key not set");
            s.send_line(line);
        }
        Err(Refused::LimitReached) => fail(s, "LIMIT_REACHED", &[&name], "metadata limit reached"),
        Ok(changed) => {
            s.send_line(key_value(s, &name, key, value));
            if changed {
                let payload = announce(s, target, key, value);
                keep(s, target, key, value);
                tell_network(s, target, key, value, &payload);
            }
        }
    }
}

fn clear(s: &Session, target: &Target) {
    let name = target.name();
    if !may_change(s, target) {
        fail(s, "KEY_NO_PERMISSION", &[&name, "*"], "permission denied");
        return;
    }
    let cleared = match target {
        Target::User(c) => c
            .info
            .write()
            .metadata
            .as_mut()
            .map(|m| std::mem::take(&mut m.values))
            .unwrap_or_default(),
        Target::Channel(ch) => ch.with_metadata(std::mem::take),
    };
    in_batch(s, |send| {
        for key in cleared.keys() {
            send(key_value(s, &name, key, None));
        }
    });
    for key in cleared.keys() {
        let payload = announce(s, target, key, None);
        keep(s, target, key, None);
        tell_network(s, target, key, None, &payload);
    }
}

/// `METADATA <target> <key> * [:<value>]` from `source` (a server or a user).
fn metadata_line(source: &str, target: &str, key: &str, value: Option<&str>) -> LineBuilder {
    let mut line = LineBuilder::new();
    line.source(source)
        .command("METADATA")
        .param(target)
        .param(key)
        .param("*");
    if let Some(v) = value {
        line.trailing(v);
    }
    line
}

/// Tells those who follow `target` and subscribed to `key` of its change (not the one who made
/// it: it has its answer); returns the line.
fn announce(s: &Session, target: &Target, key: &str, value: Option<&str>) -> Payload {
    let source = s.client.source();
    let line = metadata_line(&source, &target.name(), key, value);
    let payload = Payload::only_with(Cap::Metadata, s.outgoing(line));
    let me = s.client.id;
    match target {
        Target::User(c) => {
            let keep = |other: &Client| other.id != me && subscribed(other, key);
            // An operator changing someone else's: that user hears of it too.
            deliver::to_peers(c, &payload, c.id != me && subscribed(c, key), None, keep);
        }
        Target::Channel(ch) => ch.fan_out(&payload, None, None, |m| {
            m.client.id != me && subscribed(&m.client, key)
        }),
    }
    payload
}

/// In a cluster, the other nodes learn of the change: a user's through its presence, a
/// channel's through its log.
fn tell_network(s: &Session, target: &Target, key: &str, value: Option<&str>, line: &Payload) {
    let Some(cluster) = s.state.cluster() else {
        return;
    };
    match target {
        Target::User(c) => cluster.user_metadata(c, key, value, line),
        Target::Channel(ch) => cluster.channel_metadata(ch, key, value, line),
    }
}

/// Another node's user, or a channel followed here, had `key` changed on its node: the value
/// here follows, and those here who subscribed to it hear of it.
pub(crate) fn changed_elsewhere(target: &Target, key: &str, value: Option<&str>, line: &Payload) {
    // Checked on its node; here it can only fail as there (a key already gone).
    let _ = change(target, key, value);
    match target {
        Target::User(ghost) => {
            deliver::to_peers(ghost, line, false, None, |other| subscribed(other, key));
        }
        Target::Channel(ch) => ch.fan_out(line, None, None, |m| subscribed(&m.client, key)),
    }
}

/// Keeps the change in the store when the target is an account's or a registered channel's.
fn keep(s: &Session, target: &Target, key: &str, value: Option<&str>) {
    let store_target = match target {
        Target::User(c) => c
            .info
            .read()
            .account
            .as_deref()
            .map(store_target_of_account),
        Target::Channel(ch) => ch
            .read(|st| st.registration.is_some())
            .then(|| store_target_of_channel(ch)),
    };
    if let Some(target) = store_target {
        s.state.store.write_later(Write::SetMetadata {
            target,
            key: key.to_owned(),
            value: value.map(str::to_owned),
        });
    }
}

fn subscribe(s: &Session, keys: &[String]) {
    let mut ok = Vec::new();
    {
        let mut info = s.client.info.write();
        let subs = &mut info.metadata.get_or_insert_default().subs;
        for key in keys {
            if !valid_key(key) {
                fail(s, "INVALID_KEY", &[key], "invalid key");
                continue;
            }
            if !subs.contains(key) && subs.len() >= MAX_SUBS {
                fail(s, "TOO_MANY_SUBS", &[key], "too many subscriptions");
                break;
            }
            subs.insert(key.clone());
            ok.push(key.as_str());
        }
    }
    key_lists(s, RPL_METADATASUBOK, &ok);
}

fn unsubscribe(s: &Session, keys: &[String]) {
    let mut ok = Vec::new();
    {
        let mut info = s.client.info.write();
        let subs = &mut info.metadata.get_or_insert_default().subs;
        for key in keys {
            if !valid_key(key) {
                fail(s, "INVALID_KEY", &[key], "invalid key");
                continue;
            }
            subs.remove(key);
            ok.push(key.as_str());
        }
    }
    key_lists(s, RPL_METADATAUNSUBOK, &ok);
}

fn list_subs(s: &Session) {
    let subs: Vec<String> = s
        .client
        .info
        .read()
        .metadata
        .as_ref()
        .map(|m| m.subs.iter().cloned().collect())
        .unwrap_or_default();
    let subs: Vec<&str> = subs.iter().map(String::as_str).collect();
    key_lists(s, RPL_METADATASUBS, &subs);
}

/// `keys` in as many `numeric` lines as they need (none for none).
fn key_lists(s: &Session, numeric_code: u16, keys: &[&str]) {
    let mut chunk = String::new();
    let flush = |chunk: &mut String| {
        if !chunk.is_empty() {
            let mut line = numeric(s, numeric_code);
            line.trailing(chunk);
            s.send_line(line);
            chunk.clear();
        }
    };
    for key in keys {
        if chunk.len() + key.len() + 1 > 300 {
            flush(&mut chunk);
        }
        if !chunk.is_empty() {
            chunk.push(' ');
        }
        chunk.push_str(key);
    }
    flush(&mut chunk);
}

/// `METADATA <target> SYNC`: the subscribed keys of a user, or of a channel and its members.
fn sync(s: &mut Session, target: Target) {
    match target {
        Target::User(c) => {
            let subs = subscriptions(&s.client);
            let values = Target::User(c.clone()).values();
            let name = c.nick();
            in_batch(s, |send| {
                for (key, value) in values.iter().filter(|(k, _)| subs.contains(*k)) {
                    send(metadata_line(
                        s.state.name(),
                        &name,
                        key,
                        Some(value.as_str()),
                    ));
                }
            });
        }
        Target::Channel(ch) => start_channel_sync(s, ch),
    }
}

fn subscriptions(client: &Client) -> BTreeSet<String> {
    client
        .info
        .read()
        .metadata
        .as_ref()
        .map(|m| m.subs.clone())
        .unwrap_or_default()
}

/// After a JOIN, or on SYNC: the channel's and its members' values of the keys the client
/// subscribed to, in a `metadata` batch produced as the send queue drains.
pub fn start_channel_sync(s: &mut Session, ch: Arc<Channel>) {
    let subs = subscriptions(&s.client);
    let reply = ChannelSync {
        ch,
        subs,
        next: None,
        batch: s.conn.has_cap(Cap::Batch).then(batch_ref),
    };
    paced::start(s, Box::new(reply));
}

/// After a JOIN: the joiner's values go to the members subscribed to them (as `away-notify`
/// sends a joiner's AWAY).
pub fn announce_joiner(s: &Session, ch: &Arc<Channel>) {
    let values = Target::User(s.client.clone()).values();
    if !values.is_empty() {
        let source = s.client.source();
        let nick = s.nick();
        let me = s.client.id;
        for (key, value) in &values {
            let line = metadata_line(&source, &nick, key, Some(value));
            let payload = Payload::only_with(Cap::Metadata, s.outgoing(line));
            ch.fan_out(&payload, None, None, |m| {
                m.client.id != me && subscribed(&m.client, key)
            });
        }
    }
}

/// After a JOIN's NAMES: the joiner gets the channel's and its members' values of the keys it
/// follows.
pub fn sync_for_joiner(s: &mut Session, ch: &Arc<Channel>) {
    if s.conn.has_cap(Cap::Metadata)
        && s.client
            .info
            .read()
            .metadata
            .as_ref()
            .is_some_and(|m| !m.subs.is_empty())
    {
        start_channel_sync(s, ch.clone());
    }
}

/// Members looked at per lock of the channel.
const MEMBERS_PER_PIECE: usize = 128;

/// A channel's metadata and its members', produced a piece at a time.
#[derive(Debug)]
struct ChannelSync {
    ch: Arc<Channel>,
    subs: BTreeSet<String>,
    /// The next member to look at; `None` before the channel's own values went out.
    next: Option<usize>,
    batch: Option<String>,
}

impl ChannelSync {
    fn send(&self, s: &Session, target: &str, key: &str, value: &str) {
        let line = metadata_line(s.state.name(), target, key, Some(value));
        match &self.batch {
            Some(r) => s.send_bytes(deliver::with_tags(&line.finish(), &format!("batch={r}"))),
            None => s.send_line(line),
        }
    }
}

impl Paced for ChannelSync {
    fn produce(&mut self, s: &Session, until: usize) -> bool {
        let Some(mut next) = self.next else {
            if let Some(r) = &self.batch {
                let mut open = s.server_line("BATCH");
                open.param(&format!("+{r}")).param("metadata");
                s.send_line(open);
            }
            let values = self.ch.read(|st| st.metadata.clone());
            for (key, value) in values.iter().filter(|(k, _)| self.subs.contains(*k)) {
                self.send(s, &self.ch.name(), key, value);
            }
            self.next = Some(0);
            return self.produce(s, until);
        };
        while paced::has_room(s, until) {
            let (found, done) = self.ch.read(|st| {
                let found: Vec<(String, Vec<(String, String)>)> = st
                    .members
                    .iter()
                    .skip(next)
                    .take(MEMBERS_PER_PIECE)
                    .filter_map(|m| {
                        let info = m.client.info.read();
                        let values: Vec<(String, String)> = info
                            .metadata
                            .as_ref()?
                            .values
                            .iter()
                            .filter(|(k, _)| self.subs.contains(*k))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        (!values.is_empty()).then(|| (info.nick.clone(), values))
                    })
                    .collect();
                next = (next + MEMBERS_PER_PIECE).min(st.members.len());
                (found, next >= st.members.len())
            });
            for (nick, values) in found {
                for (key, value) in values {
                    self.send(s, &nick, &key, &value);
                }
            }
            self.next = Some(next);
            if done {
                if let Some(r) = &self.batch {
                    s.send_bytes(Line::from(format!(":{} BATCH -{r}\r\n", s.state.name())));
                }
                return false;
            }
        }
        true
    }
}

/// When a client gets the capability (at registration, or by CAP REQ later): its own metadata
/// in a `metadata` batch (empty if it has none), as the spec asks.
pub fn on_enabled(s: &Session) {
    let values = Target::User(s.client.clone()).values();
    let nick = s.nick();
    in_batch(s, |send| {
        for (key, value) in &values {
            send(metadata_line(s.state.name(), &nick, key, Some(value)));
        }
    });
}

/// After a log-in: the account's kept metadata becomes the user's (what it set before, on any
/// device; keys set in this session stay), read from the store in the background. The user
/// hears of it if it has the capability, and those who follow it if they subscribed.
pub fn load_for_account(state: &Arc<State>, client: &Arc<Client>, account: &str) {
    let target = store_target_of_account(account);
    let (state, client) = (state.clone(), client.clone());
    tokio::spawn(async move {
        let Ok(kept) = state.store.metadata(target).await else {
            return;
        };
        let added: Vec<(String, String)> = {
            let mut info = client.info.write();
            let values = &mut info.metadata.get_or_insert_default().values;
            let mut added = Vec::new();
            for (key, value) in kept {
                if !values.contains_key(&key) {
                    values.insert(key.clone(), value.clone());
                    added.push((key, value));
                }
            }
            added
        };
        let source = client.source();
        let nick = client.nick();
        for (key, value) in &added {
            let line = metadata_line(&source, &nick, key, Some(value));
            let payload = Payload::only_with(Cap::Metadata, Outgoing::new(line));
            let own = client.has_cap(Cap::Metadata) && client.info.read().registered;
            deliver::to_peers(&client, &payload, own, None, |other: &Client| {
                other.id != client.id && subscribed(other, key)
            });
        }
    });
}

/// WHOIS: the keys a person reads (RPL_WHOISKEYVALUE).
pub fn whois(s: &Session, target: &Client) {
    let (nick, shown): (String, Vec<(&str, String)>) = {
        let info = target.info.read();
        let shown = info
            .metadata
            .as_ref()
            .map(|m| {
                WHOIS_KEYS
                    .iter()
                    .filter_map(|k| m.values.get(*k).map(|v| (*k, v.clone())))
                    .collect()
            })
            .unwrap_or_default();
        (info.nick.clone(), shown)
    };
    for (key, value) in shown {
        s.num(RPL_WHOISKEYVALUE)
            .p(&nick)
            .p(key)
            .p("*")
            .t(&value)
            .send();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        for good in ["display-name", "avatar", "im.xmpp", "a:b", "x_1"] {
            assert!(valid_key(good), "{good}");
        }
        for bad in [
            "",
            ":x",
            "$url$",
            "con espacio",
            "ñ",
            &"k".repeat(65),
            "Upper",
        ] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
