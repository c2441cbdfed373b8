//! Server replies in words: error numerics, FAIL standard replies and WHOIS lines become
//! sentences a person reads ("That nick is already in use"), never bare numbers.

use charla_proto::OwnedMessage;
use charla_proto::numeric;

/// An error numeric (400–599, and SASL failures) as a sentence.
pub fn error_numeric(num: u16, msg: &OwnedMessage) -> String {
    let p = |i: usize| msg.param(i).unwrap_or("");
    let server_text = msg.params.last().map(String::as_str).unwrap_or("");
    match num {
        numeric::ERR_NOSUCHNICK => format!("There is no one called {} here", p(1)),
        numeric::ERR_NOSUCHSERVER => format!("There is no server called {}", p(1)),
        numeric::ERR_NOSUCHCHANNEL => format!("There is no channel called {}", p(1)),
        numeric::ERR_CANNOTSENDTOCHAN => {
            format!(
                "You cannot send messages to {} (you may need to join it, or be voiced)",
                p(1)
            )
        }
        numeric::ERR_TOOMANYCHANNELS => {
            format!("You have joined too many channels to join {}", p(1))
        }
        numeric::ERR_WASNOSUCHNICK => format!("No one was called {} recently", p(1)),
        numeric::ERR_TOOMANYTARGETS => "Too many targets at once".to_owned(),
        numeric::ERR_NORECIPIENT => "Say who the message is for".to_owned(),
        numeric::ERR_NOTEXTTOSEND => "There is no text to send".to_owned(),
        numeric::ERR_INPUTTOOLONG => "That line was too long for the server".to_owned(),
        numeric::ERR_UNKNOWNCOMMAND => format!("The server does not know the command {}", p(1)),
        numeric::ERR_NOMOTD => "The server has no message of the day".to_owned(),
        numeric::ERR_NONICKNAMEGIVEN => "Give a nick".to_owned(),
        numeric::ERR_ERRONEUSNICKNAME => {
            format!(
                "{} cannot be used as a nick (invalid characters or too long)",
                p(1)
            )
        }
        numeric::ERR_NICKNAMEINUSE => format!("The nick {} is already in use", p(1)),
        numeric::ERR_NICKCOLLISION => format!("The nick {} collided with another", p(1)),
        numeric::ERR_USERNOTINCHANNEL => format!("{} is not in {}", p(1), p(2)),
        numeric::ERR_NOTONCHANNEL => format!("You are not in {}", p(1)),
        numeric::ERR_USERONCHANNEL => format!("{} is already in {}", p(1), p(2)),
        numeric::ERR_NOTREGISTERED => "The server has not finished registering us yet".to_owned(),
        numeric::ERR_NEEDMOREPARAMS => format!("The command {} needs more parameters", p(1)),
        numeric::ERR_ALREADYREGISTERED => "We are already registered".to_owned(),
        numeric::ERR_PASSWDMISMATCH => "The server password is wrong".to_owned(),
        numeric::ERR_YOUREBANNEDCREEP => format!("You are banned from this server: {server_text}"),
        numeric::ERR_CHANNELISFULL => format!("Cannot join {}: the channel is full", p(1)),
        numeric::ERR_UNKNOWNMODE => format!("The server does not know the mode {}", p(1)),
        numeric::ERR_INVITEONLYCHAN => format!("Cannot join {}: it is invite-only", p(1)),
        numeric::ERR_BANNEDFROMCHAN => format!("Cannot join {}: you are banned from it", p(1)),
        numeric::ERR_BADCHANNELKEY => format!("Cannot join {}: wrong or missing key", p(1)),
        numeric::ERR_BADCHANMASK => format!("{} is not a valid channel name", p(1)),
        numeric::ERR_NOPRIVILEGES | numeric::ERR_NOPRIVS => {
            "You need to be an IRC operator for that".to_owned()
        }
        numeric::ERR_CHANOPRIVSNEEDED => {
            format!("You need to be a channel operator in {} for that", p(1))
        }
        numeric::ERR_CANTKILLSERVER => "You cannot kill a server".to_owned(),
        numeric::ERR_NOOPERHOST => "Operator access is not allowed from your host".to_owned(),
        numeric::ERR_UMODEUNKNOWNFLAG => "Unknown user mode".to_owned(),
        numeric::ERR_USERSDONTMATCH => "You cannot change modes of other users".to_owned(),
        numeric::ERR_INVALIDKEY => format!("That key is not valid for {}", p(1)),
        numeric::ERR_INVALIDMODEPARAM => {
            format!("Invalid mode parameter for {}: {server_text}", p(1))
        }
        numeric::ERR_NICKLOCKED => "You must use a nick assigned to you".to_owned(),
        numeric::ERR_SASLFAIL => "Logging in failed: wrong account or password".to_owned(),
        numeric::ERR_SASLTOOLONG => "Logging in failed: the credentials are too long".to_owned(),
        numeric::ERR_SASLABORTED => "Logging in was aborted".to_owned(),
        numeric::ERR_SASLALREADY => "You are already logged in".to_owned(),
        _ => {
            // An error we have no words for: the server's own text is the best we have.
            if server_text.is_empty() {
                format!("The server refused: error {num}")
            } else {
                server_text.to_owned()
            }
        }
    }
}

/// A FAIL / WARN / NOTE standard reply (<https://ircv3.net/specs/extensions/standard-replies>)
/// as a sentence: the description, with the command it is about.
pub fn standard_reply(msg: &OwnedMessage) -> String {
    let command = msg.param(0).unwrap_or("");
    let code = msg.param(1).unwrap_or("");
    let description = if msg.params.len() > 2 {
        msg.params.last().map(String::as_str).unwrap_or("")
    } else {
        ""
    };
    let about = match command {
        "REGISTER" => "Account registration",
        "VERIFY" => "Account verification",
        "CHATHISTORY" => "History",
        "*" | "" => "Server",
        other => other,
    };
    let words = match code {
        "ACCOUNT_EXISTS" => "that account already exists".to_owned(),
        "BAD_ACCOUNT_NAME" => "that account name cannot be used".to_owned(),
        "WEAK_PASSWORD" => "the password is too weak".to_owned(),
        "UNACCEPTABLE_PASSWORD" => "that password cannot be used".to_owned(),
        "UNACCEPTABLE_EMAIL" | "INVALID_EMAIL" => "that e-mail address cannot be used".to_owned(),
        "NEED_NICK" => "connect with a nick first".to_owned(),
        "ALREADY_AUTHENTICATED" => "you are already logged in".to_owned(),
        "TEMPORARILY_UNAVAILABLE" => "temporarily unavailable, try again later".to_owned(),
        _ if !description.is_empty() => description.to_owned(),
        other => other.to_lowercase().replace('_', " "),
    };
    if !description.is_empty() && !words.eq_ignore_ascii_case(description) && code_has_words(code) {
        format!("{about} failed: {words} ({description})")
    } else {
        format!("{about} failed: {words}")
    }
}

fn code_has_words(code: &str) -> bool {
    matches!(
        code,
        "ACCOUNT_EXISTS"
            | "BAD_ACCOUNT_NAME"
            | "WEAK_PASSWORD"
            | "UNACCEPTABLE_PASSWORD"
            | "UNACCEPTABLE_EMAIL"
            | "INVALID_EMAIL"
            | "NEED_NICK"
            | "ALREADY_AUTHENTICATED"
            | "TEMPORARILY_UNAVAILABLE"
    )
}

/// An informational numeric of the welcome burst (002–004, LUSERS 251–266, MOTD) as a
/// sentence for the server buffer; `None` for one not worth a line. Counts are read from the
/// parameters, so "1 1 :Current local users 1, max 1" reads "1 user on this server (at most 1
/// so far)" whatever the server's own wording. Numerics it does not know give their text.
pub fn info_numeric(num: u16, msg: &OwnedMessage) -> Option<String> {
    let p = |i: usize| msg.param(i).unwrap_or("");
    let count = |i: usize| msg.param(i).and_then(|n| n.parse::<u64>().ok());
    let server_text = msg.params.last().map(String::as_str).unwrap_or("");
    let text = match num {
        // 004 <client> <servername> <version> <usermodes> <chanmodes> [...]
        numeric::RPL_MYINFO if !p(1).is_empty() => format!("The server {} runs {}", p(1), p(2))
            .trim_end()
            .to_owned(),
        // 251 :There are <u> users and <i> invisible on <s> servers (RFC 2812's wording; the
        // counts live only in the text, so any other wording is shown as sent).
        numeric::RPL_LUSERCLIENT => match numbers(server_text)[..] {
            [visible, 0, servers] => format!(
                "{} on {}",
                plural(visible, "user", "users"),
                plural(servers, "server", "servers")
            ),
            [visible, invisible, servers] => format!(
                "{} ({invisible} invisible) on {}",
                plural(visible + invisible, "user", "users"),
                plural(servers, "server", "servers")
            ),
            _ => server_text.to_owned(),
        },
        // 255 :I have <c> clients and <s> servers (the servers linked to this one).
        numeric::RPL_LUSERME => match numbers(server_text)[..] {
            [_, 0] => "This server is not linked to others".to_owned(),
            [_, servers] => format!(
                "This server is linked to {}",
                plural(servers, "other server", "other servers")
            ),
            _ => server_text.to_owned(),
        },
        numeric::RPL_LUSEROP => match count(1)? {
            0 => "No IRC operators online".to_owned(),
            n => format!("{} online", plural(n, "IRC operator", "IRC operators")),
        },
        numeric::RPL_LUSERUNKNOWN => match count(1)? {
            0 => return None,
            n => format!(
                "{} still logging in",
                plural(n, "connection", "connections")
            ),
        },
        numeric::RPL_LUSERCHANNELS => match count(1)? {
            0 => "No channels yet".to_owned(),
            n => format!("{} in use", plural(n, "channel", "channels")),
        },
        // 265/266 <client> [<u> <m>] :Current local users <u>, max <m>
        numeric::RPL_LOCALUSERS | numeric::RPL_GLOBALUSERS => {
            let place = if num == numeric::RPL_LOCALUSERS {
                "on this server"
            } else {
                "on the network"
            };
            match (count(1), count(2)) {
                (Some(now), Some(most)) if msg.params.len() > 3 => format!(
                    "{} {place} (at most {most} so far)",
                    plural(now, "user", "users")
                ),
                _ => server_text.to_owned(),
            }
        }
        // "End of /MOTD command": the MOTD is plainly over, and /MOTD is jargon.
        numeric::RPL_ENDOFMOTD => return None,
        // A MOTD line starts with "- " by tradition: the dash is decoration.
        numeric::RPL_MOTD => server_text
            .strip_prefix("- ")
            .unwrap_or(server_text)
            .to_owned(),
        numeric::RPL_MOTDSTART => "Message of the day:".to_owned(),
        _ if msg.params.len() > 2 => {
            // Counts before a sentence ("3 :channels formed") read well joined.
            msg.params[1..].join(" ")
        }
        _ => server_text.to_owned(),
    };
    (!text.is_empty()).then_some(text)
}

/// The whole numbers in `text`, in order ("There are 3 users and 0 invisible" → 3, 0).
fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// "1 user", "3 users".
fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// One WHOIS reply line as a sentence.
pub fn whois_line(num: u16, msg: &OwnedMessage) -> String {
    let p = |i: usize| msg.param(i).unwrap_or("");
    let nick = p(1);
    match num {
        numeric::RPL_WHOISUSER => format!("{nick} is {}@{} ({})", p(2), p(3), p(5)),
        numeric::RPL_WHOISSERVER => format!("{nick} is on {} ({})", p(2), p(3)),
        numeric::RPL_WHOISOPERATOR => format!("{nick} is an IRC operator"),
        numeric::RPL_WHOISIDLE => {
            let idle = p(2).parse::<u64>().unwrap_or(0);
            format!("{nick} has been idle for {} min {} s", idle / 60, idle % 60)
        }
        numeric::RPL_WHOISCHANNELS => format!("{nick} is in {}", p(2)),
        numeric::RPL_WHOISACCOUNT => format!("{nick} is logged in as {}", p(2)),
        numeric::RPL_WHOISREGNICK => format!("{nick} has a registered nick"),
        numeric::RPL_ENDOFWHOIS => format!("End of information about {nick}"),
        _ => {
            let rest = msg.params.get(2..).map(|r| r.join(" ")).unwrap_or_default();
            format!("{nick}: {rest}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(line: &str) -> OwnedMessage {
        OwnedMessage::parse(line).unwrap()
    }

    #[test]
    fn numerics_become_sentences() {
        let cases = [
            (
                ":s 433 * Ñandú :Nickname is already in use",
                433,
                "The nick Ñandú is already in use",
            ),
            (
                ":s 403 ana #nada :No such channel",
                403,
                "There is no channel called #nada",
            ),
            (
                ":s 401 ana bob :No such nick",
                401,
                "There is no one called bob here",
            ),
            (
                ":s 482 ana #c :You're not channel operator",
                482,
                "You need to be a channel operator in #c for that",
            ),
            (":s 499 ana :Something odd", 499, "Something odd"),
        ];
        for (line, num, want) in cases {
            assert_eq!(error_numeric(num, &m(line)), want, "{line}");
        }
    }

    #[test]
    fn the_welcome_burst_reads_as_sentences() {
        let info = |line: &str| {
            let msg = m(line);
            let num = msg.command.parse::<u16>().unwrap();
            info_numeric(num, &msg)
        };
        let cases = [
            // As charla-server sends them.
            (
                ":s 004 ana charla.local charla-0.1.0 iorw beiklmnostv beIklov",
                Some("The server charla.local runs charla-0.1.0"),
            ),
            (
                ":s 265 ana 1 1 :Current local users 1, max 1",
                Some("1 user on this server (at most 1 so far)"),
            ),
            (
                ":s 266 ana 3 5 :Current global users 3, max 5",
                Some("3 users on the network (at most 5 so far)"),
            ),
            (
                ":s 252 ana 0 :operator(s) online",
                Some("No IRC operators online"),
            ),
            (
                ":s 252 ana 1 :operator(s) online",
                Some("1 IRC operator online"),
            ),
            (":s 253 ana 0 :unknown connection(s)", None),
            (
                ":s 253 ana 2 :unknown connection(s)",
                Some("2 connections still logging in"),
            ),
            (":s 254 ana 0 :channels formed", Some("No channels yet")),
            (
                ":s 251 ana :There are 1 users and 0 invisible on 1 servers",
                Some("1 user on 1 server"),
            ),
            (
                ":s 251 ana :There are 3 users and 2 invisible on 4 servers",
                Some("5 users (2 invisible) on 4 servers"),
            ),
            (":s 251 ana :Hay gente", Some("Hay gente")),
            (
                ":s 255 ana :I have 1 clients and 0 servers",
                Some("This server is not linked to others"),
            ),
            (
                ":s 255 ana :I have 9 clients and 1 servers",
                Some("This server is linked to 1 other server"),
            ),
            (":s 254 ana 4 :channels formed", Some("4 channels in use")),
            (
                ":s 375 ana :- charla.local Message of the day - ",
                Some("Message of the day:"),
            ),
            (":s 372 ana :- ¡Bienvenidos! 🎉", Some("¡Bienvenidos! 🎉")),
            (":s 376 ana :End of /MOTD command.", None),
            // 265 without the optional counts: the server's sentence.
            (
                ":s 265 ana :Current local users: 7  Max: 9",
                Some("Current local users: 7  Max: 9"),
            ),
            // Unknown informational numerics keep their text.
            (
                ":s 002 ana :Your host is charla.local, running version 0.1",
                Some("Your host is charla.local, running version 0.1"),
            ),
            (
                ":s 250 ana :Highest connection count: 3",
                Some("Highest connection count: 3"),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(info(line).as_deref(), want, "{line}");
        }
    }

    #[test]
    fn standard_replies_read_well() {
        assert_eq!(
            standard_reply(&m(
                "FAIL REGISTER ACCOUNT_EXISTS ana :Account already exists"
            )),
            "Account registration failed: that account already exists (Account already exists)"
        );
        assert_eq!(
            standard_reply(&m("FAIL CHATHISTORY MESSAGE_ERROR :History is off")),
            "History failed: History is off"
        );
    }
}
