//! REDACT (<https://ircv3.net/specs/extensions/message-redaction>): deletes a message of a
//! channel or of a private conversation.
//!
//! `REDACT <target> <msgid> [:<reason>]`. Who may:
//! - the message's **sender**, within `[history] redact_window_secs` of sending it (0: always).
//!   The sender is recognised by account when the message was sent logged in (the same
//!   account, from any connection), else by the very `nick!user@host` it was sent from;
//! - a **channel operator** of the channel, for any message there, at any time;
//! - an **IRC operator**, for any message of a channel (even without being a member) or of
//!   their own private conversations, at any time.
//!
//! Refusals are the spec's: `FAIL REDACT INVALID_TARGET` (no such channel, not a member, or a
//! private conversation the server cannot name), `UNKNOWN_MSGID` (no such message there, or
//! one from before the asker's view of the channel's history, so that REDACT tells nobody
//! what CHATHISTORY would not), `REDACT_FORBIDDEN`, `REDACT_WINDOW_EXPIRED`.
//!
//! A redaction is a deletion: the message's entry leaves the store (its text, tags and search
//! index entry) in the same write that keeps the REDACT as an event in its place
//! ([`charla_store::Write::Redact`]). Like a message, it is committed before anyone sees it;
//! then it goes to the conversation's clients that have `draft/message-redaction` (channel
//! members, or the other party), and back to its sender with `echo-message`. Clients without the
//! capability get nothing: the spec leaves a fallback to the server, and a NOTICE per deletion
//! would be noise.

use std::sync::Arc;
use std::time::SystemTime;

use charla_proto::LineBuilder;
use charla_proto::casemap::casefold;
use charla_proto::validate::is_channel_name;
use charla_store::{Anchor, Conflict, HistoryQuery, HistoryRecord, Kinds, StoreHandle, Write};

use crate::caps::Cap;
use crate::channel::Channel;
use crate::client::Client;
use crate::command::Flow;
use crate::command::privmsg::DeliverIfDropped;
use crate::command::table::Owned;
use crate::config::BeforeJoin;
use crate::deliver::{self, Payload};
use crate::history;
use crate::msgid;
use crate::outbound::Outgoing;
use crate::session::Session;
use crate::timefmt;

/// Where the message is, as the asker may reach it.
enum Place {
    /// A channel: the asker's rights there, and from when they may see its history.
    Channel {
        channel: Arc<Channel>,
        operator: bool,
        since: Option<i64>,
    },
    /// A private conversation with a user online (or an account): who gets the REDACT.
    Private {
        key: String,
        peer: Option<Arc<Client>>,
        shown: String,
    },
}

/// `REDACT <target> <msgid> [:<reason>]`.
pub async fn redact(s: &mut Session, p: Owned<2>) -> Flow {
    let [target, msgid] = &p.req;
    let reason = p.get(2).filter(|r| !r.is_empty()).map(str::to_owned);
    if !s.state.config.history.enabled {
        // Without history nobody can tell who sent what.
        fail(
            s,
            "INVALID_TARGET",
            &[target],
            "This server keeps no history to delete from",
        );
        return Flow::Continue;
    }
    let (nick, source, account) = {
        let info = s.client.info.read();
        (
            info.nick.clone(),
            info.source(&s.client.host),
            info.account.clone(),
        )
    };
    let irc_operator = s.client.is_oper();
    let Some(place) = place(s, target, &nick, account.as_deref(), irc_operator) else {
        fail(
            s,
            "INVALID_TARGET",
            &[target],
            &format!("You cannot delete messages from {target}"),
        );
        return Flow::Continue;
    };
    let key = match &place {
        Place::Channel { channel, .. } => channel.key(),
        Place::Private { key, .. } => key.clone(),
    };
    let unknown = |s: &Session| {
        fail(
            s,
            "UNKNOWN_MSGID",
            &[target, msgid],
            "This message does not exist or is too old",
        );
    };
    if !msgid::looks_valid(msgid) {
        unknown(s);
        return Flow::Continue;
    }
    let Some(entry) = (match find(&s.state.store, &key, msgid).await {
        Ok(entry) => entry,
        Err(()) => {
            internal_error(s, target);
            return Flow::Continue;
        }
    }) else {
        unknown(s);
        return Flow::Continue;
    };
    let own = match (&entry.account, &account) {
        (Some(theirs), Some(mine)) => casefold(theirs) == casefold(mine),
        (Some(_), None) => false,
        (None, _) => casefold(&entry.source) == casefold(&source),
    };
    let (moderator, since) = match &place {
        Place::Channel {
            operator, since, ..
        } => (*operator || irc_operator, *since),
        Place::Private { .. } => (irc_operator, None),
    };
    if !own && !moderator {
        if since.is_some_and(|since| entry.time_ms < since) {
            unknown(s);
        } else {
            fail(
                s,
                "REDACT_FORBIDDEN",
                &[target, msgid],
                "You are not authorised to delete this message",
            );
        }
        return Flow::Continue;
    }
    let window = s.state.config.history.redact_window_secs;
    if !moderator && window > 0 {
        let now = timefmt::unix_millis(SystemTime::now());
        let window_ms = i64::try_from(window.saturating_mul(1000)).unwrap_or(i64::MAX);
        if now.saturating_sub(entry.time_ms) > window_ms {
            fail(
                s,
                "REDACT_WINDOW_EXPIRED",
                &[target, msgid, &window.to_string()],
                "You can no longer delete this message",
            );
            return Flow::Continue;
        }
    }

    let shown = match &place {
        Place::Channel { channel, .. } => channel.name(),
        Place::Private { shown, .. } => shown.clone(),
    };
    let now = SystemTime::now();
    let mut line = LineBuilder::new();
    line.source(&source)
        .command("REDACT")
        .param(&shown)
        .param(msgid);
    if let Some(reason) = &reason {
        line.trailing(reason);
    }
    let out = s
        .tagged(Outgoing::new(line))
        .with_msgid(s.state.msgids.next(now), now);
    let mut params = vec![shown.clone(), msgid.clone()];
    params.extend(reason.clone());
    let redaction = history::entry(key, &out, "REDACT", &source, account.as_deref(), params);
    // In a cluster, the other nodes are told once this node has recorded it.
    let logged = s
        .state
        .cluster()
        .map(|cluster| (cluster.clone(), redaction.clone()));
    let write = Write::Redact {
        msgid: msgid.clone(),
        redaction,
    };
    let payload = Payload::only_with(Cap::MessageRedaction, out);
    let echo = s.conn.has_cap(Cap::EchoMessage);

    let outcome = match &place {
        Place::Channel { channel, .. } => {
            let receipt =
                match channel.relay_recorded(&s.state.store, write, payload.clone(), s.from()) {
                    Ok(receipt) => receipt,
                    Err(_) => {
                        internal_error(s, target);
                        return Flow::Continue;
                    }
                };
            let mut guard = DeliverIfDropped(Some((channel.clone(), receipt.clone())));
            let outcome = receipt.wait().await;
            guard.0 = None;
            channel.deliver_committed(Some(s.actor()));
            outcome
        }
        Place::Private { .. } => match s.state.store.append(write) {
            Ok(receipt) => receipt.wait().await,
            Err(error) => {
                if let Some(skipped) = crate::logtext::STORE_REFUSALS.admit() {
                    tracing::warn!(%error, skipped, "a REDACT was refused: the store cannot take it");
                }
                internal_error(s, target);
                return Flow::Continue;
            }
        },
    };
    match outcome {
        Ok(Ok(())) => {
            if let (Some((cluster, redaction)), Place::Channel { channel, .. }) = (logged, &place) {
                cluster.redacted(channel, &s.client, msgid, &redaction, &payload);
            }
        }
        // Deleted by someone else meanwhile.
        Ok(Err(Conflict::NotFound)) => {
            unknown(s);
            return Flow::Continue;
        }
        _ => {
            internal_error(s, target);
            return Flow::Continue;
        }
    }
    if let Place::Private {
        peer: Some(peer), ..
    } = &place
        && peer.id != s.client.id
    {
        deliver::to_client(peer, &payload, Some(s.actor()));
    }
    match place {
        // The members' copies, the sender's other devices among them, went with the channel.
        Place::Channel { .. } if echo => {
            deliver::to_connection(&s.conn, &payload, Some(s.actor()));
        }
        Place::Channel { .. } => {}
        Place::Private { .. } => {
            deliver::to_sender(&s.client, &payload, Some(s.actor()), s.conn.id, echo);
        }
    }
    Flow::Continue
}

/// The conversation `target` names and the asker's rights in it, or `None` when the asker
/// cannot delete anything there.
fn place(
    s: &Session,
    target: &str,
    nick: &str,
    account: Option<&str>,
    irc_operator: bool,
) -> Option<Place> {
    if is_channel_name(target) {
        let channel = s.state.channel(target)?;
        let (registered, member) = channel.read(|st| {
            (
                st.registration.is_some(),
                st.member(s.client.id).map(|m| (m.op, m.joined_ms)),
            )
        });
        let (operator, since) = match member {
            Some((op, joined)) => {
                let since = match s.state.config.history.before_join {
                    BeforeJoin::Always => None,
                    BeforeJoin::Registered if registered => None,
                    BeforeJoin::Registered | BeforeJoin::Never => Some(joined),
                };
                (op, since)
            }
            None if irc_operator => (false, None),
            None => return None,
        };
        return Some(Place::Channel {
            channel,
            operator,
            since,
        });
    }
    // The key as PRIVMSG made it: both parties as they are now (the other party's account
    // when they are offline).
    let me = history::identity(nick, account);
    let (them, peer, shown) = match s
        .state
        .find_nick(target)
        .filter(|c| c.info.read().registered)
    {
        Some(c) => {
            let (their_nick, their_account) = {
                let info = c.info.read();
                (info.nick.clone(), info.account.clone())
            };
            (
                history::identity(&their_nick, their_account.as_deref()),
                Some(c),
                their_nick,
            )
        }
        None => (casefold(target).into_owned(), None, target.to_owned()),
    };
    Some(Place::Private {
        key: history::conversation_key(&me, &them),
        peer,
        shown,
    })
}

/// The message `msgid` of conversation `key` (`Ok(None)`: not a message there).
async fn find(store: &StoreHandle, key: &str, msgid: &str) -> Result<Option<HistoryRecord>, ()> {
    let query = HistoryQuery::Around(Anchor::Msgid(msgid.to_owned()));
    match store.history_of(key, query, 1, Kinds::Messages).await {
        Ok(found) => Ok(found
            .unwrap_or_default()
            .into_iter()
            .find(|e| e.msgid == msgid)),
        Err(error) => {
            tracing::warn!(%error, "REDACT could not read the store");
            Err(())
        }
    }
}

/// `FAIL REDACT <code> <params...> :<text>`.
fn fail(s: &Session, code: &str, params: &[&str], text: &str) {
    let mut line = s.server_line("FAIL");
    line.param("REDACT").param(code);
    for p in params {
        line.param(p);
    }
    line.trailing(text);
    s.send_line(line);
}

/// The store failed: nothing was deleted.
fn internal_error(s: &Session, target: &str) {
    fail(
        s,
        "INTERNAL_ERROR",
        &[target],
        "The message could not be deleted; try again later",
    );
}
