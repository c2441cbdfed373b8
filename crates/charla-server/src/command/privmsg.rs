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

use crate::account::services::{self, Service};
use crate::caps::Cap;
use crate::command::table::Args;
use crate::command::{Flow, oper, split_list};
use crate::deliver::{self, Payload};
use crate::event::{MessageKind, ServerEvent};
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
    fn command(self) -> &'static str {
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
    let (source, nick) = {
        let mut info = s.client.info.write();
        info.last_message = Instant::now();
        (info.source(&s.client.host), info.nick.clone())
    };
    let client_tags: Vec<(String, String)> = tags
        .filter(|t| t.key.starts_with('+'))
        .map(|t| (t.key.to_owned(), t.value.into_owned()))
        .collect();
    if kind == Kind::Tagmsg && client_tags.is_empty() {
        // Nothing to relay.
        return Flow::Continue;
    }
    let max = s.state.config.limits.max_targets;
    // A line names its target as the server knows it (the channel's own name, the recipient's
    // current nick), so one encoding per target; `build` makes it once the target is resolved.
    let build = |shown: &str| {
        let mut line = LineBuilder::new();
        line.source(&source).command(kind.command()).param(shown);
        if kind != Kind::Tagmsg {
            line.trailing(text);
        }
        // Each target's copy is a message of its own, with its own id.
        let now = SystemTime::now();
        let out = s
            .outgoing(line)
            .with_msgid(s.state.msgids.next(now), now)
            .with_client_tags(client_tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // TAGMSG carries nothing but tags: only `message-tags` clients can take it.
        if kind == Kind::Tagmsg {
            Payload::only_with(Cap::MessageTags, out)
        } else {
            Payload::new(out)
        }
    };
    // Each distinct target once: `PRIVMSG #a,#A,#a` must not multiply the fan-out.
    let mut seen: Vec<String> = Vec::new();
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
                to_channel(s, name, status, &build, kind, &source)
            } else {
                to_user(s, target, &build, kind)
            }
        };
        if let Some(shown) = delivered.filter(|_| kind != Kind::Tagmsg) {
            s.state.emit(ServerEvent::Message {
                from: nick.clone(),
                target: shown,
                text: text.to_owned(),
                kind: if kind == Kind::Privmsg {
                    MessageKind::Privmsg
                } else {
                    MessageKind::Notice
                },
            });
        }
    }
    Flow::Continue
}

fn no_such_nick(s: &Session, target: &str, kind: Kind) {
    if kind != Kind::Notice {
        s.num(ERR_NOSUCHNICK)
            .p(target)
            .t("No such nick/channel")
            .send();
    }
}

/// Delivers to a channel's members; returns the target as shown (status prefix and the
/// channel's own name) when it was delivered.
fn to_channel(
    s: &Session,
    name: &str,
    status: Option<char>,
    build: &dyn Fn(&str) -> Payload,
    kind: Kind,
    source: &str,
) -> Option<String> {
    let Some(ch) = s.state.channel(name) else {
        no_such_nick(s, name, kind);
        return None;
    };
    let shown = match status {
        Some(prefix) => format!("{prefix}{}", ch.name),
        None => ch.name.to_string(),
    };
    let payload = build(&shown);
    let echo = s.client.has_cap(Cap::EchoMessage);
    if ch
        .message(s.client.id, source, status, echo, &payload, Some(s.actor()))
        .is_err()
    {
        if kind != Kind::Notice {
            s.num(ERR_CANNOTSENDTOCHAN)
                .p(&ch.name)
                .t("Cannot send to channel")
                .send();
        }
        return None;
    }
    Some(shown)
}

/// Delivers to one user; returns their current nick when it was delivered.
fn to_user(
    s: &Session,
    target: &str,
    build: &dyn Fn(&str) -> Payload,
    kind: Kind,
) -> Option<String> {
    let Some(t) = s
        .state
        .find_nick(target)
        .filter(|c| c.info.read().registered)
    else {
        no_such_nick(s, target, kind);
        return None;
    };
    let (nick, away) = {
        let info = t.info.read();
        (info.nick.clone(), info.away.clone())
    };
    let payload = build(&nick);
    deliver::to_client(&t, &payload, Some(s.actor()));
    if kind == Kind::Privmsg
        && let Some(away) = away
    {
        s.num(RPL_AWAY).p(&nick).t(&away).send();
    }
    if s.client.has_cap(Cap::EchoMessage) && t.id != s.client.id {
        deliver::to_client(&s.client, &payload, Some(s.actor()));
    }
    Some(nick)
}
