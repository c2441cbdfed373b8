//! HELP and HELPOP (<https://modern.ircdocs.horse/#help-message>): the help text of every
//! command, and of the modes, kept here in one table keyed by topic. A test checks that every
//! command of the [`table`](crate::command::table) has an entry, so a new command cannot come
//! without its help.
//!
//! `HELP` alone gives the index (subject `*`); `HELP <topic>` gives the topic as RPL_HELPSTART,
//! RPL_HELPTXT lines and its last line in RPL_ENDOFHELP; an unknown topic gets
//! ERR_HELPNOTFOUND.

use charla_proto::numeric::{ERR_HELPNOTFOUND, RPL_ENDOFHELP, RPL_HELPSTART, RPL_HELPTXT};

use crate::command::Flow;
use crate::command::table::Args;
use crate::session::Session;

/// One help topic: its name (upper case) and its lines, at least two (the first goes in
/// RPL_HELPSTART, the last in RPL_ENDOFHELP).
type Topic = (&'static str, &'static [&'static str]);

/// Every topic, sorted by name (a test checks): each command of the table, and the modes.
static TOPICS: &[Topic] = &[
    (
        "AUTHENTICATE",
        &[
            "AUTHENTICATE <mechanism> | <base64 data> | *",
            "Logs into an account during connection (SASL, after CAP REQ :sasl).",
            "Mechanisms: PLAIN, SCRAM-SHA-256, and EXTERNAL with a TLS client certificate.",
            "* aborts the exchange.",
        ],
    ),
    (
        "AWAY",
        &[
            "AWAY [:<message>]",
            "Marks you away with <message>: who messages you or WHOISes you sees it.",
            "AWAY with no message marks you back. AWAY * says you are not here for no",
            "particular reason; with draft/pre-away, AWAY works before registration too.",
        ],
    ),
    (
        "BATCH",
        &[
            "BATCH +<ref> draft/multiline <target> ... BATCH -<ref>",
            "Sends several lines as one message (draft/multiline, with batch): open the",
            "batch, send each line as @batch=<ref> PRIVMSG <target> :<line> (with",
            "draft/multiline-concat to continue the line before), then close it.",
        ],
    ),
    (
        "CAP",
        &[
            "CAP LS [302] | LIST | REQ :<capabilities> | END",
            "Negotiates IRCv3 capabilities: LS lists what the server offers, REQ asks",
            "for some (a - before a name drops it), LIST shows what you have, and END",
            "finishes negotiation during registration.",
        ],
    ),
    (
        "CHANSERV",
        &[
            "CHANSERV <command> [<parameters>]",
            "Talks to ChanServ, which registers channels: REGISTER <#channel>,",
            "ACCESS <#channel> ADD <account> OP|VOICE | DEL <account> | LIST,",
            "INFO <#channel>, DROP <#channel>. CHANSERV HELP gives the details.",
        ],
    ),
    (
        "CHATHISTORY",
        &[
            "CHATHISTORY LATEST|BEFORE|AFTER|AROUND <target> <reference> <limit>",
            "CHATHISTORY BETWEEN <target> <reference> <reference> <limit>",
            "CHATHISTORY TARGETS <timestamp> <timestamp> <limit>",
            "Fetches past messages (draft/chathistory); a reference is msgid=<id>,",
            "timestamp=<time> or * (LATEST only). Answers come in a chathistory batch.",
        ],
    ),
    (
        "CMODES",
        &[
            "Channel modes (MODE <#channel> <+|-><letters> [<arguments>]):",
            "+b <mask>  ban: matching users cannot join or speak. +b ~m:<mask> mutes:",
            "           matching users may join and stay but not speak (EXTBAN ~,m).",
            "+e <mask>  exception to +b and mutes. +I <mask>: may join a +i channel.",
            "+o <nick>  operator (@). +v <nick>: voice (+), speaks in a +m channel or muted.",
            "+i  invite only. +k <key>: a key to join. +l <n>: at most n members.",
            "+m  moderated: only voiced members and operators speak.",
            "+n  no messages from outside. +t: only operators change the topic.",
            "+s  secret: hidden from LIST and WHOIS of outsiders.",
            "+C  no CTCP: CTCP other than ACTION to the channel is refused, from anyone.",
            "An operator's INVITE lets its target in past +i, +k, +l and +b.",
        ],
    ),
    (
        "CS",
        &[
            "CS <command> [<parameters>]",
            "Short for CHANSERV (see HELP CHANSERV).",
        ],
    ),
    (
        "GLOBAL",
        &[
            "GLOBAL :<text>",
            "Sends a notice to everyone on the server (IRC operators only).",
        ],
    ),
    (
        "HELP",
        &[
            "HELP [<topic>]",
            "Shows help on <topic> (a command, CMODES or UMODES), or the list of topics.",
        ],
    ),
    ("HELPOP", &["HELPOP [<topic>]", "The same as HELP."]),
    (
        "INFO",
        &["INFO", "Shows information about the server software."],
    ),
    (
        "INVITE",
        &[
            "INVITE <nick> <#channel>",
            "INVITE",
            "Invites <nick> to <#channel>; on a +i channel only operators may invite.",
            "An invitation from an operator lets its target join past +i, +k, +l and +b;",
            "one from another member only tells them. INVITE alone lists the channels",
            "you are invited to.",
        ],
    ),
    (
        "ISON",
        &[
            "ISON <nick> [<nick> ...]",
            "Tells which of the nicks are online.",
        ],
    ),
    (
        "JOIN",
        &[
            "JOIN <#channel>{,<#channel>} [<key>{,<key>}]",
            "JOIN 0",
            "Joins channels (creating a new one makes you its operator), with keys for",
            "those with +k. JOIN 0 leaves every channel you are in.",
        ],
    ),
    (
        "KICK",
        &[
            "KICK <#channel> <nick>{,<nick>} [:<reason>]",
            "Removes members from a channel (channel operators only).",
        ],
    ),
    (
        "KILL",
        &[
            "KILL <nick> [:<reason>]",
            "Disconnects a user (IRC operators only).",
        ],
    ),
    (
        "LINKS",
        &[
            "LINKS [[<server>] <mask>]",
            "Lists the servers of the network: this server alone, which is all of it.",
        ],
    ),
    (
        "LIST",
        &[
            "LIST [<#channel>{,<#channel>}] [<condition>{,<condition>}]",
            "Lists channels with their member counts and topics. Conditions (ELIST):",
            "  >n, <n       more, fewer than n members",
            "  C>n, C<n     created more, less than n minutes ago",
            "  T>n, T<n     topic set more, less than n minutes ago (no topic: never)",
            "  <mask>       names matching the mask (* and ?); !<mask>: not matching",
            "Secret channels are listed only to their members.",
        ],
    ),
    (
        "LUSERS",
        &[
            "LUSERS",
            "Shows how many users, operators and channels there are.",
        ],
    ),
    (
        "MARKREAD",
        &[
            "MARKREAD <target> [timestamp=<time>]",
            "Sets or asks how far you have read <target> (draft/read-marker); your other",
            "connections to the same account are told.",
        ],
    ),
    (
        "METADATA",
        &[
            "METADATA <target> GET <keys> | LIST | SET <key> [:<value>] | CLEAR | SYNC",
            "METADATA * SUB <keys> | UNSUB <keys> | SUBS",
            "Key/value data on users and channels (draft/metadata-2), such as display-name,",
            "avatar or pronouns: <target> is a nick, a channel or * for yourself. You set",
            "your own and those of channels you operate; SUB chooses the keys you hear of.",
        ],
    ),
    (
        "MODE",
        &[
            "MODE <#channel> [<+|-modes> [<arguments>]]",
            "MODE <nick> [<+|-modes>]",
            "Shows or changes the modes of a channel (see HELP CMODES) or your own",
            "(see HELP UMODES). MODE <#channel> b lists bans, e exceptions, I invite",
            "exceptions.",
        ],
    ),
    (
        "MONITOR",
        &[
            "MONITOR + <nick>{,<nick>} | - <nick>{,<nick>} | C | L | S",
            "Follows nicks: you are told when they come online and leave. + adds, - removes,",
            "C clears, L lists, S shows who of them is online.",
        ],
    ),
    ("MOTD", &["MOTD", "Shows the message of the day."]),
    (
        "NAMES",
        &[
            "NAMES <#channel>{,<#channel>}",
            "Lists the members of each channel, with @ for operators and + for voice",
            "(at most 10 channels per command).",
        ],
    ),
    (
        "NICK",
        &[
            "NICK <nick>",
            "Sets or changes your nick. A registered nick needs its account's log-in.",
        ],
    ),
    (
        "NICKSERV",
        &[
            "NICKSERV <command> [<parameters>]",
            "Talks to NickServ, which keeps accounts: REGISTER, IDENTIFY, LOGOUT, GHOST,",
            "SET PASSWORD, DROP, INFO, CERT ADD|DEL|LIST. NICKSERV HELP gives the details.",
        ],
    ),
    (
        "NOTICE",
        &[
            "NOTICE <target>{,<target>} :<text>",
            "Like PRIVMSG, but never answered automatically (no errors, no away replies).",
        ],
    ),
    (
        "NS",
        &[
            "NS <command> [<parameters>]",
            "Short for NICKSERV (see HELP NICKSERV).",
        ],
    ),
    (
        "OPER",
        &[
            "OPER <name> [<password>]",
            "Makes you an IRC operator, with a configured name and password or account.",
        ],
    ),
    (
        "PART",
        &[
            "PART <#channel>{,<#channel>} [:<reason>]",
            "Leaves channels.",
        ],
    ),
    (
        "PASS",
        &[
            "PASS <password>",
            "Gives the server's connection password, before NICK and USER.",
        ],
    ),
    (
        "PING",
        &[
            "PING <token>",
            "Asks the server to answer PONG with <token>.",
        ],
    ),
    ("PONG", &["PONG <token>", "Answers the server's PING."]),
    (
        "PRIVMSG",
        &[
            "PRIVMSG <target>{,<target>} :<text>",
            "Sends a message to nicks or channels (@#channel or +#channel: only to its",
            "operators, or voiced members and operators).",
        ],
    ),
    (
        "QUIT",
        &[
            "QUIT [:<reason>]",
            "Disconnects, telling the channels you are in why.",
        ],
    ),
    (
        "REDACT",
        &[
            "REDACT <target> <msgid> [:<reason>]",
            "Deletes a message of <target> (draft/message-redaction): your own within",
            "[history] redact_window_secs of sending it, any message of a channel you",
            "operate, any as IRC operator. It leaves history and search; clients with",
            "the capability are told.",
        ],
    ),
    (
        "REGISTER",
        &[
            "REGISTER <account> <email|*> <password>",
            "Registers an account (draft/account-registration) and logs you in.",
        ],
    ),
    (
        "RENAME",
        &[
            "RENAME <#channel> <#new-name> [:<reason>]",
            "Renames a channel (channel operators and IRC operators), keeping its members,",
            "modes, topic, lists, registration and history. Members with",
            "draft/channel-rename see RENAME; the others a PART and a JOIN of the new name.",
            "The old name is free afterwards: joining it makes a new channel.",
        ],
    ),
    (
        "SEARCH",
        &[
            "SEARCH text=<words>[;in=<target>][;after=<time>][;before=<time>][;limit=<n>]",
            "Finds past messages holding every word, among those you may read",
            "(soju.im/search).",
        ],
    ),
    (
        "SETNAME",
        &[
            "SETNAME :<real name>",
            "Changes your real name (setname capability).",
        ],
    ),
    (
        "TAGMSG",
        &[
            "TAGMSG <target>{,<target>}",
            "Sends only client tags, such as typing notifications (message-tags).",
        ],
    ),
    ("TIME", &["TIME", "Shows the server's time."]),
    (
        "TOPIC",
        &[
            "TOPIC <#channel> [:<topic>]",
            "Shows or sets a channel's topic; an empty topic clears it. With +t only",
            "operators set it.",
        ],
    ),
    (
        "UMODES",
        &[
            "User modes (MODE <your nick> <+|-><letters>):",
            "+i  invisible: hidden from WHO and NAMES of people who share no channel.",
            "+w  receives WALLOPS. +B: marks you as a bot.",
            "+o  IRC operator (given by OPER; -o drops it).",
        ],
    ),
    (
        "USER",
        &[
            "USER <user> 0 * :<real name>",
            "Gives your user name and real name when connecting.",
        ],
    ),
    (
        "USERHOST",
        &[
            "USERHOST <nick> [<nick> ...]",
            "Shows the user@host of up to five nicks.",
        ],
    ),
    (
        "VERIFY",
        &[
            "VERIFY <account> <code>",
            "Completes an account registration that asked for a code.",
        ],
    ),
    (
        "VERSION",
        &[
            "VERSION",
            "Shows the server's version and what it supports (ISUPPORT).",
        ],
    ),
    (
        "WALLOPS",
        &[
            "WALLOPS :<text>",
            "Sends <text> to every user with +w (IRC operators only).",
        ],
    ),
    (
        "WEBIRC",
        &[
            "WEBIRC <password> <gateway> <hostname> <ip> [:<options>]",
            "Sent first by a configured web gateway or bouncer ([[webirc]]) to give the",
            "address and host of the user it connects for; anyone else is refused.",
        ],
    ),
    (
        "WHO",
        &[
            "WHO <#channel|mask> [%<fields>[,<token>]]",
            "Lists a channel's members or the users matching a mask; %fields asks for",
            "WHOX replies (354) with the fields named.",
        ],
    ),
    (
        "WHOIS",
        &[
            "WHOIS <nick>",
            "Shows who a user is: their host, real name, channels, account and idle time.",
        ],
    ),
    (
        "WHOWAS",
        &[
            "WHOWAS <nick> [<count>]",
            "Shows who last used a nick that is gone.",
        ],
    ),
];

/// Topic names in the index, per RPL_HELPTXT line.
const INDEX_NAMES_PER_LINE: usize = 8;

/// Longest subject echoed back in ERR_HELPNOTFOUND; a longer one is shown as `*`.
const MAX_SUBJECT: usize = 32;

/// The lines of `topic`, in any case (a leading `/` is ignored).
fn find(topic: &str) -> Option<&'static Topic> {
    let topic = topic.strip_prefix('/').unwrap_or(topic);
    TOPICS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(topic))
}

/// `HELP [<subject>]` and `HELPOP [<subject>]`.
pub fn help(s: &mut Session, p: Args<'_, 0>) -> Flow {
    match p.first().filter(|t| !t.is_empty()) {
        None => index(s),
        Some(subject) => match find(subject) {
            Some((name, lines)) => send_topic(s, name, lines),
            None => {
                let shown = if subject.len() > MAX_SUBJECT || subject.starts_with(':') {
                    "*"
                } else {
                    subject
                };
                s.num(ERR_HELPNOTFOUND)
                    .p(shown)
                    .t("No help available on this topic")
                    .send();
            }
        },
    }
    Flow::Continue
}

/// The lines of one topic.
fn send_topic(s: &Session, subject: &str, lines: &[&str]) {
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        let numeric = match i {
            0 => RPL_HELPSTART,
            _ if i == last => RPL_ENDOFHELP,
            _ => RPL_HELPTXT,
        };
        // Help text has no leading colon or empty line, but a trailing parameter keeps it safe.
        s.num(numeric).p(subject).t(line).send();
    }
}

/// The index: how to use HELP, and every topic.
fn index(s: &Session) {
    let mut lines: Vec<String> = vec![
        "** Help **".to_owned(),
        "HELP <topic> shows help on a command, or on the modes (CMODES, UMODES).".to_owned(),
        "Topics:".to_owned(),
    ];
    for chunk in TOPICS.chunks(INDEX_NAMES_PER_LINE) {
        let names: Vec<&str> = chunk.iter().map(|(name, _)| *name).collect();
        lines.push(names.join(" "));
    }
    lines.push("End of the help index".to_owned());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    send_topic(s, "*", &lines);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::table::TABLE;

    #[test]
    fn every_command_in_the_table_has_help() {
        for command in TABLE {
            assert!(
                find(command.name).is_some(),
                "no help for {}: add it to command/help.rs",
                command.name
            );
        }
    }

    #[test]
    fn topics_are_sorted_upper_case_with_two_lines_or_more_that_fit_a_line() {
        for pair in TOPICS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (name, lines) in TOPICS {
            assert_eq!(*name, name.to_ascii_uppercase());
            assert!(lines.len() >= 2, "{name}: a start and an end line");
            for line in *lines {
                assert!(!line.is_empty() && line.len() <= 100, "{name}: {line:?}");
            }
        }
        assert!(find("join").is_some());
        assert!(find("/Join").is_some());
        assert!(find("nonsense").is_none());
    }
}
