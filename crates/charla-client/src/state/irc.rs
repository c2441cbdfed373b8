//! How [`State`] reads IRC lines: messages and CTCP ACTION, JOIN/PART/KICK/QUIT/NICK, TOPIC,
//! MODE, AWAY, TAGMSG (`+typing`, reactions), FAIL and REGISTER replies, and the numerics (NAMES, TOPIC,
//! WHOIS, ISUPPORT, SASL, errors in words), each into the buffer where a person expects it.

use std::time::Instant;

use charla_proto::OwnedMessage;
use charla_proto::casemap::{casefold, eq_folded};
use charla_proto::numeric;
use chrono::{DateTime, Utc};

use super::{
    BufferId, ConnectionStatus, Line, LineKind, Member, Notification, REPLY_TAG, State, Typist,
    apply_channel_modes, apply_user_modes, ctcp, mentions, parse_mode_changes, sort_prefixes,
};
use crate::command::TypingState;
use crate::words;

impl State {
    pub(super) fn apply_irc(&mut self, msg: &OwnedMessage, echo: bool) -> Option<Notification> {
        let time = msg
            .tag("time")
            .and_then(super::parse_time)
            .unwrap_or_else(Utc::now);
        let source_nick = msg.source_nick().unwrap_or("").to_owned();
        let from_me = echo || (!source_nick.is_empty() && self.is_me(&source_nick));
        // `account-tag`: every line from a user says their account (or its absence).
        if self.has_cap("account-tag") && !source_nick.is_empty() && !echo {
            let account = msg.tag("account").unwrap_or("*").to_owned();
            self.set_account(&source_nick, &account);
        }
        let cmd = msg.command.to_ascii_uppercase();
        let p = |i: usize| msg.param(i).unwrap_or("");
        if let Ok(num) = cmd.parse::<u16>()
            && cmd.len() == 3
        {
            self.apply_numeric(num, msg, time);
            return None;
        }
        match cmd.as_str() {
            "PRIVMSG" | "NOTICE" => {
                return self.apply_message(msg, &cmd, &source_nick, from_me, time);
            }
            "REDACT" => {
                let id = self.route_target(p(0), &source_nick, from_me);
                if let Some(i) = self.index(&id) {
                    self.buffers[i].redact(msg);
                }
            }
            "TAGMSG" => {
                // Reactions count ours too (echoed, or shown as if echoed).
                let id = self.route_target(p(0), &source_nick, from_me);
                if let Some(i) = self.index(&id) {
                    self.buffers[i].apply_reaction(msg, &source_nick);
                }
                if from_me {
                    return None;
                }
                if let Some(state) = msg.tag("+typing").and_then(TypingState::parse) {
                    let id = self.route_target(p(0), &source_nick, false);
                    if let Some(b) = self.buffer_mut(&id) {
                        b.typing.retain(|t| !eq_folded(&t.nick, &source_nick));
                        if state != TypingState::Done {
                            b.typing.push(Typist {
                                nick: source_nick.clone(),
                                state,
                                since: Instant::now(),
                            });
                        }
                    }
                }
            }
            "JOIN" => {
                let chan = p(0).to_owned();
                let id = BufferId::Channel(chan.clone());
                // `extended-join`: JOIN <channel> <account|*> :<real name>.
                if msg.params.len() >= 3 {
                    self.set_account(&source_nick, p(1));
                }
                if from_me {
                    let i = self.ensure(id);
                    let b = &mut self.buffers[i];
                    b.joined = true;
                    b.rejoin = true;
                    b.members.clear();
                    // The server sends the topic after our JOIN if there is one: an old one
                    // (from before a reconnect) must not stay.
                    b.topic = None;
                    let line = self.line(
                        time,
                        LineKind::Join,
                        &source_nick,
                        format!("You joined {chan}"),
                    );
                    self.push_at(i, line);
                } else if let Some(i) = self.index(&id) {
                    let b = &mut self.buffers[i];
                    if b.member(&source_nick).is_none() {
                        b.members.push(Member {
                            nick: source_nick.clone(),
                            prefixes: String::new(),
                            away: false,
                        });
                        self.sort_members(i);
                    }
                    let line = self.line(
                        time,
                        LineKind::Join,
                        &source_nick,
                        format!("{source_nick} joined"),
                    );
                    self.push_at(i, line);
                }
            }
            "PART" => {
                let id = BufferId::Channel(p(0).to_owned());
                let reason = msg.param(1).filter(|r| !r.is_empty());
                if from_me {
                    self.buffers.retain(|b| !b.id.same(&id));
                } else if let Some(i) = self.index(&id) {
                    self.buffers[i]
                        .members
                        .retain(|m| !eq_folded(&m.nick, &source_nick));
                    self.buffers[i]
                        .typing
                        .retain(|t| !eq_folded(&t.nick, &source_nick));
                    let text = match reason {
                        Some(r) => format!("{source_nick} left ({r})"),
                        None => format!("{source_nick} left"),
                    };
                    let line = self.line(time, LineKind::Part, &source_nick, text);
                    self.push_at(i, line);
                    self.forget_account_if_gone(&source_nick);
                }
            }
            "KICK" => {
                let id = BufferId::Channel(p(0).to_owned());
                let victim = p(1).to_owned();
                let reason = msg.param(2).filter(|r| !r.is_empty() && *r != victim);
                if let Some(i) = self.index(&id) {
                    let me = self.is_me(&victim);
                    let b = &mut self.buffers[i];
                    b.members.retain(|m| !eq_folded(&m.nick, &victim));
                    let who = if me {
                        "You were".to_owned()
                    } else {
                        format!("{victim} was")
                    };
                    let mut text = format!("{who} kicked by {source_nick}");
                    if let Some(r) = reason {
                        text.push_str(&format!(" ({r})"));
                    }
                    if me {
                        b.joined = false;
                        b.rejoin = false;
                        b.members.clear();
                    }
                    let kind = if me { LineKind::Error } else { LineKind::Kick };
                    let line = self.line(time, kind, &source_nick, text);
                    self.push_at(i, line);
                    self.forget_account_if_gone(&victim);
                }
            }
            "QUIT" => {
                let reason = msg.param(0).filter(|r| !r.is_empty());
                let text = match reason {
                    Some(r) => format!("{source_nick} quit ({r})"),
                    None => format!("{source_nick} quit"),
                };
                for i in 0..self.buffers.len() {
                    let b = &mut self.buffers[i];
                    let present = match &b.id {
                        BufferId::Channel(_) => {
                            let before = b.members.len();
                            b.members.retain(|m| !eq_folded(&m.nick, &source_nick));
                            b.members.len() != before
                        }
                        BufferId::Query(n) => eq_folded(n, &source_nick),
                        BufferId::Server => false,
                    };
                    b.typing.retain(|t| !eq_folded(&t.nick, &source_nick));
                    if present {
                        let line = self.line(time, LineKind::Quit, &source_nick, text.clone());
                        self.push_at(i, line);
                    }
                }
                self.set_account(&source_nick, "*");
            }
            "NICK" => {
                let new = p(0).to_owned();
                let text = if from_me {
                    format!("You are now known as {new}")
                } else {
                    format!("{source_nick} is now known as {new}")
                };
                if from_me {
                    self.nick = new.clone();
                    self.push_server(LineKind::Nick, text.clone());
                }
                self.rename_account(&source_nick, &new);
                for b in &mut self.buffers {
                    b.reactions.rename(&source_nick, &new);
                }
                let clash = self.index(&BufferId::Query(new.clone())).is_some();
                for i in 0..self.buffers.len() {
                    let b = &mut self.buffers[i];
                    let present = match &mut b.id {
                        BufferId::Channel(_) => {
                            let mut found = false;
                            for m in &mut b.members {
                                if eq_folded(&m.nick, &source_nick) {
                                    m.nick = new.clone();
                                    found = true;
                                }
                            }
                            found
                        }
                        BufferId::Query(n) if eq_folded(n, &source_nick) => {
                            // Follow the person into their new name, unless a buffer for it
                            // exists already (then both stay).
                            if !clash || eq_folded(&new, &source_nick) {
                                *n = new.clone();
                            }
                            true
                        }
                        _ => false,
                    };
                    if present {
                        self.sort_members(i);
                        let line = self.line(time, LineKind::Nick, &source_nick, text.clone());
                        self.push_at(i, line);
                    }
                }
            }
            // draft/channel-rename: the buffer takes the new name in place.
            "RENAME" => self.apply_rename(p(0), p(1), msg.param(2), &source_nick, time),
            "TOPIC" => {
                let id = BufferId::Channel(p(0).to_owned());
                let topic = p(1).to_owned();
                if let Some(i) = self.index(&id) {
                    self.buffers[i].topic = (!topic.is_empty()).then(|| topic.clone());
                    let text = if topic.is_empty() {
                        format!("{source_nick} cleared the topic")
                    } else {
                        format!("{source_nick} changed the topic to: {topic}")
                    };
                    let line = self.line(time, LineKind::Topic, &source_nick, text);
                    self.push_at(i, line);
                }
            }
            "MODE" => self.apply_mode(msg, &source_nick, time),
            // draft/metadata-2: METADATA <target> <key> <visibility> [<value>]
            "METADATA" => self.set_metadata(p(0), p(1), msg.param(3)),
            "AWAY" => {
                let away = msg.param(0).is_some_and(|m| !m.is_empty());
                for b in &mut self.buffers {
                    for m in &mut b.members {
                        if eq_folded(&m.nick, &source_nick) {
                            m.away = away;
                        }
                    }
                }
            }
            "ERROR" => {
                let text = format!("Server closed the connection: {}", p(0));
                self.push_server(LineKind::Error, text);
            }
            "FAIL" | "WARN" | "NOTE" => {
                // FAIL <command> <code> [<context>...] <description>
                let text = words::standard_reply(msg);
                let kind = if cmd == "FAIL" {
                    LineKind::Error
                } else {
                    LineKind::Info
                };
                let at = self.acting.clone();
                self.push_to(
                    at,
                    Line {
                        time,
                        ..Line::info(kind, text)
                    },
                );
            }
            // `account-notify`: ACCOUNT <account|*>.
            "ACCOUNT" => self.set_account(&source_nick, p(0)),
            // `draft/read-marker`: MARKREAD <target> timestamp=<time>|*.
            "MARKREAD" => self.apply_markread(msg),
            // REGISTER and VERIFY replies arrive as `Event::AccountRegistration`.
            "PING" | "PONG" | "CAP" | "AUTHENTICATE" | "BATCH" | "CHGHOST" | "SETNAME"
            | "REGISTER" | "VERIFY" | "CHATHISTORY" => {}
            "INVITE" => {
                // To us: said where the user is. Between others (`invite-notify`): in the
                // channel.
                let (text, at) = if self.is_me(p(0)) {
                    (
                        format!("{source_nick} invites you to {} (/join {0})", p(1)),
                        self.acting.clone(),
                    )
                } else {
                    (
                        format!("{source_nick} invited {} to {}", p(0), p(1)),
                        BufferId::Channel(p(1).to_owned()),
                    )
                };
                self.push_to(
                    at,
                    Line {
                        time,
                        ..Line::info(LineKind::Info, text)
                    },
                );
            }
            _ => {
                let text = msg.params.join(" ");
                self.push_server(LineKind::Info, format!("{} {}", msg.command, text));
            }
        }
        None
    }

    /// A channel renamed (<https://ircv3.net/specs/extensions/channel-rename>): its buffer
    /// keeps its lines, members, unread counts, read marker and history, under the new name
    /// (a buffer left over from an earlier channel of that name gives way). The buffer the user
    /// acted in, and the app's focus, follow.
    fn apply_rename(
        &mut self,
        old: &str,
        new: &str,
        reason: Option<&str>,
        source_nick: &str,
        time: DateTime<Utc>,
    ) {
        let old_id = BufferId::Channel(old.to_owned());
        let new_id = BufferId::Channel(new.to_owned());
        if new.is_empty() || self.index(&old_id).is_none() {
            return;
        }
        if !old_id.same(&new_id) {
            self.buffers.retain(|b| !b.id.same(&new_id));
        }
        let Some(i) = self.index(&old_id) else {
            return;
        };
        self.buffers[i].id = new_id.clone();
        if self.acting.same(&old_id) {
            self.acting = new_id.clone();
        }
        if self.focus.as_ref().is_some_and(|f| f.same(&old_id)) {
            self.focus = Some(new_id);
        }
        if let Some(pending) = self.names.remove(casefold(old).as_ref()) {
            self.names.insert(casefold(new).into_owned(), pending);
        }
        let mut text = if source_nick.is_empty() {
            format!("The channel was renamed from {old} to {new}")
        } else {
            format!("{source_nick} renamed the channel from {old} to {new}")
        };
        if let Some(reason) = reason.filter(|r| !r.is_empty()) {
            text.push_str(&format!(" ({reason})"));
        }
        let line = self.line(time, LineKind::Info, source_nick, text);
        self.push_at(i, line);
    }

    fn apply_message(
        &mut self,
        msg: &OwnedMessage,
        cmd: &str,
        source_nick: &str,
        from_me: bool,
        time: DateTime<Utc>,
    ) -> Option<Notification> {
        let target = msg.param(0).unwrap_or("");
        let raw_text = msg.param(1).unwrap_or("");
        let notice = cmd == "NOTICE";
        let (kind, text) = match ctcp(raw_text) {
            Some(("ACTION", body)) if !notice => (LineKind::Action, body.to_owned()),
            Some((verb, body)) => {
                // Other CTCP (VERSION, PING...) are answered by the connection task; show a
                // trace in the server buffer so nothing happens silently.
                let what = if notice { "reply" } else { "request" };
                let text = format!("CTCP {verb} {what} from {source_nick} {body}");
                self.push_server(LineKind::Info, text.trim_end().to_owned());
                return None;
            }
            None if notice => (LineKind::Notice, raw_text.to_owned()),
            None => (LineKind::Message, raw_text.to_owned()),
        };
        // Notices from the server itself (no `!` in the source, or before registration) belong
        // in the server buffer.
        let server_notice =
            notice && (msg.source.as_deref().is_none_or(|s| !s.contains('!')) || target == "*");
        let id = if server_notice {
            BufferId::Server
        } else {
            self.route_target(target, source_nick, from_me)
        };
        // A private notice from a service goes to the server buffer unless a query is open.
        let id = match id {
            BufferId::Query(n) if notice && self.index(&BufferId::Query(n.clone())).is_none() => {
                BufferId::Server
            }
            other => other,
        };
        // Once we are registered, a notice from the server itself to us or to everyone (`$*`)
        // is its operator talking ("send to everyone", "send to this user"): worth a
        // notification, like a private message.
        let operator_notice = server_notice
            && self.status == ConnectionStatus::Connected
            && (target.starts_with('$') || self.is_me(target));
        let private = matches!(id, BufferId::Query(_)) || operator_notice;
        let highlight = !from_me
            && (operator_notice || (!server_notice && (private || mentions(&text, &self.nick))));
        let nick = if source_nick.is_empty() {
            msg.source.clone()
        } else {
            Some(source_nick.to_owned())
        };
        let msgid = msg.tag("msgid");
        let line = Line {
            time,
            kind,
            nick,
            text: text.clone(),
            highlight,
            own: from_me,
            msgid: msgid.map(str::to_owned),
            seq: 0,
            from_history: false,
            reply_to: reply_to(msg),
        };
        let i = self.ensure(id.clone());
        if self.seen_before(i, msgid) {
            // A history answer brought it first.
            return None;
        }
        let b = &mut self.buffers[i];
        b.typing.retain(|t| !eq_folded(&t.nick, source_nick));
        if !from_me {
            b.unread += 1;
            if highlight {
                b.mentions += 1;
            }
        }
        let id = b.id.clone();
        self.push_at(i, line);
        if !highlight {
            return None;
        }
        Some(if private {
            Notification::Private {
                nick: source_nick.to_owned(),
                text,
            }
        } else {
            Notification::Mention {
                buffer: id,
                nick: source_nick.to_owned(),
                text,
            }
        })
    }

    fn apply_numeric(&mut self, num: u16, msg: &OwnedMessage, time: DateTime<Utc>) {
        let p = |i: usize| msg.param(i).unwrap_or("");
        let last = msg.params.last().map(String::as_str).unwrap_or("");
        match num {
            numeric::RPL_WELCOME => {
                if let Some(n) = msg.param(0) {
                    self.nick = n.to_owned();
                }
                self.push_server_at(time, LineKind::Info, last);
            }
            // RPL_KEYVALUE <me> <target> <key> <visibility> [<value>]
            numeric::RPL_KEYVALUE => {
                let target = msg.param(1).unwrap_or("");
                self.set_metadata(target, msg.param(2).unwrap_or(""), msg.param(4));
            }
            numeric::RPL_ISUPPORT => {
                let tokens = msg
                    .params
                    .get(1..msg.params.len().saturating_sub(1))
                    .unwrap_or_default();
                for token in tokens {
                    self.isupport_token(token);
                }
            }
            numeric::RPL_TOPIC => {
                let id = BufferId::Channel(p(1).to_owned());
                if let Some(i) = self.index(&id) {
                    self.buffers[i].topic = Some(p(2).to_owned());
                    let line = Line {
                        time,
                        ..Line::info(LineKind::Topic, format!("Topic: {}", p(2)))
                    };
                    self.push_at(i, line);
                }
            }
            numeric::RPL_NOTOPIC => {
                if let Some(i) = self.index(&BufferId::Channel(p(1).to_owned())) {
                    self.buffers[i].topic = None;
                    let line = Line {
                        time,
                        ..Line::info(LineKind::Topic, "No topic is set")
                    };
                    self.push_at(i, line);
                }
            }
            numeric::RPL_TOPICWHOTIME => {
                if let Some(i) = self.index(&BufferId::Channel(p(1).to_owned())) {
                    let who = charla_proto::message::split_source(p(2)).0;
                    let when = p(3)
                        .parse::<i64>()
                        .ok()
                        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
                        .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
                        .unwrap_or_default();
                    let line = Line {
                        time,
                        ..Line::info(LineKind::Topic, format!("Topic set by {who}{when}"))
                    };
                    self.push_at(i, line);
                }
            }
            numeric::RPL_NAMREPLY => {
                // 353 <me> <symbol> <channel> :<prefix><nick>[!user@host] ...
                let key = casefold(p(2)).into_owned();
                let prefixes: String = self.isupport.prefix.iter().map(|(_, s)| *s).collect();
                let entry = self.names.entry(key).or_default();
                for item in p(3).split(' ').filter(|s| !s.is_empty()) {
                    let symbols: String =
                        item.chars().take_while(|c| prefixes.contains(*c)).collect();
                    let rest = &item[symbols.len()..];
                    let nick = charla_proto::message::split_source(rest).0;
                    if !nick.is_empty() {
                        entry.push(Member {
                            nick: nick.to_owned(),
                            prefixes: symbols,
                            away: false,
                        });
                    }
                }
            }
            numeric::RPL_ENDOFNAMES => {
                let key = casefold(p(1)).into_owned();
                let members = self.names.remove(&key).unwrap_or_default();
                let i = self.index(&BufferId::Channel(p(1).to_owned()));
                if i.is_none_or(|i| !self.buffers[i].joined) && !members.is_empty() {
                    // `/names #elsewhere`: say who is there where the user asked.
                    let list: Vec<String> = members
                        .iter()
                        .map(|m| format!("{}{}", m.prefixes, m.nick))
                        .collect();
                    let text = format!("In {}: {}", p(1), list.join(" "));
                    let at = self.acting.clone();
                    self.push_to(
                        at,
                        Line {
                            time,
                            ..Line::info(LineKind::Info, text)
                        },
                    );
                }
                if let Some(i) = i {
                    self.buffers[i].members = members;
                    for m in &mut self.buffers[i].members {
                        m.prefixes = sort_prefixes(&m.prefixes, &self.isupport.prefix);
                    }
                    self.sort_members(i);
                }
            }
            numeric::RPL_UNAWAY => {
                self.away = false;
                let at = self.acting.clone();
                let line = Line {
                    time,
                    ..Line::info(LineKind::Info, "You are no longer marked as away")
                };
                self.push_to(at, line);
            }
            numeric::RPL_NOWAWAY => {
                self.away = true;
                let at = self.acting.clone();
                let line = Line {
                    time,
                    ..Line::info(LineKind::Info, "You are now marked as away")
                };
                self.push_to(at, line);
            }
            numeric::RPL_AWAY => {
                let id = BufferId::Query(p(1).to_owned());
                let text = format!("{} is away: {}", p(1), p(2));
                let id = if self.index(&id).is_some() {
                    id
                } else {
                    self.acting.clone()
                };
                self.push_to(
                    id,
                    Line {
                        time,
                        ..Line::info(LineKind::Info, text)
                    },
                );
            }
            numeric::RPL_LOGGEDIN => {
                self.account = Some(p(2).to_owned());
                self.login_error = None;
                let me = self.nick.clone();
                self.set_account(&me, p(2));
                self.push_server_at(time, LineKind::Info, format!("Logged in as {}", p(2)));
            }
            numeric::RPL_LOGGEDOUT => {
                self.account = None;
                let me = self.nick.clone();
                self.set_account(&me, "*");
                self.push_server_at(time, LineKind::Info, "Logged out");
            }
            numeric::RPL_SASLSUCCESS | numeric::RPL_SASLMECHS => {}
            numeric::RPL_WHOISUSER
            | numeric::RPL_WHOISSERVER
            | numeric::RPL_WHOISOPERATOR
            | numeric::RPL_WHOISIDLE
            | numeric::RPL_WHOISCHANNELS
            | numeric::RPL_WHOISACCOUNT
            | numeric::RPL_WHOISHOST
            | numeric::RPL_WHOISMODES
            | numeric::RPL_WHOISSPECIAL
            | numeric::RPL_WHOISREGNICK
            | numeric::RPL_WHOISCERTFP
            | numeric::RPL_WHOISACTUALLY
            | numeric::RPL_ENDOFWHOIS => {
                if num == numeric::RPL_WHOISACCOUNT {
                    self.set_account(p(1), p(2));
                }
                let text = words::whois_line(num, msg);
                let at = self.acting.clone();
                self.push_to(
                    at,
                    Line {
                        time,
                        ..Line::info(LineKind::Info, text)
                    },
                );
            }
            numeric::RPL_CHANNELMODEIS => {
                let Some(i) = self.index(&BufferId::Channel(p(1).to_owned())) else {
                    return;
                };
                let changes =
                    parse_mode_changes(&msg.params[2.min(msg.params.len())..], &self.isupport);
                let known_before = self.buffers[i].modes.is_some();
                let b = &mut self.buffers[i];
                b.modes = Some(String::from("+"));
                apply_channel_modes(b, &changes, &self.isupport);
                // The client asks for the modes on join, silently; a second answer is one
                // the user asked for with /mode.
                if known_before {
                    let text = format!("Channel modes: {}", b.modes.as_deref().unwrap_or("+"));
                    self.push_at(
                        i,
                        Line {
                            time,
                            ..Line::info(LineKind::Mode, text)
                        },
                    );
                }
            }
            // The channel's creation time: for programs, not people.
            numeric::RPL_CREATIONTIME => {}
            // Our own WHOX query on join: 354 <me> <token> <nick> <account|0>.
            numeric::RPL_WHOSPCRPL if p(1) == super::WHOX_TOKEN => {
                self.set_account(p(2), p(3));
            }
            numeric::RPL_UMODEIS => {
                self.user_modes = apply_user_modes("", p(1));
            }
            numeric::ERR_NOMOTD => {
                // Part of every welcome burst on a server without a MOTD: news, not a failure.
                let text = words::error_numeric(num, msg);
                let id = self.error_buffer(msg);
                self.push_to(
                    id,
                    Line {
                        time,
                        ..Line::info(LineKind::Info, text)
                    },
                );
            }
            400..=599 => {
                let text = words::error_numeric(num, msg);
                let id = self.error_buffer(msg);
                self.push_to(
                    id,
                    Line {
                        time,
                        ..Line::info(LineKind::Error, text)
                    },
                );
            }
            numeric::ERR_NICKLOCKED
            | numeric::ERR_SASLFAIL
            | numeric::ERR_SASLTOOLONG
            | numeric::ERR_SASLABORTED
            | numeric::ERR_SASLALREADY => {
                let text = words::error_numeric(num, msg);
                self.push_server_at(time, LineKind::Error, text);
            }
            _ => {
                // Informational numerics (MOTD, LUSERS, ...): in words, in the server buffer.
                if let Some(text) = words::info_numeric(num, msg) {
                    self.push_server_at(time, LineKind::Info, text);
                }
            }
        }
    }

    fn apply_mode(&mut self, msg: &OwnedMessage, source_nick: &str, time: DateTime<Utc>) {
        let target = msg.param(0).unwrap_or("");
        let rest = msg.params.get(1..).map(|s| s.join(" ")).unwrap_or_default();
        if !self.is_channel(target) {
            if self.is_me(target) {
                let modes = msg.params.get(1).map_or("", String::as_str);
                self.user_modes = apply_user_modes(&self.user_modes, modes);
            }
            self.push_server_at(
                time,
                LineKind::Mode,
                format!("{source_nick} sets mode {rest} on {target}"),
            );
            return;
        }
        let Some(i) = self.index(&BufferId::Channel(target.to_owned())) else {
            return;
        };
        let changes = parse_mode_changes(&msg.params[1.min(msg.params.len())..], &self.isupport);
        for change in &changes {
            let Some(symbol) = self
                .isupport
                .prefix
                .iter()
                .find(|(m, _)| *m == change.mode)
                .map(|(_, s)| *s)
            else {
                continue;
            };
            let Some(nick) = &change.arg else { continue };
            let order = self.isupport.prefix.clone();
            if let Some(m) = self.buffers[i]
                .members
                .iter_mut()
                .find(|m| eq_folded(&m.nick, nick))
            {
                if change.set {
                    if !m.prefixes.contains(symbol) {
                        m.prefixes.push(symbol);
                    }
                } else {
                    m.prefixes.retain(|c| c != symbol);
                }
                m.prefixes = sort_prefixes(&m.prefixes, &order);
            }
        }
        let isupport = self.isupport.clone();
        apply_channel_modes(&mut self.buffers[i], &changes, &isupport);
        self.sort_members(i);
        let who = if source_nick.is_empty() {
            msg.source.as_deref().unwrap_or("server")
        } else {
            source_nick
        };
        let line = self.line(time, LineKind::Mode, who, format!("{who} sets mode {rest}"));
        self.push_at(i, line);
    }

    fn isupport_token(&mut self, token: &str) {
        let (key, value) = token.split_once('=').unwrap_or((token, ""));
        match key {
            "NETWORK" if !value.is_empty() => self.isupport.network = Some(value.to_owned()),
            "CHANTYPES" => self.isupport.chantypes = value.to_owned(),
            "PREFIX" => {
                // PREFIX=(ov)@+
                if let Some((modes, symbols)) =
                    value.strip_prefix('(').and_then(|v| v.split_once(')'))
                    && modes.chars().count() == symbols.chars().count()
                {
                    self.isupport.prefix = modes.chars().zip(symbols.chars()).collect();
                }
            }
            "WHOX" => self.isupport.whox = true,
            "CHATHISTORY" => self.isupport.chathistory = Some(value.parse().unwrap_or(0)),
            // The URL may carry ISUPPORT's `\xHH` escapes (an `=` in a query, say).
            "soju.im/FILEHOST" if !value.is_empty() => {
                self.isupport.filehost =
                    Some(charla_proto::isupport::unescape_value(value).into_owned());
            }
            "-soju.im/FILEHOST" => self.isupport.filehost = None,
            "CHANMODES" => {
                let mut parts = value.split(',');
                for slot in &mut self.isupport.chanmodes {
                    *slot = parts.next().unwrap_or("").to_owned();
                }
            }
            _ => {}
        }
    }

    /// Where an error numeric goes: the channel or query it names if we have that buffer, else
    /// the buffer the user acted in.
    fn error_buffer(&self, msg: &OwnedMessage) -> BufferId {
        if let Some(target) = msg.param(1) {
            let id = if self.is_channel(target) {
                BufferId::Channel(target.to_owned())
            } else {
                BufferId::Query(target.to_owned())
            };
            if let Some(i) = self.index(&id) {
                return self.buffers[i].id.clone();
            }
        }
        if self.index(&self.acting).is_some() {
            self.acting.clone()
        } else {
            BufferId::Server
        }
    }

    /// The buffer for a message to `target` from `source`.
    fn route_target(&self, target: &str, source: &str, from_me: bool) -> BufferId {
        // STATUSMSG: `@#chan` is a message to the channel's operators.
        let bare = target.trim_start_matches(|c| self.isupport.prefix.iter().any(|(_, s)| *s == c));
        if self.is_channel(bare) {
            BufferId::Channel(bare.to_owned())
        } else if from_me {
            BufferId::Query(target.to_owned())
        } else {
            BufferId::Query(source.to_owned())
        }
    }
}

/// The message a message answers (`+draft/reply`), if it names one.
pub(super) fn reply_to(msg: &OwnedMessage) -> Option<String> {
    msg.tag(REPLY_TAG)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
}
