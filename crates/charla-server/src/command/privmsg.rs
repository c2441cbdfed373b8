//! PRIVMSG, NOTICE and TAGMSG (<https://modern.ircdocs.horse/#privmsg-message>,
//! <https://ircv3.net/specs/extensions/message-tags>): to channels (also `@#chan` / `+#chan`,
//! ISUPPORT STATUSMSG), to nicks, several targets at once, and `$mask` for operators.
//!
//! A channel line is encoded once and pushed to every member while the channel's lock is held,
//! which is what gives every member the same order. NOTICE never gets an error reply, as the
//! spec asks, so that two bots cannot loop.

use std::time::{Instant, SystemTime};

use charla_proto::LineBuilder;
use charla_proto::casemap::casefold;
use charla_proto::message::Tag;
use charla_proto::numeric::{
    ERR_CANNOTSENDTOCHAN, ERR_NORECIPIENT, ERR_NOSUCHNICK, ERR_NOTEXTTOSEND, ERR_TOOMANYTARGETS,
    RPL_AWAY,
};
use charla_proto::validate::is_channel_name;

use std::sync::Arc;

use charla_store::{HistoryRecord, Receipt, Write};

use crate::account::services::{self, Service};
use crate::caps::Cap;
use crate::channel::{Channel, Denied, Message, Sent};
use crate::command::committing::{self, Committed, not_recorded};
use crate::command::table::Args;
use crate::command::{Flow, Pending, Wait, multiline, oper, split_list};
use crate::deliver::{self, Payload};
use crate::event::{MessageKind, ServerEvent};
use crate::history;
use crate::outbound::Outgoing;
use crate::session::Session;

/// Which of the three commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PRIVMSG.
    Privmsg,
    /// NOTICE.
    Notice,
    /// TAGMSG (tags only, no text).
    Tagmsg,
}

impl Kind {
    pub(crate) fn command(self) -> &'static str {
        match self {
            Kind::Privmsg => "PRIVMSG",
            Kind::Notice => "NOTICE",
            Kind::Tagmsg => "TAGMSG",
        }
    }
}

/// `PRIVMSG <target>{,<target>} <text>`.
pub fn privmsg(s: &mut Session, p: Args<'_, 0>) -> Flow {
    message(s, p.all(), p.tags(), Kind::Privmsg)
}

/// `NOTICE <target>{,<target>} <text>`.
pub fn notice(s: &mut Session, p: Args<'_, 0>) -> Flow {
    message(s, p.all(), p.tags(), Kind::Notice)
}

/// `TAGMSG <target>{,<target>}`.
pub fn tagmsg(s: &mut Session, p: Args<'_, 1>) -> Flow {
    message(s, p.all(), p.tags(), Kind::Tagmsg)
}

/// What a message says: one line of text, or the lines of a multiline batch.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// One line (empty for TAGMSG).
    Text(&'a str),
    /// The lines of a `draft/multiline` batch, as the client composed them.
    Lines(&'a [multiline::Part]),
}

impl Body<'_> {
    /// The first line (what a CTCP would start with).
    fn first_line(&self) -> &str {
        match self {
            Body::Text(text) => text,
            Body::Lines(parts) => parts.first().map_or("", |p| p.text.as_str()),
        }
    }

    /// The whole text: a multiline batch's lines joined as the spec says.
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Body::Text(text) => (*text).into(),
            Body::Lines(parts) => multiline::joined(parts).into(),
        }
    }
}

/// `PRIVMSG|NOTICE <target>{,<target>} <text>` and `TAGMSG <target>{,<target>}`.
pub fn message<'a>(
    s: &mut Session,
    params: &[&str],
    tags: impl Iterator<Item = Tag<'a>>,
    kind: Kind,
) -> Flow {
    let errors = kind != Kind::Notice;
    let Some(targets) = params.first().copied().filter(|t| !t.is_empty()) else {
        if errors {
            s.num(ERR_NORECIPIENT)
                .t(&format!("No recipient given ({})", kind.command()))
                .send();
        }
        return Flow::Continue;
    };
    let text = params.get(1).copied().unwrap_or("");
    if kind != Kind::Tagmsg && text.is_empty() {
        if errors {
            s.num(ERR_NOTEXTTOSEND).t("No text to send").send();
        }
        return Flow::Continue;
    }
    // A line to a service is the service's business: never relayed, never logged (it may
    // hold a password).
    if kind == Kind::Privmsg
        && let Some(service) = Service::named(targets)
    {
        return services::to_service(service, text);
    }
    let client_tags: Vec<(String, String)> = tags
        .filter(|t| t.key.starts_with('+'))
        .map(|t| (t.key.to_owned(), t.value.into_owned()))
        .collect();
    if kind == Kind::Tagmsg && client_tags.is_empty() {
        // Nothing to relay.
        return Flow::Continue;
    }
    send(s, targets, &client_tags, kind, Body::Text(text))
}

/// A message's body, owned (to send it once the cluster has answered).
enum OwnedBody {
    Text(String),
    Lines(Vec<multiline::Part>),
}

impl OwnedBody {
    fn of(body: Body<'_>) -> Self {
        match body {
            Body::Text(text) => OwnedBody::Text(text.to_owned()),
            Body::Lines(parts) => OwnedBody::Lines(parts.to_vec()),
        }
    }

    fn body(&self) -> Body<'_> {
        match self {
            OwnedBody::Text(text) => Body::Text(text),
            OwnedBody::Lines(parts) => Body::Lines(parts),
        }
    }
}

/// In a cluster, the channels among `targets` (at most `max`) that have no member here.
fn unknown_channels(s: &Session, targets: &str, max: usize) -> Vec<String> {
    if s.state.cluster().is_none() {
        return Vec::new();
    }
    let mut unknown: Vec<String> = Vec::new();
    for target in split_list(targets).take(max) {
        let name = match target.strip_prefix(['@', '+']) {
            Some(rest) if is_channel_name(rest) => rest,
            _ => target,
        };
        if !is_channel_name(name) || s.state.channel(name).is_some() {
            continue;
        }
        let key = casefold(name).into_owned();
        if !unknown.contains(&key) {
            unknown.push(key);
        }
    }
    unknown
}

/// Sends `body` to each of `targets` (checked: not empty, not a service).
///
/// In a cluster, a channel with no member here may have members on other nodes: it is looked
/// up there first (its members, modes and lists, [`crate::cluster::Cluster::view`]), and the
/// message is checked against that view and logged into the channel's log like any other
/// (a message from outside, where `-n` allows it).
pub fn send(
    s: &mut Session,
    targets: &str,
    client_tags: &[(String, String)],
    kind: Kind,
    body: Body<'_>,
) -> Flow {
    let max = s.state.config.limits.max_targets;
    let unknown = unknown_channels(s, targets, max);
    if let (false, Some(cluster)) = (unknown.is_empty(), s.state.cluster().cloned()) {
        // Each lookup asks every node: a flood token each.
        s.penalty += u32::try_from(unknown.len()).unwrap_or(u32::MAX);
        let (targets, client_tags, body) = (
            targets.to_owned(),
            client_tags.to_vec(),
            OwnedBody::of(body),
        );
        return Flow::Wait(Box::new(Pending::later(Box::new(
            move |s: &mut Session| -> Wait<'_> {
                Box::pin(async move {
                    let views = futures::future::join_all(unknown.iter().map(|k| cluster.view(k)));
                    let views: Vec<Arc<Channel>> = views.await.into_iter().flatten().collect();
                    let flow = send_now(s, &targets, &client_tags, kind, body.body(), &views);
                    match flow {
                        Flow::Wait(then) => then.run(s).await,
                        flow => flow,
                    }
                })
            },
        ))));
    }
    send_now(s, targets, client_tags, kind, body, &[])
}

/// [`send`] once every channel target is known: here, or in `views` (channels with no member
/// here, as the other nodes know them).
fn send_now(
    s: &mut Session,
    targets: &str,
    client_tags: &[(String, String)],
    kind: Kind,
    body: Body<'_>,
    views: &[Arc<Channel>],
) -> Flow {
    let errors = kind != Kind::Notice;
    let (source, nick, account) = {
        let mut info = s.client.info.write();
        info.last_message = Instant::now();
        (
            info.source(&s.client.host),
            info.nick.clone(),
            info.account.clone(),
        )
    };
    let max = s.state.config.limits.max_targets;
    // A line names its target as the server knows it (the channel's own name, the recipient's
    // current nick), so one encoding per target; `build` makes it once the target is resolved.
    let build = |shown: &str| {
        // Each target's copy is a message of its own, with its own id.
        let now = SystemTime::now();
        let msgid = s.state.msgids.next(now);
        let tag = |out: Outgoing| {
            s.tagged(out)
                .with_msgid(msgid.clone(), now)
                .with_client_tags(client_tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        };
        let text = match body {
            Body::Text(text) => text,
            Body::Lines(parts) => {
                let (batch, fallback) = multiline::encode(&source, kind.command(), shown, parts);
                // One id for both forms: they are one message.
                return Payload::or_else(Cap::Multiline, tag(batch), tag(fallback));
            }
        };
        let mut line = LineBuilder::new();
        line.source(&source).command(kind.command()).param(shown);
        if kind != Kind::Tagmsg {
            line.trailing(text);
        }
        let out = tag(Outgoing::new(line));
        // TAGMSG carries nothing but tags: only `message-tags` clients can take it.
        if kind == Kind::Tagmsg {
            Payload::only_with(Cap::MessageTags, out)
        } else {
            Payload::new(out)
        }
    };
    let sender = Sender {
        source: &source,
        nick: &nick,
        account: account.as_deref(),
        body,
        kind,
    };
    // Each distinct target once: `PRIVMSG #a,#A,#a` must not multiply the fan-out.
    let mut seen: Vec<String> = Vec::new();
    let mut later: Vec<Committed> = Vec::new();
    for (i, target) in split_list(targets).enumerate() {
        if i >= max {
            if errors {
                s.num(ERR_TOOMANYTARGETS)
                    .p(target)
                    .t("Too many targets")
                    .send();
            }
            continue;
        }
        let folded = casefold(target).into_owned();
        if seen.contains(&folded) {
            continue;
        }
        seen.push(folded);
        let delivered = if target.starts_with('$') {
            (kind != Kind::Tagmsg && oper::to_server_mask(s, target, &build(target)))
                .then(|| target.to_owned())
        } else {
            let (status, name) = match target.strip_prefix(['@', '+']) {
                Some(rest) if is_channel_name(rest) => (target.chars().next(), rest),
                _ => (None, target),
            };
            if is_channel_name(name) {
                to_channel(s, name, status, &build, &sender, &mut later, views)
            } else {
                to_user(s, target, &build, &sender, &mut later)
            }
        };
        s.state.metrics.delivered(delivered.is_some());
        if let Some(shown) = delivered.filter(|_| kind != Kind::Tagmsg) {
            s.state.emit(ServerEvent::Message {
                from: nick.clone(),
                target: shown,
                text: body.text().into_owned(),
                kind: if kind == Kind::Privmsg {
                    MessageKind::Privmsg
                } else {
                    MessageKind::Notice
                },
            });
        }
    }
    // One token per target: a message to five channels costs what five messages cost.
    s.penalty += u32::try_from(seen.len().saturating_sub(1)).unwrap_or(u32::MAX);
    if later.is_empty() {
        return Flow::Continue;
    }
    committing::queue(s, later)
}

/// Who sends, and what.
struct Sender<'a> {
    source: &'a str,
    nick: &'a str,
    account: Option<&'a str>,
    body: Body<'a>,
    kind: Kind,
}

impl Sender<'_> {
    /// The history entry of `payload` to `shown` in conversation `key`, if it is kept (TAGMSG
    /// only with tags other than typing notifications, which are of the moment).
    fn entry(
        &self,
        s: &Session,
        key: String,
        shown: &str,
        payload: &Payload,
    ) -> Option<HistoryRecord> {
        if !s.state.config.history.enabled {
            return None;
        }
        let out = payload.line();
        if self.kind == Kind::Tagmsg
            && out
                .client_tags()
                .split(';')
                .all(|t| t.starts_with("+typing") || t.starts_with("+draft/typing") || t == "bot")
        {
            return None;
        }
        let mut params = vec![shown.to_owned()];
        match self.body {
            Body::Text(_) if self.kind == Kind::Tagmsg => {}
            Body::Text(text) => params.push(text.to_owned()),
            Body::Lines(parts) => params.extend(parts.iter().map(|p| p.text.clone())),
        }
        let mut entry = history::entry(
            key,
            out,
            self.kind.command(),
            self.source,
            self.account,
            params,
        );
        if let Body::Lines(parts) = self.body {
            multiline::mark_entry(&mut entry, parts);
        }
        Some(entry)
    }
}

/// Delivers the channel's committed messages if a session ends before it could: a message
/// that is in history reaches the members even if its sender is gone.
pub(crate) struct DeliverIfDropped(pub(crate) Option<(Arc<Channel>, Receipt)>);

impl Drop for DeliverIfDropped {
    fn drop(&mut self) {
        if let Some((channel, receipt)) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = receipt.wait().await;
                channel.deliver_committed(None);
            });
        }
    }
}

fn no_such_nick(s: &Session, target: &str, kind: Kind) {
    if kind != Kind::Notice {
        s.num(ERR_NOSUCHNICK)
            .p(target)
            .t("No such nick/channel")
            .send();
    }
}

/// Delivers to a channel's members (or queues the message for its commit); returns the
/// target as shown (status prefix and the channel's own name) when it was accepted.
fn to_channel(
    s: &Session,
    name: &str,
    status: Option<char>,
    build: &dyn Fn(&str) -> Payload,
    sender: &Sender<'_>,
    later: &mut Vec<Committed>,
    views: &[Arc<Channel>],
) -> Option<String> {
    let kind = sender.kind;
    let viewed = || {
        let key = casefold(name);
        views.iter().find(|v| v.key() == key).cloned()
    };
    let Some(ch) = s.state.channel(name).or_else(viewed) else {
        no_such_nick(s, name, kind);
        return None;
    };
    let shown = match status {
        Some(prefix) => format!("{prefix}{}", ch.name()),
        None => ch.name().to_string(),
    };
    let payload = build(&shown);
    // What only some members see (STATUSMSG) is not kept: history is read by every member.
    let entry = status
        .is_none()
        .then(|| sender.entry(s, ch.key(), &shown, &payload))
        .flatten();
    let echo = s.conn.has_cap(Cap::EchoMessage);
    // A labeled command's echo is its answer: it goes with the command's other replies. A
    // sender from outside (`-n`) is not among the members, where echoes go out in their place:
    // its copy is given here too.
    // (From the sender's own short list of channels: no lock and no walk over the members.)
    let outside = echo
        && !s
            .client
            .info
            .read()
            .channels
            .iter()
            .any(|c| Arc::ptr_eq(c, &ch));
    let own_copy =
        (echo && (outside || (entry.is_some() && s.replies.labeled()))).then(|| payload.clone());
    let message = Message {
        from: s.from(),
        source: sender.source,
        status,
        echo: echo && own_copy.is_none(),
        ctcp: kind != Kind::Tagmsg && is_ctcp_but_action(sender.body.first_line()),
        payload,
        history: entry.map(|e| (&s.state.store, e)),
        cluster: s.state.cluster(),
    };
    match ch.message(message, Some(s.actor())) {
        Ok(Sent::Delivered) => {
            if let Some(copy) = own_copy {
                deliver::to_connection(&s.conn, &copy, Some(s.actor()));
            }
        }
        Ok(Sent::Waiting(receipt)) => later.push(Committed::Channel {
            channel: ch.clone(),
            receipt,
            own_copy,
            kind,
            slot: None,
        }),
        Err(Denied::NotRecorded) => {
            not_recorded(s, kind, &ch.name());
            return None;
        }
        Err(why) => {
            if kind != Kind::Notice {
                let text = match why {
                    Denied::NoCtcp => "Cannot send CTCP to channel (+C)",
                    Denied::Muted => "Cannot send to channel (you are muted)",
                    _ => "Cannot send to channel",
                };
                s.num(ERR_CANNOTSENDTOCHAN).p(&ch.name()).t(text).send();
            }
            return None;
        }
    }
    Some(shown)
}

/// Whether `text` is a CTCP other than ACTION (<https://modern.ircdocs.horse/ctcp.html>): it
/// starts with `\x01`, and its command is not ACTION.
fn is_ctcp_but_action(text: &str) -> bool {
    let Some(body) = text.strip_prefix('\x01') else {
        return false;
    };
    let body = body.strip_suffix('\x01').unwrap_or(body);
    let command = body.split(' ').next().unwrap_or("");
    !command.eq_ignore_ascii_case("ACTION")
}

/// Delivers to one user (or queues the message for its commit); returns their current nick
/// when it was accepted.
fn to_user(
    s: &Session,
    target: &str,
    build: &dyn Fn(&str) -> Payload,
    sender: &Sender<'_>,
    later: &mut Vec<Committed>,
) -> Option<String> {
    let kind = sender.kind;
    let Some(t) = s
        .state
        .find_nick(target)
        .filter(|c| c.info.read().registered)
    else {
        no_such_nick(s, target, kind);
        return None;
    };
    let (nick, away, account) = {
        let info = t.info.read();
        (info.nick.clone(), info.away.clone(), info.account.clone())
    };
    // A user of another node while this one is cut off from NATS: refused, not lost.
    if t.remote.is_some() && s.state.cluster().is_some_and(|c| !c.connected()) {
        let mut line = s.server_line("FAIL");
        line.param(kind.command())
            .param("MESSAGE_ERROR")
            .param(&nick)
            .trailing(
                "Message not delivered: the user's server cannot be reached; try again later",
            );
        s.send_line(line);
        return None;
    }
    let payload = build(&nick);
    if kind == Kind::Privmsg
        && let Some(away) = away
    {
        s.num(RPL_AWAY).p(&nick).t(&away).send();
    }
    let echo = s.conn.has_cap(Cap::EchoMessage);
    let me = history::identity(sender.nick, sender.account);
    let them = history::identity(&nick, account.as_deref());
    let key = history::conversation_key(&me, &them);
    let Some(entry) = sender.entry(s, key.clone(), &nick, &payload) else {
        deliver::to_client(&t, &payload, Some(s.actor()));
        if t.id != s.client.id {
            deliver::to_sender(&s.client, &payload, Some(s.actor()), s.conn.id, echo);
        }
        return Some(nick);
    };
    let time_ms = entry.time_ms;
    let receipt = match s.state.store.append(Write::Append(entry)) {
        Ok(receipt) => receipt,
        Err(error) => {
            if let Some(skipped) = crate::logtext::STORE_REFUSALS.admit() {
                tracing::warn!(%error, skipped,
                    "a private message was refused: the store cannot take it");
            }
            not_recorded(s, kind, &nick);
            return None;
        }
    };
    // Each logged-in party finds the conversation again (CHATHISTORY TARGETS).
    for (owner, peer) in [
        (sender.account, nick.as_str()),
        (account.as_deref(), sender.nick),
    ] {
        if let Some(owner) = owner {
            s.state.store.write_later(Write::Converse {
                owner: casefold(owner).into_owned(),
                peer: peer.to_owned(),
                target: key.clone(),
                time_ms,
            });
        }
    }
    later.push(Committed::User {
        to: t,
        payload,
        receipt,
        echo,
        kind,
        slot: None,
    });
    Some(nick)
}

#[cfg(test)]
mod tests {
    use super::is_ctcp_but_action;

    #[test]
    fn ctcp_other_than_action_is_told_apart() {
        for ctcp in [
            "\x01VERSION\x01",
            "\x01PING 123\x01",
            "\x01DCC SEND x\x01",
            "\x01",
        ] {
            assert!(is_ctcp_but_action(ctcp), "{ctcp:?}");
        }
        for not in [
            "\x01ACTION waves\x01",
            "\x01action\x01",
            "\x01ACTION",
            "hola",
            "",
        ] {
            assert!(!is_ctcp_but_action(not), "{not:?}");
        }
    }
}
