//! What the user typed, as commands: plain text is a message to the buffer's channel or query;
//! `/join`, `/part`, `/msg`, `/query`, `/me`, `/nick`, `/topic`, `/rename`, `/away`, `/quit`,
//! `/raw` and friends map to [`Command`]s. `//text` sends `/text` as a message. An unknown `/verb` is sent
//! to the server as it is (servers have commands we do not know).
//!
//! `/register password [email]` creates an account named after the current nick (as the
//! NickServ command people know does), `/verify account code` completes one that needs it;
//! [`holds_secret`] tells the app not to keep such lines in its input history.

use charla_proto::validate::is_valid_nick;

use crate::command::Command;
use crate::state::BufferId;

/// Why a line the user typed cannot be sent, in words for the buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Nothing but spaces.
    #[error("nothing to send")]
    Empty,
    /// Text typed in the server buffer, which has no one to send it to.
    #[error(
        "this is the server buffer: join a channel with /join #name, or write to someone with /msg nick text"
    )]
    NoTarget,
    /// A command needs a channel and the buffer is not one.
    #[error("/{0} works in a channel (or name one: /{0} #channel ...)")]
    NeedsChannel(String),
    /// A command was given the wrong arguments.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// Not a nick anyone can have.
    #[error("{0} is not a valid nick")]
    BadNick(String),
}

/// The commands the input line knows, for help and completion.
pub const KNOWN: &[&str] = &[
    "avatar",
    "away",
    "back",
    "close",
    "connect",
    "deop",
    "devoice",
    "disconnect",
    "displayname",
    "invite",
    "join",
    "kick",
    "leave",
    "list",
    "me",
    "mode",
    "msg",
    "nick",
    "notice",
    "op",
    "part",
    "query",
    "quit",
    "quote",
    "raw",
    "reconnect",
    "register",
    "rename",
    "topic",
    "verify",
    "voice",
    "whois",
];

/// Parses one input line typed in `buffer` into the commands to send.
pub fn parse(buffer: &BufferId, text: &str) -> Result<Vec<Command>, InputError> {
    let text = text.trim_end_matches(['\r', '\n']);
    if text.trim().is_empty() {
        return Err(InputError::Empty);
    }
    let Some(rest) = text.strip_prefix('/') else {
        return say(buffer, text);
    };
    if rest.starts_with('/') {
        // `//etc` is a message that starts with a slash.
        return say(buffer, rest);
    }
    let (verb, args) = rest.split_once(' ').unwrap_or((rest, ""));
    let args = args.trim_start();
    let verb_lower = verb.to_lowercase();
    let channel = || match buffer {
        BufferId::Channel(c) => Some(c.clone()),
        _ => None,
    };
    let one = |c: Command| Ok(vec![c]);
    match verb_lower.as_str() {
        "me" => {
            let target = buffer.target().ok_or(InputError::NoTarget)?;
            if args.is_empty() {
                return Err(InputError::Usage("/me does something"));
            }
            one(Command::Action {
                target: target.to_owned(),
                text: args.to_owned(),
            })
        }
        "join" | "j" => {
            let (names, key) = split_word(args);
            if names.is_empty() {
                return Err(InputError::Usage("/join #channel [key]"));
            }
            let channel = names
                .split(',')
                .filter(|n| !n.is_empty())
                .map(|n| {
                    if n.starts_with(['#', '&']) {
                        n.to_owned()
                    } else {
                        format!("#{n}")
                    }
                })
                .collect::<Vec<_>>()
                .join(",");
            let key = (!key.is_empty()).then(|| key.to_owned());
            one(Command::Join { channel, key })
        }
        "part" | "leave" => {
            let (first, rest) = split_word(args);
            let (chan, reason) = if first.starts_with(['#', '&']) {
                (first.to_owned(), rest)
            } else {
                (
                    channel().ok_or_else(|| InputError::NeedsChannel(verb_lower.clone()))?,
                    args,
                )
            };
            let reason = (!reason.is_empty()).then(|| reason.to_owned());
            one(Command::Part {
                channel: chan,
                reason,
            })
        }
        "msg" | "privmsg" => {
            let (target, body) = split_word(args);
            if target.is_empty() || body.is_empty() {
                return Err(InputError::Usage("/msg nick-or-#channel text"));
            }
            one(Command::Privmsg {
                target: target.to_owned(),
                text: body.to_owned(),
            })
        }
        "query" | "q" => {
            let (nick, body) = split_word(args);
            if nick.is_empty() {
                return Err(InputError::Usage("/query nick [text]"));
            }
            if !is_valid_nick(nick) {
                return Err(InputError::BadNick(nick.to_owned()));
            }
            let mut out = vec![Command::OpenQuery {
                nick: nick.to_owned(),
            }];
            if !body.is_empty() {
                out.push(Command::Privmsg {
                    target: nick.to_owned(),
                    text: body.to_owned(),
                });
            }
            Ok(out)
        }
        "notice" => {
            let (target, body) = split_word(args);
            if target.is_empty() || body.is_empty() {
                return Err(InputError::Usage("/notice nick-or-#channel text"));
            }
            one(Command::Notice {
                target: target.to_owned(),
                text: body.to_owned(),
            })
        }
        "nick" => {
            let (nick, _) = split_word(args);
            if nick.is_empty() {
                return Err(InputError::Usage("/nick new-nick"));
            }
            if !is_valid_nick(nick) {
                return Err(InputError::BadNick(nick.to_owned()));
            }
            one(Command::Nick {
                nick: nick.to_owned(),
            })
        }
        "topic" => {
            let (first, rest) = split_word(args);
            let (chan, topic) = if first.starts_with(['#', '&']) {
                (first.to_owned(), rest)
            } else {
                (
                    channel().ok_or_else(|| InputError::NeedsChannel("topic".into()))?,
                    args,
                )
            };
            let topic = (!topic.is_empty()).then(|| topic.to_owned());
            one(Command::Topic {
                channel: chan,
                topic,
            })
        }
        "away" => {
            let message = (!args.is_empty()).then(|| args.to_owned());
            // Plain `/away` with no message marks us away with a default, as most clients do.
            one(Command::Away {
                message: Some(message.unwrap_or_else(|| "Away".to_owned())),
            })
        }
        "back" => one(Command::Away { message: None }),
        "quit" | "exit" => one(Command::Quit {
            reason: (!args.is_empty()).then(|| args.to_owned()),
        }),
        "disconnect" => one(Command::Disconnect {
            reason: (!args.is_empty()).then(|| args.to_owned()),
        }),
        "reconnect" | "connect" | "server" => one(Command::Reconnect),
        // draft/metadata-2: how others see us.
        "displayname" | "avatar" => {
            let key = if verb_lower == "avatar" {
                "avatar"
            } else {
                "display-name"
            };
            let line = if args.is_empty() {
                format!("METADATA * SET {key}")
            } else {
                format!("METADATA * SET {key} :{args}")
            };
            one(Command::Raw { line })
        }
        "raw" | "quote" => {
            if args.is_empty() {
                return Err(InputError::Usage("/raw IRC line"));
            }
            one(Command::Raw {
                line: args.to_owned(),
            })
        }
        "close" => {
            if *buffer == BufferId::Server {
                return Err(InputError::Usage(
                    "/close closes a channel or a conversation",
                ));
            }
            one(Command::CloseBuffer {
                buffer: buffer.clone(),
            })
        }
        // draft/channel-rename: `/rename [#old] #new [reason]`.
        "rename" => {
            let (first, rest) = split_word(args);
            let (second, after) = split_word(rest);
            let (old, new, reason) = if second.starts_with(['#', '&']) {
                (first.to_owned(), second, after)
            } else {
                (
                    channel().ok_or_else(|| InputError::NeedsChannel("rename".into()))?,
                    first,
                    rest,
                )
            };
            if !new.starts_with(['#', '&']) || !old.starts_with(['#', '&']) {
                return Err(InputError::Usage("/rename [#channel] #new-name [reason]"));
            }
            one(Command::Raw {
                line: format!("RENAME {old} {new} :{reason}"),
            })
        }
        "kick" => {
            let (first, rest) = split_word(args);
            let (chan, rest) = if first.starts_with(['#', '&']) {
                (first.to_owned(), rest)
            } else {
                (
                    channel().ok_or_else(|| InputError::NeedsChannel("kick".into()))?,
                    args,
                )
            };
            let (nick, reason) = split_word(rest);
            if nick.is_empty() {
                return Err(InputError::Usage("/kick nick [reason]"));
            }
            let reason = (!reason.is_empty()).then(|| reason.to_owned());
            one(Command::Kick {
                channel: chan,
                nick: nick.to_owned(),
                reason,
            })
        }
        "op" | "deop" | "voice" | "devoice" => {
            let chan = channel().ok_or_else(|| InputError::NeedsChannel(verb_lower.clone()))?;
            let nicks: Vec<&str> = args.split_whitespace().collect();
            if nicks.is_empty() {
                return Err(InputError::Usage("/op nick [nick...]"));
            }
            let (sign, letter) = match verb_lower.as_str() {
                "op" => ('+', 'o'),
                "deop" => ('-', 'o'),
                "voice" => ('+', 'v'),
                _ => ('-', 'v'),
            };
            let modes: String = std::iter::once(sign)
                .chain(std::iter::repeat_n(letter, nicks.len()))
                .collect();
            one(Command::Raw {
                line: format!("MODE {chan} {modes} {}", nicks.join(" ")),
            })
        }
        "invite" => {
            let (nick, rest) = split_word(args);
            let chan = match split_word(rest).0 {
                "" => channel().ok_or_else(|| InputError::NeedsChannel("invite".into()))?,
                c => c.to_owned(),
            };
            if nick.is_empty() {
                return Err(InputError::Usage("/invite nick [#channel]"));
            }
            one(Command::Raw {
                line: format!("INVITE {nick} {chan}"),
            })
        }
        "whois" => {
            let (nick, _) = split_word(args);
            let nick = if nick.is_empty() {
                match buffer {
                    BufferId::Query(n) => n.clone(),
                    _ => return Err(InputError::Usage("/whois nick")),
                }
            } else {
                nick.to_owned()
            };
            one(Command::Raw {
                line: format!("WHOIS {nick}"),
            })
        }
        "register" => {
            // /register password [email]: `REGISTER * <email|*> <password>`.
            let (password, email) = split_word(args);
            if password.is_empty() {
                return Err(InputError::Usage("/register password [email]"));
            }
            let email = split_word(email).0;
            one(Command::RegisterAccount {
                account: None,
                email: (!email.is_empty()).then(|| email.to_owned()),
                password: password.to_owned(),
            })
        }
        "verify" => {
            let (account, code) = split_word(args);
            let code = split_word(code).0;
            if account.is_empty() || code.is_empty() {
                return Err(InputError::Usage("/verify account code"));
            }
            one(Command::VerifyAccount {
                account: account.to_owned(),
                code: code.to_owned(),
            })
        }
        _ => {
            // `/mode`, `/list`, `/oper` and whatever the server knows: pass it on.
            let line = if args.is_empty() {
                verb.to_uppercase()
            } else {
                format!("{} {args}", verb.to_uppercase())
            };
            one(Command::Raw { line })
        }
    }
}

/// Whether a typed line carries a password or a code (`/register`, `/verify`, `/oper`,
/// `/pass`), which an input history must not keep.
pub fn holds_secret(text: &str) -> bool {
    let Some(rest) = text.trim_start().strip_prefix('/') else {
        return false;
    };
    let verb = rest.split(' ').next().unwrap_or("").to_lowercase();
    matches!(verb.as_str(), "register" | "verify" | "oper" | "pass")
}

fn say(buffer: &BufferId, text: &str) -> Result<Vec<Command>, InputError> {
    let target = buffer.target().ok_or(InputError::NoTarget)?;
    Ok(vec![Command::Privmsg {
        target: target.to_owned(),
        text: text.to_owned(),
    }])
}

/// The first word and the rest (trimmed at the start).
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.split_once(' ') {
        Some((a, b)) => (a, b.trim_start()),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chan() -> BufferId {
        BufferId::Channel("#charla".into())
    }

    #[test]
    fn table() {
        let ch = chan();
        let q = BufferId::Query("Ñandú".into());
        let s = BufferId::Server;
        let pm = |t: &str, x: &str| Command::Privmsg {
            target: t.into(),
            text: x.into(),
        };
        let raw = |l: &str| Command::Raw { line: l.into() };
        let cases: Vec<(&BufferId, &str, Vec<Command>)> = vec![
            (
                &ch,
                "hola a todos 🎉",
                vec![pm("#charla", "hola a todos 🎉")],
            ),
            (&q, "¿qué tal?", vec![pm("Ñandú", "¿qué tal?")]),
            (
                &ch,
                "//etc/passwd is a path",
                vec![pm("#charla", "/etc/passwd is a path")],
            ),
            (
                &ch,
                "/me baila 💃",
                vec![Command::Action {
                    target: "#charla".into(),
                    text: "baila 💃".into(),
                }],
            ),
            (
                &s,
                "/join #a,b key",
                vec![Command::Join {
                    channel: "#a,#b".into(),
                    key: Some("key".into()),
                }],
            ),
            (
                &s,
                "/JOIN #Ñ",
                vec![Command::Join {
                    channel: "#Ñ".into(),
                    key: None,
                }],
            ),
            (
                &ch,
                "/part",
                vec![Command::Part {
                    channel: "#charla".into(),
                    reason: None,
                }],
            ),
            (
                &ch,
                "/part adiós amigos",
                vec![Command::Part {
                    channel: "#charla".into(),
                    reason: Some("adiós amigos".into()),
                }],
            ),
            (
                &s,
                "/part #x bye",
                vec![Command::Part {
                    channel: "#x".into(),
                    reason: Some("bye".into()),
                }],
            ),
            (&ch, "/msg bob  hi there", vec![pm("bob", "hi there")]),
            (
                &ch,
                "/query Ñandú",
                vec![Command::OpenQuery {
                    nick: "Ñandú".into(),
                }],
            ),
            (
                &ch,
                "/query bob hi",
                vec![Command::OpenQuery { nick: "bob".into() }, pm("bob", "hi")],
            ),
            (
                &ch,
                "/nick Ñandú",
                vec![Command::Nick {
                    nick: "Ñandú".into(),
                }],
            ),
            (
                &ch,
                "/topic Bienvenidos",
                vec![Command::Topic {
                    channel: "#charla".into(),
                    topic: Some("Bienvenidos".into()),
                }],
            ),
            (
                &ch,
                "/topic",
                vec![Command::Topic {
                    channel: "#charla".into(),
                    topic: None,
                }],
            ),
            (
                &s,
                "/topic #x new",
                vec![Command::Topic {
                    channel: "#x".into(),
                    topic: Some("new".into()),
                }],
            ),
            (
                &s,
                "/away lunch",
                vec![Command::Away {
                    message: Some("lunch".into()),
                }],
            ),
            (&s, "/back", vec![Command::Away { message: None }]),
            (
                &s,
                "/quit bye",
                vec![Command::Quit {
                    reason: Some("bye".into()),
                }],
            ),
            (&s, "/raw PRIVMSG bob :hi", vec![raw("PRIVMSG bob :hi")]),
            (&s, "/mode #x +m", vec![raw("MODE #x +m")]),
            (&ch, "/op ana bob", vec![raw("MODE #charla +oo ana bob")]),
            (
                &ch,
                "/kick bob go away",
                vec![Command::Kick {
                    channel: "#charla".into(),
                    nick: "bob".into(),
                    reason: Some("go away".into()),
                }],
            ),
            (&q, "/whois", vec![raw("WHOIS Ñandú")]),
            (
                &q,
                "/close",
                vec![Command::CloseBuffer { buffer: q.clone() }],
            ),
            (
                &s,
                "/register s3cret ana@example.org",
                vec![Command::RegisterAccount {
                    account: None,
                    email: Some("ana@example.org".into()),
                    password: "s3cret".into(),
                }],
            ),
            (
                &s,
                "/verify ñandú 123456",
                vec![Command::VerifyAccount {
                    account: "ñandú".into(),
                    code: "123456".into(),
                }],
            ),
            (&s, "/list", vec![raw("LIST")]),
            (
                &ch,
                "/rename #nuevo mejor así",
                vec![raw("RENAME #charla #nuevo :mejor así")],
            ),
            (&s, "/rename #a #b", vec![raw("RENAME #a #b :")]),
        ];
        for (buffer, text, want) in cases {
            assert_eq!(parse(buffer, text), Ok(want), "{text:?} in {buffer:?}");
        }
    }

    #[test]
    fn mistakes_are_words() {
        let s = BufferId::Server;
        let ch = chan();
        let cases: Vec<(&BufferId, &str, InputError)> = vec![
            (&s, "   ", InputError::Empty),
            (&s, "hola", InputError::NoTarget),
            (&s, "/me waves", InputError::NoTarget),
            (&s, "/part", InputError::NeedsChannel("part".into())),
            (&s, "/topic", InputError::NeedsChannel("topic".into())),
            (&s, "/rename #b", InputError::NeedsChannel("rename".into())),
            (
                &ch,
                "/rename nuevo",
                InputError::Usage("/rename [#channel] #new-name [reason]"),
            ),
            (&s, "/join", InputError::Usage("/join #channel [key]")),
            (
                &s,
                "/msg bob",
                InputError::Usage("/msg nick-or-#channel text"),
            ),
            (&s, "/nick #no", InputError::BadNick("#no".into())),
            (&s, "/raw", InputError::Usage("/raw IRC line")),
            (
                &s,
                "/close",
                InputError::Usage("/close closes a channel or a conversation"),
            ),
        ];
        for (buffer, text, want) in cases {
            assert_eq!(parse(buffer, text), Err(want), "{text:?}");
        }
        assert!(InputError::NoTarget.to_string().contains("/join"));
        assert_eq!(
            parse(&s, "/verify ana"),
            Err(InputError::Usage("/verify account code"))
        );
    }

    #[test]
    fn secrets_are_recognised() {
        assert!(holds_secret("/register s3cret"));
        assert!(holds_secret("/REGISTER s3cret a@b.c"));
        assert!(holds_secret("/verify ana 123"));
        assert!(holds_secret("/oper root pw"));
        assert!(!holds_secret("//register is a word"));
        assert!(!holds_secret("hola"));
        assert!(!holds_secret("/join #x"));
    }
}
