//! History on the server's side: what a message's entry holds, whose conversation it belongs
//! to, and how a stored entry is replayed to a client.
//!
//! **Durable before delivered.** A channel or private message is appended to the store's write
//! queue while the channel's lock is held (so the store's order is the order members see) and
//! delivered only once its group commit is done (see `Channel::message` and
//! `Channel::deliver_committed`). The sender's connection waits for that commit before it reads
//! its next line: a sender cannot outrun the disk, and the queue of waiting messages is bounded
//! by the number of senders. A write that fails is never delivered; its sender gets
//! `FAIL <command> MESSAGE_ERROR`.
//!
//! Events (JOIN, PART, QUIT, KICK, NICK, TOPIC) are kept for `draft/event-playback`
//! without holding anyone up: they are queued in the same order but nobody waits for them.
//! A REDACT is the exception: it deletes the message it names from the store
//! ([`charla_store::Write::Redact`]) and is kept in its place as an event, committed before
//! anyone is told, like a message; it is replayed to clients with both `draft/event-playback`
//! and `draft/message-redaction`.
//!
//! Private conversations are keyed by their two parties: their accounts when logged in (a
//! `~`-prefixed nick otherwise), folded and sorted, so either side finds the same key. Only a
//! logged-in party may read one back.

use charla_proto::casemap::casefold;
use charla_store::{HistoryRecord, StoreHandle, TargetKind, Write};

use crate::caps::{Cap, CapSet};
use crate::client::Client;
use crate::command::multiline;
use crate::config::Config;
use crate::msgid::MsgIds;
use crate::outbound::{Line, Outgoing};
use crate::state::State;
use crate::timefmt;

/// The most lines one CHATHISTORY request returns (ISUPPORT `CHATHISTORY`): the configured
/// maximum, and never more than a client's send queue holds (a replayed line is at most about
/// a kilobyte), so that an answer is never bigger than the asker can take.
pub fn request_limit(config: &Config) -> usize {
    config
        .history
        .max_request
        .min(config.limits.sendq_bytes / 1024)
        .max(1)
}

/// How often history is pruned (and once when the server starts).
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// One pruning rule: which targets, and what of them stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// One target (a channel's key), or `None` for every target of `kind` but `except`.
    target: Option<String>,
    kind: TargetKind,
    except: Vec<String>,
    /// Days kept, if limited.
    days: Option<u64>,
    /// Messages kept per target, if limited.
    count: Option<u64>,
}

/// The pruning rules the retention settings make: one per channel with a rule of its own, one
/// for private conversations if they have one, and the server's for the rest; `None` when
/// nothing is ever pruned.
pub fn retention(config: &Config) -> Option<Vec<Rule>> {
    let h = &config.history;
    if !h.enabled {
        return None;
    }
    let limit = |n: u64| (n > 0).then_some(n);
    let mut rules = Vec::new();
    let mut own = Vec::new();
    let mut private = None;
    for (name, r) in &h.retention {
        if name.eq_ignore_ascii_case("private") {
            private = Some(*r);
            continue;
        }
        let key = casefold(name).into_owned();
        own.push(key.clone());
        rules.push(Rule {
            target: Some(key),
            kind: TargetKind::All,
            except: Vec::new(),
            days: limit(r.days),
            count: limit(r.count),
        });
    }
    let kind = match private {
        Some(r) => {
            rules.push(Rule {
                target: None,
                kind: TargetKind::Private,
                except: Vec::new(),
                days: limit(r.days),
                count: limit(r.count),
            });
            TargetKind::Channels
        }
        None => TargetKind::All,
    };
    rules.push(Rule {
        target: None,
        kind,
        except: own,
        days: limit(h.retention_days),
        count: limit(h.retention_count),
    });
    rules.retain(|r| r.days.is_some() || r.count.is_some());
    (!rules.is_empty()).then_some(rules)
}

/// Prunes history by the retention rules once.
pub async fn prune(state: &State, rules: &[Rule]) {
    let now = timefmt::unix_millis(std::time::SystemTime::now());
    let day_ms = 86_400_000_i64;
    for rule in rules {
        let before_ms = rule.days.map(|d| {
            now.saturating_sub(i64::try_from(d).unwrap_or(i64::MAX).saturating_mul(day_ms))
        });
        let pruned = state
            .store
            .write(Write::PruneHistory {
                target: rule.target.clone(),
                kind: rule.kind,
                except: rule.except.clone(),
                before_ms,
                keep_last: rule.count,
            })
            .await;
        if let Err(error) = pruned {
            tracing::warn!(%error, "history could not be pruned");
        }
    }
}

/// Prunes history every [`PRUNE_EVERY`] (the server prunes once before it starts), until
/// shutdown.
pub async fn keep_pruning(
    state: std::sync::Arc<State>,
    rules: Vec<Rule>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(PRUNE_EVERY) => prune(&state, &rules).await,
            _ = shutdown.changed() => return,
        }
    }
}

/// Who a party of a private conversation is: its folded account, or `~` and its folded nick.
pub fn identity(nick: &str, account: Option<&str>) -> String {
    match account {
        Some(account) => casefold(account).into_owned(),
        None => format!("~{}", casefold(nick)),
    }
}

/// The key of the private conversation between two parties (see [`identity`]): the same
/// whichever side asks. A space never occurs in nicks or accounts, and channel keys start with
/// `#` or `&`, so keys cannot meet.
pub fn conversation_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a} {b}")
    } else {
        format!("{b} {a}")
    }
}

/// The entry of a relayed line: `out` carries its id, time and client tags.
pub fn entry(
    target: String,
    out: &Outgoing,
    command: &str,
    source: &str,
    account: Option<&str>,
    params: Vec<String>,
) -> HistoryRecord {
    HistoryRecord {
        seq: 0,
        target,
        msgid: out.msgid().unwrap_or_default().to_owned(),
        time_ms: timefmt::unix_millis(out.time()),
        command: command.to_owned(),
        source: source.to_owned(),
        account: account.map(str::to_owned),
        tags: out.client_tags().to_owned(),
        params,
    }
}

/// An event (JOIN, PART, QUIT, KICK, NICK, TOPIC) to keep in the history of each channel it
/// happens in, for `draft/event-playback`. The channel records it while it holds its lock, so
/// that it lands among the channel's messages where members saw it; nobody waits for it.
#[derive(Debug)]
pub struct Event<'a> {
    store: &'a StoreHandle,
    msgids: &'a MsgIds,
    command: &'static str,
    source: String,
    account: Option<String>,
    params: Vec<String>,
    /// Kept through the channel's log ([`Event::through_log`]): recorded here when the
    /// channel takes it, for its node to put in the log.
    held: Option<parking_lot::Mutex<Vec<HistoryRecord>>>,
}

impl<'a> Event<'a> {
    /// `command` with `params` by `client`, or `None` when the server keeps no history.
    pub fn new(
        state: &'a State,
        client: &Client,
        command: &'static str,
        params: Vec<String>,
    ) -> Option<Self> {
        if !state.config.history.enabled {
            return None;
        }
        let (source, account) = {
            let info = client.info.read();
            (info.source(&client.host), info.account.clone())
        };
        Some(Event {
            store: &state.store,
            msgids: &state.msgids,
            command,
            source,
            account,
            params,
            held: None,
        })
    }

    /// The same event by the server itself (an operator's action from the console).
    pub fn by_server(state: &'a State, command: &'static str, params: Vec<String>) -> Option<Self> {
        state.config.history.enabled.then(|| Event {
            store: &state.store,
            msgids: &state.msgids,
            command,
            source: state.name().to_owned(),
            account: None,
            params,
            held: None,
        })
    }

    /// In a cluster that reaches NATS, the event goes into history through the channel's log
    /// (JOIN, PART, KICK, TOPIC; QUIT and NICK through each of the user's channels' logs):
    /// every node following the channel keeps it, in the log's order among the channel's
    /// messages ([`crate::cluster::Cluster::joined`] and the like take it with
    /// [`Event::take_held`], [`crate::cluster::Cluster::events_held`] with
    /// [`Event::take_all_held`]).
    pub fn through_log(mut self, state: &State) -> Self {
        if state.cluster().is_some_and(|c| c.connected()) {
            self.held = Some(parking_lot::Mutex::new(Vec::new()));
        }
        self
    }

    /// The entry held for the channel's log, if the event goes through it (the last one, for
    /// an event of one channel).
    pub fn take_held(&self) -> Option<HistoryRecord> {
        self.held.as_ref().and_then(|held| held.lock().pop())
    }

    /// Every entry held for the channels' logs (an event of each of a user's channels: QUIT,
    /// NICK), each with its channel's key as its target.
    pub fn take_all_held(&self) -> Vec<HistoryRecord> {
        self.held
            .as_ref()
            .map(|held| std::mem::take(&mut *held.lock()))
            .unwrap_or_default()
    }

    /// The same event with another source (a NICK change is told as the old `nick!user@host`).
    pub fn by(mut self, source: &str) -> Self {
        self.source = source.to_owned();
        self
    }

    /// Keeps it in the history of the conversation `key`, with an id of its own (or holds it
    /// for the channel's log: [`Event::through_log`]).
    pub fn record(&self, key: String) {
        let now = std::time::SystemTime::now();
        let entry = HistoryRecord {
            seq: 0,
            target: key,
            msgid: self.msgids.next(now),
            time_ms: timefmt::unix_millis(now),
            command: self.command.to_owned(),
            source: self.source.clone(),
            account: self.account.clone(),
            tags: String::new(),
            params: self.params.clone(),
        };
        match &self.held {
            Some(held) => held.lock().push(entry),
            None => self.store.write_later(Write::Append(entry)),
        }
    }
}

/// Whether an entry is a message (what CHATHISTORY always returns) rather than an event (only
/// for `draft/event-playback` clients).
pub fn is_message(command: &str) -> bool {
    matches!(command, "PRIVMSG" | "NOTICE" | "TAGMSG")
}

/// `rec` as a line for a client with `caps`, inside batch `batch`: with its time and id, and
/// its account and client tags as the client's capabilities allow. `None` for what the client
/// cannot take (TAGMSG without `message-tags`, events without `draft/event-playback`).
pub fn replay_line(rec: &HistoryRecord, caps: CapSet, batch: Option<&str>) -> Option<Line> {
    let message_tags = caps.has(Cap::MessageTags);
    if rec.command == "TAGMSG" && !message_tags {
        return None;
    }
    if !is_message(&rec.command) && !caps.has(Cap::EventPlayback) {
        return None;
    }
    // A redaction only to those who understand it (the spec forbids it to the others).
    if rec.command == "REDACT" && !caps.has(Cap::MessageRedaction) {
        return None;
    }
    if is_message(&rec.command)
        && let Some((parts, client_tags)) = multiline::from_entry(rec)
    {
        return Some(replay_multiline(rec, caps, batch, &parts, &client_tags));
    }
    let tags = replay_tags(rec, caps, batch, &rec.tags, true);
    let mut line = charla_proto::LineBuilder::new();
    line.source(&rec.source).command(&rec.command);
    if let Some((last, middle)) = rec.params.split_last() {
        for p in middle {
            line.param(p);
        }
        line.trailing(last);
    }
    Some(Line::new(tagged(&tags, &line.finish())))
}

/// The tags of a replayed line: its time and batch, and, as the client's capabilities allow,
/// its id (`with_id`), account and client tags.
fn replay_tags(
    rec: &HistoryRecord,
    caps: CapSet,
    batch: Option<&str>,
    client_tags: &str,
    with_id: bool,
) -> String {
    let message_tags = caps.has(Cap::MessageTags);
    let mut tags = format!(
        "time={}",
        timefmt::iso8601(timefmt::from_unix_millis(rec.time_ms))
    );
    if let Some(batch) = batch {
        tags.push_str(";batch=");
        tags.push_str(batch);
    }
    if with_id && message_tags && !rec.msgid.is_empty() {
        tags.push_str(";msgid=");
        tags.push_str(&rec.msgid);
    }
    if let Some(account) = rec.account.as_deref().filter(|_| caps.has(Cap::AccountTag)) {
        tags.push_str(";account=");
        tags.push_str(&charla_proto::tags::escape(account));
    }
    if with_id && message_tags && !client_tags.is_empty() {
        tags.push(';');
        tags.push_str(client_tags);
    }
    tags
}

/// `@<tags> <body>`.
fn tagged(tags: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tags.len() + 2 + body.len());
    out.push(b'@');
    out.extend_from_slice(tags.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body);
    out
}

/// A multiline message from history: as a `draft/multiline` batch inside `batch` for a client
/// with the capability, else its lines one by one (each in `batch`, the id on the first only).
fn replay_multiline(
    rec: &HistoryRecord,
    caps: CapSet,
    batch: Option<&str>,
    parts: &[multiline::Part],
    client_tags: &str,
) -> Line {
    let target = rec.params.first().map_or("", String::as_str);
    let (inner, fallback) = multiline::encode(&rec.source, &rec.command, target, parts);
    let tags = replay_tags(rec, caps, batch, client_tags, true);
    if caps.has(Cap::Multiline) && caps.has(Cap::Batch) {
        // The whole inner batch, its opening line tagged; its closing line belongs to the
        // outer batch too.
        let body = inner.body();
        let mut out = tagged(&tags, body);
        if let Some(outer) = batch
            && let Some(close) = out.windows(2).rposition(|w| w == b"\r\n").and_then(|end| {
                out[..end]
                    .windows(2)
                    .rposition(|w| w == b"\r\n")
                    .map(|i| i + 2)
            })
        {
            let prefix = format!("@batch={outer} ");
            out.splice(close..close, prefix.bytes());
        }
        return Line::new(out);
    }
    let rest = replay_tags(rec, caps, batch, client_tags, false);
    let mut out = Vec::new();
    for (i, line) in fallback.body().split_inclusive(|b| *b == b'\n').enumerate() {
        out.extend_from_slice(&tagged(if i == 0 { &tags } else { &rest }, line));
    }
    Line::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_rules_put_each_target_under_one_rule() {
        let mut config = Config::default();
        assert_eq!(retention(&config), None, "keep everything");
        config.history.retention_days = 30;
        let rule = |target: Option<&str>, kind, except: &[&str], days, count| Rule {
            target: target.map(str::to_owned),
            kind,
            except: except.iter().map(|t| (*t).to_owned()).collect(),
            days,
            count,
        };
        assert_eq!(
            retention(&config),
            Some(vec![rule(None, TargetKind::All, &[], Some(30), None)])
        );
        let own = |days, count| crate::config::Retention { days, count };
        config
            .history
            .retention
            .insert("#Ayuda".to_owned(), own(0, 0));
        config
            .history
            .retention
            .insert("#ops".to_owned(), own(7, 0));
        config
            .history
            .retention
            .insert("private".to_owned(), own(0, 500));
        assert_eq!(
            retention(&config),
            Some(vec![
                // #ayuda keeps everything: no rule, but the server's passes it by.
                rule(Some("#ops"), TargetKind::All, &[], Some(7), None),
                rule(None, TargetKind::Private, &[], None, Some(500)),
                rule(
                    None,
                    TargetKind::Channels,
                    &["#ayuda", "#ops"],
                    Some(30),
                    None
                ),
            ])
        );
        config.history.enabled = false;
        assert_eq!(retention(&config), None);
    }

    #[test]
    fn conversation_keys_are_the_same_from_both_sides() {
        let a = identity("Ana", Some("Ana"));
        let b = identity("Beto", None);
        assert_eq!(a, "ana");
        assert_eq!(b, "~beto");
        assert_eq!(conversation_key(&a, &b), conversation_key(&b, &a));
    }

    #[test]
    fn replayed_lines_carry_what_the_client_takes() {
        let rec = HistoryRecord {
            seq: 1,
            target: "#a".to_owned(),
            msgid: "01ABC".to_owned(),
            time_ms: 1_700_000_000_123,
            command: "PRIVMSG".to_owned(),
            source: "ana!a@h".to_owned(),
            account: Some("ana".to_owned()),
            tags: "+draft/reply=x".to_owned(),
            params: vec!["#a".to_owned(), "¿hola?".to_owned()],
        };
        let all = CapSet(Cap::MessageTags.bit() | Cap::AccountTag.bit());
        let line = replay_line(&rec, all, Some("b1")).expect("a message");
        assert_eq!(
            String::from_utf8_lossy(&line),
            "@time=2023-11-14T22:13:20.123Z;batch=b1;msgid=01ABC;account=ana;+draft/reply=x \
             :ana!a@h PRIVMSG #a :¿hola?\r\n"
        );
        let plain = replay_line(&rec, CapSet::default(), None).expect("a message");
        assert!(plain.starts_with(b"@time=2023-11-14T22:13:20.123Z :ana!a@h"));
        let join = HistoryRecord {
            command: "JOIN".to_owned(),
            params: vec!["#a".to_owned()],
            ..rec
        };
        assert!(replay_line(&join, all, None).is_none());
        assert!(replay_line(&join, CapSet(Cap::EventPlayback.bit()), None).is_some());
    }
}
