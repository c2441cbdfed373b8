//! Tests of the state reducer: IRC lines in, buffers out.

use charla_proto::OwnedMessage;

use super::*;

fn irc(line: &str) -> Event {
    Event::Irc(OwnedMessage::parse(line).unwrap())
}

/// A state registered as `ana`, in `#charla` with bob (op) and carla (voice).
fn in_channel() -> State {
    let mut s = State::new("ana");
    for line in [
        ":srv 001 ana :Welcome to Charla, ana",
        ":srv 005 ana PREFIX=(ov)@+ CHANTYPES=# NETWORK=Charla :are supported",
        ":ana!a@h JOIN #charla",
        ":srv 353 ana = #charla :ana @bob +carla",
        ":srv 366 ana #charla :End of /NAMES list.",
    ] {
        s.apply(&irc(line));
    }
    s
}

fn chan(s: &State) -> &Buffer {
    s.buffer(&BufferId::Channel("#charla".into())).unwrap()
}

fn nicks(b: &Buffer) -> Vec<String> {
    b.members
        .iter()
        .map(|m| {
            format!(
                "{}{}",
                m.prefix().map(String::from).unwrap_or_default(),
                m.nick
            )
        })
        .collect()
}

fn last(b: &Buffer) -> &Line {
    b.lines.back().unwrap()
}

#[test]
fn join_and_names_fill_the_nick_list_sorted_by_status() {
    let s = in_channel();
    assert_eq!(s.isupport.network.as_deref(), Some("Charla"));
    let b = chan(&s);
    assert!(b.joined && b.rejoin);
    assert_eq!(nicks(b), ["@bob", "+carla", "ana"]);
    assert_eq!(s.channels_to_rejoin(), ["#charla"]);
}

#[test]
fn roles_from_prefixes() {
    let mut s = in_channel();
    s.apply(&irc(":srv 005 ana PREFIX=(qaohv)~&@%+ :are supported"));
    s.apply(&irc(
        ":srv 353 ana = #charla :ana @bob +carla ~Ñandú &dora %eva",
    ));
    s.apply(&irc(":srv 366 ana #charla :End of /NAMES list."));
    let b = chan(&s);
    // Operators and above may kick; voice and plain members may not. Nicks fold case.
    assert!(b.is_op("bob") && b.is_op("ÑANDÚ") && b.is_op("dora") && b.is_op("eva"));
    assert!(!b.is_op("carla") && !b.is_op("ana") && !b.is_op("nobody"));
    let roles: Vec<(&str, &str)> = b
        .members
        .iter()
        .map(|m| (m.nick.as_str(), m.role().describe()))
        .collect();
    assert_eq!(
        roles,
        [
            ("Ñandú", "owner"),
            ("dora", "admin"),
            ("bob", "operator"),
            ("eva", "half-operator"),
            ("carla", "voiced"),
            ("ana", "member"),
        ]
    );
    // Losing @ loses the role at once.
    s.apply(&irc(":srv MODE #charla -o bob"));
    assert!(!chan(&s).is_op("bob"));
    assert_eq!(bare_nick("@+bob"), "bob");
    assert_eq!(bare_nick("Ñandú"), "Ñandú");
}

#[test]
fn names_with_multi_prefix_and_userhost() {
    let mut s = in_channel();
    s.apply(&irc(":srv 353 ana = #charla :+@dora!d@h Ñandú!n@h"));
    s.apply(&irc(":srv 366 ana #charla :End"));
    let b = chan(&s);
    assert_eq!(nicks(b), ["@dora", "Ñandú"]);
    assert_eq!(b.member("dora").unwrap().prefixes, "@+");
}

#[test]
fn others_join_part_quit_and_nick() {
    let mut s = in_channel();
    s.apply(&irc(":Ñandú!n@h JOIN #charla"));
    assert_eq!(last(chan(&s)).text, "Ñandú joined");
    assert_eq!(last(chan(&s)).kind, LineKind::Join);
    assert!(
        chan(&s).member("ñandú").is_some(),
        "case-insensitive lookup"
    );
    s.apply(&irc(":Ñandú!n@h NICK :Ñandú2"));
    assert_eq!(last(chan(&s)).text, "Ñandú is now known as Ñandú2");
    assert!(chan(&s).member("Ñandú2").is_some());
    s.apply(&irc(":Ñandú2!n@h PART #charla :adiós"));
    assert_eq!(last(chan(&s)).text, "Ñandú2 left (adiós)");
    assert!(chan(&s).member("Ñandú2").is_none());
    s.apply(&irc(":carla!c@h QUIT :Ping timeout"));
    assert_eq!(last(chan(&s)).text, "carla quit (Ping timeout)");
    assert_eq!(nicks(chan(&s)), ["@bob", "ana"]);
    // Joins and parts do not count as unread.
    assert_eq!(chan(&s).unread, 0);
}

#[test]
fn messages_count_unread_and_mentions_and_notify() {
    let mut s = in_channel();
    assert_eq!(
        s.apply(&irc(":bob!b@h PRIVMSG #charla :hola a todos 🎉")),
        None
    );
    let n = s.apply(&irc(":bob!b@h PRIVMSG #charla :ANA: ¿vienes?"));
    assert_eq!(
        n,
        Some(Notification::Mention {
            buffer: BufferId::Channel("#charla".into()),
            nick: "bob".into(),
            text: "ANA: ¿vienes?".into()
        })
    );
    // "banana" is not a mention of "ana".
    assert_eq!(s.apply(&irc(":bob!b@h PRIVMSG #charla :banana")), None);
    let b = chan(&s);
    assert_eq!((b.unread, b.mentions), (3, 1));
    assert!(
        b.lines
            .iter()
            .any(|l| l.highlight && l.nick.as_deref() == Some("bob"))
    );
    s.mark_read(&BufferId::Channel("#CHARLA".into()));
    assert_eq!((chan(&s).unread, chan(&s).mentions), (0, 0));
}

#[test]
fn private_messages_open_a_query_and_notify() {
    let mut s = in_channel();
    let n = s.apply(&irc(":Ñandú!n@h PRIVMSG ana :hola 👋"));
    assert_eq!(
        n,
        Some(Notification::Private {
            nick: "Ñandú".into(),
            text: "hola 👋".into()
        })
    );
    let q = s.buffer(&BufferId::Query("ñandú".into())).unwrap();
    assert_eq!(q.id, BufferId::Query("Ñandú".into()));
    assert_eq!((q.unread, q.mentions), (1, 1));
    // Our own message to them, echoed by the server, lands in the same query.
    s.apply(&irc(":ana!a@h PRIVMSG Ñandú :¿qué tal?"));
    let q = s.buffer(&BufferId::Query("Ñandú".into())).unwrap();
    assert!(last(q).own);
    assert_eq!(q.unread, 1);
}

#[test]
fn actions_notices_and_echo() {
    let mut s = in_channel();
    s.apply(&irc(":bob!b@h PRIVMSG #charla :\u{1}ACTION baila\u{1}"));
    assert_eq!(last(chan(&s)).kind, LineKind::Action);
    assert_eq!(last(chan(&s)).text, "baila");
    s.apply(&Event::Echo(OwnedMessage::new(
        "PRIVMSG",
        ["#charla", "mío"],
    )));
    assert!(last(chan(&s)).own);
    s.apply(&irc(":srv NOTICE * :*** Looking up your hostname"));
    assert_eq!(last(s.server_buffer()).kind, LineKind::Notice);
    // A service's private notice goes to the server buffer when no query is open.
    s.apply(&irc(
        ":NickServ!s@services NOTICE ana :This nick is registered",
    ));
    assert_eq!(last(s.server_buffer()).text, "This nick is registered");
    assert!(s.buffer(&BufferId::Query("NickServ".into())).is_none());
}

#[test]
fn server_time_is_used() {
    let mut s = in_channel();
    s.apply(&irc(
        "@time=2024-01-02T03:04:05.678Z :bob!b@h PRIVMSG #charla :old",
    ));
    assert_eq!(
        last(chan(&s)).time.to_rfc3339(),
        "2024-01-02T03:04:05.678+00:00"
    );
}

#[test]
fn modes_change_prefixes() {
    let mut s = in_channel();
    s.apply(&irc(":bob!b@h MODE #charla +o-v+v ana carla ana"));
    assert_eq!(nicks(chan(&s)), ["@ana", "@bob", "carla"]);
    assert_eq!(chan(&s).member("ana").unwrap().prefixes, "@+");
    assert_eq!(last(chan(&s)).text, "bob sets mode +o-v+v ana carla ana");
    s.apply(&irc(":bob!b@h MODE #charla +l-o 10 ana"));
    assert_eq!(chan(&s).member("ana").unwrap().prefixes, "+");
}

#[test]
fn topic_is_kept() {
    let mut s = in_channel();
    s.apply(&irc(":srv 332 ana #charla :Bienvenidos ☀️"));
    assert_eq!(chan(&s).topic.as_deref(), Some("Bienvenidos ☀️"));
    s.apply(&irc(":bob!b@h TOPIC #charla :Nuevo"));
    assert_eq!(chan(&s).topic.as_deref(), Some("Nuevo"));
    assert_eq!(last(chan(&s)).text, "bob changed the topic to: Nuevo");
    // Joined again (after a reconnect) to a channel whose topic was cleared meanwhile: the
    // old topic does not stay.
    s.apply(&irc(":ana!a@h JOIN #charla"));
    s.apply(&irc(":srv 366 ana #charla :End of /NAMES list."));
    assert_eq!(chan(&s).topic, None);
}

#[test]
fn kicked_leaves_the_buffer_and_does_not_rejoin() {
    let mut s = in_channel();
    s.apply(&irc(":bob!b@h KICK #charla ana :fuera"));
    let b = chan(&s);
    assert!(!b.joined && !b.rejoin && b.members.is_empty());
    assert_eq!(last(b).text, "You were kicked by bob (fuera)");
    assert!(s.channels_to_rejoin().is_empty());
}

#[test]
fn own_part_closes_the_buffer() {
    let mut s = in_channel();
    s.apply(&irc(":ana!a@h PART #charla"));
    assert!(s.buffer(&BufferId::Channel("#charla".into())).is_none());
}

#[test]
fn errors_are_words_where_the_user_acted() {
    let mut s = in_channel();
    s.apply(&Event::Acting {
        buffer: BufferId::Channel("#charla".into()),
    });
    s.apply(&irc(":srv 433 ana Ñandú :Nickname is already in use"));
    let l = last(chan(&s));
    assert_eq!(
        (l.kind, l.text.as_str()),
        (LineKind::Error, "The nick Ñandú is already in use")
    );
    // An error that names a channel we have goes there.
    s.apply(&Event::Acting {
        buffer: BufferId::Server,
    });
    s.apply(&irc(":srv 482 ana #charla :You're not channel operator"));
    assert_eq!(
        last(chan(&s)).text,
        "You need to be a channel operator in #charla for that"
    );
    s.apply(&irc("FAIL REGISTER WEAK_PASSWORD * :Too weak"));
    assert!(
        last(s.server_buffer())
            .text
            .starts_with("Account registration failed: the password is too weak")
    );
}

#[test]
fn disconnect_and_reconnect_say_so_everywhere() {
    let mut s = in_channel();
    s.apply(&irc(":bob!b@h PRIVMSG ana :hi"));
    s.apply(&Event::Disconnected {
        reason: "the server closed the connection".into(),
        retry_in: Some(Duration::from_secs(4)),
    });
    for b in &s.buffers {
        assert_eq!(
            last(b).text,
            "Disconnected: the server closed the connection, retrying in 4 s"
        );
    }
    assert!(!chan(&s).joined && chan(&s).members.is_empty());
    assert_eq!(s.channels_to_rejoin(), ["#charla"], "still wanted");
    s.apply(&Event::Registered {
        nick: "ana".into(),
        reconnected: true,
    });
    for b in &s.buffers {
        assert_eq!(last(b).text, "Reconnected");
    }
    assert_eq!(s.status, ConnectionStatus::Connected);
}

#[test]
fn typing_comes_and_goes() {
    let mut s = in_channel();
    s.apply(&irc("@+typing=active :bob!b@h TAGMSG #charla"));
    let now = Instant::now();
    assert_eq!(chan(&s).typing_now(now), ["bob"]);
    assert!(
        chan(&s).typing_now(now + Duration::from_secs(7)).is_empty(),
        "active expires"
    );
    s.apply(&irc(":bob!b@h PRIVMSG #charla :done typing"));
    assert!(chan(&s).typing_now(now).is_empty(), "a message ends typing");
    s.apply(&irc("@+typing=active :bob!b@h TAGMSG #charla"));
    s.apply(&irc("@+typing=done :bob!b@h TAGMSG #charla"));
    assert!(chan(&s).typing_now(now).is_empty());
}

#[test]
fn away_notify_marks_members() {
    let mut s = in_channel();
    s.apply(&irc(":bob!b@h AWAY :lunch"));
    assert!(chan(&s).member("bob").unwrap().away);
    s.apply(&irc(":bob!b@h AWAY"));
    assert!(!chan(&s).member("bob").unwrap().away);
}

#[test]
fn nick_completion_prefers_recent_speakers() {
    let mut s = in_channel();
    s.apply(&irc(":srv 353 ana = #charla :bea"));
    s.apply(&irc(":srv 353 ana = #charla :ana @bob +carla"));
    s.apply(&irc(":srv 366 ana #charla :End"));
    s.apply(&irc(":bea!b@h PRIVMSG #charla :hola"));
    assert_eq!(chan(&s).complete_nick("B"), ["bea", "bob"]);
    assert_eq!(chan(&s).complete_nick("c"), ["carla"]);
}

#[test]
fn certificate_events_set_the_prompt() {
    let mut s = State::new("ana");
    s.apply(&Event::CertificateUnknown {
        host: "h".into(),
        port: 6697,
        fingerprint: "AA".into(),
    });
    assert_eq!(s.status, ConnectionStatus::WaitingForTrust);
    assert!(matches!(
        s.certificate,
        Some(CertificateIssue::Unknown { .. })
    ));
    s.apply(&Event::CertificateTrusted {
        host: "h".into(),
        port: 6697,
        fingerprint: "AA".into(),
    });
    assert!(s.certificate.is_none());
    s.apply(&Event::CertificateChanged {
        host: "h".into(),
        port: 6697,
        expected: "AA".into(),
        got: "BB".into(),
    });
    assert!(last(s.server_buffer()).text.contains("CHANGED"));
}

#[test]
fn scrollback_is_bounded() {
    let mut s = in_channel();
    s.scrollback = 10;
    for i in 0..50 {
        s.apply(&irc(&format!(":bob!b@h PRIVMSG #charla :{i}")));
    }
    assert_eq!(chan(&s).lines.len(), 10);
    assert_eq!(last(chan(&s)).text, "49");
}

#[test]
fn mention_matching() {
    let cases = [
        ("ana: hola", "ana", true),
        ("hola Ana!", "ana", true),
        ("banana", "ana", false),
        ("ana_ no", "ana", false),
        ("hola ÑANDÚ", "ñandú", true),
        ("", "ana", false),
        ("x", "", false),
        // A nick inside a link or an address names a page or a mailbox, not the person.
        ("https://example.org/ñandú", "ñandú", false),
        ("mirá https://ejemplo.org/Ñandú?x=1, ¿sí?", "ñandú", false),
        ("https://ana.example.org", "ana", false),
        ("escribile a ana@example.org", "ana", false),
        // The same text outside the link still does.
        ("ñandú: https://example.org/ñandú", "ñandú", true),
        ("https://example.org/x ¿viste, Ñandú? 🎉", "ñandú", true),
    ];
    for (text, nick, want) in cases {
        assert_eq!(mentions(text, nick), want, "{text:?} {nick:?}");
    }
}

#[test]
fn a_link_with_our_nick_is_not_a_mention() {
    let mut s = State::new("Ñandú");
    s.apply(&irc(":Ñandú!n@h JOIN #charla"));
    let n = s.apply(&irc(":bob!b@h PRIVMSG #charla :https://example.org/ñandú"));
    assert_eq!(n, None, "no notification for a link");
    let b = chan(&s);
    assert_eq!((b.unread, b.mentions), (1, 0));
    assert!(!last(b).highlight, "the line is not tinted");
}

#[test]
fn odd_lines_do_not_panic() {
    let mut s = in_channel();
    for line in [
        ":srv 353",
        ":srv 366",
        ":srv 005",
        ":srv 005 ana",
        ":srv 005 ana PREFIX=(ov :x",
        ":srv 324 ana #charla",
        ":srv 353 ana = #charla",
        ":srv 333 ana #charla",
        ":x MODE",
        ":x MODE #charla",
        ":x KICK",
        "PRIVMSG",
        "TOPIC",
        ":srv 401",
        ":srv 332 ana",
        "NICK",
        "@+typing=bogus :x TAGMSG",
        ":srv 900 ana",
        "REGISTER",
        "FAIL",
    ] {
        s.apply(&irc(line));
    }
}

#[test]
fn channel_modes_are_tracked_quietly_first_then_shown_on_request() {
    let mut s = in_channel();
    s.apply(&irc(":srv 324 ana #charla +ntk secreto"));
    assert_eq!(chan(&s).modes.as_deref(), Some("+knt"));
    assert_ne!(
        last(chan(&s)).kind,
        LineKind::Mode,
        "the automatic request is silent"
    );
    s.apply(&irc(":bob!b@h MODE #charla -k+l-t+b secreto 10 *!*@spam"));
    assert_eq!(chan(&s).modes.as_deref(), Some("+ln"));
    s.apply(&irc(":srv 324 ana #charla +nl 10"));
    assert_eq!(last(chan(&s)).text, "Channel modes: +ln");
}

#[test]
fn names_of_another_channel_are_said_where_asked() {
    let mut s = in_channel();
    s.apply(&Event::Acting {
        buffer: BufferId::Channel("#charla".into()),
    });
    s.apply(&irc(":srv 353 ana = #otro :@zoe yan"));
    s.apply(&irc(":srv 366 ana #otro :End"));
    assert_eq!(last(chan(&s)).text, "In #otro: @zoe yan");
}

#[test]
fn repeated_failed_tries_update_one_line() {
    let mut s = in_channel();
    for secs in [2, 4, 8] {
        s.apply(&Event::Connecting {
            host: "h".into(),
            port: 1,
            attempt: 2,
        });
        s.apply(&Event::Disconnected {
            reason: "the server refused the connection".into(),
            retry_in: Some(Duration::from_secs(secs)),
        });
    }
    let b = chan(&s);
    let disconnected: Vec<&Line> = b
        .lines
        .iter()
        .filter(|l| l.text.starts_with("Disconnected"))
        .collect();
    assert_eq!(disconnected.len(), 1);
    assert!(disconnected[0].text.ends_with("retrying in 8 s"));
}

#[test]
fn our_user_modes_are_kept() {
    let mut s = in_channel();
    s.apply(&irc(":ana MODE ana :+iw"));
    assert_eq!(s.user_modes, "+iw");
    s.apply(&irc(":srv MODE ana -w+o"));
    assert_eq!(s.user_modes, "+io");
    s.apply(&irc(":srv 221 ana +x"));
    assert_eq!(s.user_modes, "+x");
    s.apply(&irc(":srv MODE ana -x"));
    assert_eq!(s.user_modes, "");
}

#[test]
fn the_server_operator_speaking_is_a_notification() {
    let mut s = State::new("ana");
    // Before registration, server notices are routine and quiet.
    assert_eq!(
        s.apply(&irc(":srv NOTICE ana :*** Looking up your hostname")),
        None
    );
    s.apply(&irc(":srv 001 ana :Welcome"));
    s.apply(&Event::Registered {
        nick: "ana".into(),
        reconnected: false,
    });
    let n = s.apply(&irc(":srv NOTICE $* :El servidor se reinicia en 5 minutos"));
    assert_eq!(
        n,
        Some(Notification::Private {
            nick: "srv".into(),
            text: "El servidor se reinicia en 5 minutos".into()
        })
    );
    let n = s.apply(&irc(":srv NOTICE ana :Hola ana, soy el operador"));
    assert!(matches!(n, Some(Notification::Private { .. })));
    let b = s.server_buffer();
    assert_eq!(b.mentions, 2);
    assert!(last(b).highlight && last(b).kind == LineKind::Notice);
}

#[test]
fn invites_and_informational_numerics_read_well() {
    let mut s = in_channel();
    s.apply(&Event::Acting {
        buffer: BufferId::Channel("#charla".into()),
    });
    s.apply(&irc(":bob!b@h INVITE ana #secreto"));
    assert_eq!(
        last(chan(&s)).text,
        "bob invites you to #secreto (/join #secreto)"
    );
    s.apply(&irc(":bob!b@h INVITE carla #charla"));
    assert_eq!(last(chan(&s)).text, "bob invited carla to #charla");
    s.apply(&irc(":srv 254 ana 3 :channels formed"));
    assert_eq!(last(s.server_buffer()).text, "3 channels in use");
    s.apply(&irc(":srv 265 ana 5 10 :Current local users 5, max 10"));
    assert_eq!(
        last(s.server_buffer()).text,
        "5 users on this server (at most 10 so far)"
    );
    s.apply(&irc(":srv 372 ana :- Bienvenidos 🎉"));
    assert_eq!(last(s.server_buffer()).text, "Bienvenidos 🎉");
}

#[test]
fn topic_and_away_replies_are_said_where_asked() {
    let mut s = in_channel();
    s.apply(&Event::Acting {
        buffer: BufferId::Channel("#charla".into()),
    });
    s.apply(&irc(":srv 331 ana #charla :No topic is set"));
    assert_eq!(last(chan(&s)).text, "No topic is set");
    s.apply(&irc(":srv 306 ana :You have been marked as being away"));
    assert!(s.away);
    assert_eq!(last(chan(&s)).text, "You are now marked as away");
    s.apply(&irc(":srv 004 ana srv charla-0.1 iow beIiklmnostv"));
    assert_eq!(
        last(s.server_buffer()).text,
        "The server srv runs charla-0.1",
        "004 in words, without the mode letters"
    );
}

/// The welcome burst as charla-server sends it: every line in the server buffer is a sentence,
/// none starts with bare counts or mode letters, and the MOTD's end is not announced.
#[test]
fn the_welcome_burst_has_no_raw_parameters() {
    let mut s = State::new("ana");
    for line in [
        ":srv 001 ana :Welcome to the Charla IRC Network, ana!a@127.0.0.1",
        ":srv 002 ana :Your host is srv, running version charla-0.1.0",
        ":srv 003 ana :This server was created 2026-11-23 10:00:00 UTC",
        ":srv 004 ana srv charla-0.1.0 iorw beiklmnostv beIklov",
        ":srv 005 ana PREFIX=(ov)@+ CHANTYPES=# :are supported by this server",
        ":srv 251 ana :There are 1 users and 0 invisible on 1 servers",
        ":srv 252 ana 0 :operator(s) online",
        ":srv 253 ana 0 :unknown connection(s)",
        ":srv 254 ana 0 :channels formed",
        ":srv 255 ana :I have 1 clients and 0 servers",
        ":srv 265 ana 1 1 :Current local users 1, max 1",
        ":srv 266 ana 1 1 :Current global users 1, max 1",
        ":srv 422 ana :MOTD File is missing",
    ] {
        s.apply(&irc(line));
    }
    let texts: Vec<&str> = s
        .server_buffer()
        .lines
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert!(texts.contains(&"The server srv runs charla-0.1.0"));
    assert!(texts.contains(&"1 user on this server (at most 1 so far)"));
    assert!(texts.contains(&"1 user on the network (at most 1 so far)"));
    assert!(texts.contains(&"No IRC operators online"));
    assert!(texts.contains(&"No channels yet"));
    assert!(texts.contains(&"1 user on 1 server"));
    assert!(texts.contains(&"This server is not linked to others"));
    for text in &texts {
        assert!(
            !text.split(' ').take(2).all(|w| w.parse::<u64>().is_ok()),
            "raw counts in {text:?}"
        );
        assert!(!text.contains("beIklov"), "mode letters in {text:?}");
        assert!(!text.contains("/MOTD"), "jargon in {text:?}");
    }
    // A server without a MOTD is not an error worth red.
    assert!(
        s.server_buffer()
            .lines
            .iter()
            .all(|l| l.kind != LineKind::Error),
        "{texts:?}"
    );
}

#[test]
fn accounts_come_from_extended_join_account_notify_tags_whois_and_whox() {
    let mut s = in_channel();
    s.apply(&Event::Capabilities {
        enabled: vec![
            "extended-join".into(),
            "account-notify".into(),
            "account-tag".into(),
        ],
    });
    s.apply(&irc(":srv 005 ana WHOX :are supported"));
    assert!(s.isupport.whox);
    // extended-join: JOIN <channel> <account|*> :<real name>
    s.apply(&irc(":Ñandú!n@h JOIN #charla ñandú :Ñandú Pérez"));
    s.apply(&irc(":dora!d@h JOIN #charla * :Dora"));
    assert_eq!(s.account_of("ÑANDÚ"), Some("ñandú"));
    assert_eq!(s.account_of("dora"), None);
    // account-notify
    s.apply(&irc(":dora!d@h ACCOUNT dora"));
    assert_eq!(s.account_of("dora"), Some("dora"));
    s.apply(&irc(":dora!d@h ACCOUNT *"));
    assert_eq!(s.account_of("dora"), None);
    // the account tag, on any line from a user
    s.apply(&irc("@account=bobby :bob!b@h PRIVMSG #charla :hola"));
    assert_eq!(s.account_of("bob"), Some("bobby"));
    s.apply(&irc(":bob!b@h PRIVMSG #charla :sin cuenta"));
    assert_eq!(s.account_of("bob"), None, "no tag means not logged in");
    // WHOX with the client's token; another token is the user's own /who
    s.apply(&irc(":srv 354 ana 152 carla carla_acct"));
    s.apply(&irc(":srv 354 ana 999 dora someone"));
    assert_eq!(s.account_of("carla"), Some("carla_acct"));
    assert_eq!(s.account_of("dora"), None);
    // WHOIS 330
    s.apply(&irc(":srv 330 ana dora dora_acct :is logged in as"));
    assert_eq!(s.account_of("dora"), Some("dora_acct"));
    assert_eq!(
        last(s.server_buffer()).text,
        "dora is logged in as dora_acct"
    );
    // Nick changes carry the account, quits and parts forget it.
    s.apply(&irc("@account=ñandú :Ñandú!n@h NICK Choique"));
    assert_eq!(s.account_of("Choique"), Some("ñandú"));
    assert_eq!(s.account_of("Ñandú"), None);
    s.apply(&irc(":Choique!n@h QUIT :bye"));
    assert_eq!(s.account_of("Choique"), None);
    s.apply(&irc(":carla!c@h PART #charla"));
    assert_eq!(s.account_of("carla"), None);
    // Our own login.
    s.apply(&irc(
        ":srv 900 ana ana!a@h ana_acct :You are now logged in as ana_acct",
    ));
    assert_eq!(s.account_of("ana"), Some("ana_acct"));
    assert_eq!(s.account.as_deref(), Some("ana_acct"));
    s.apply(&Event::Disconnected {
        reason: "x".into(),
        retry_in: None,
    });
    assert_eq!(s.account_of("dora"), None, "forgotten with the connection");
}

#[test]
fn login_failures_and_registration_replies_are_said_in_words() {
    use crate::account::{LoginError, RegistrationReply};
    let mut s = State::new("ana");
    s.apply(&Event::LoginFailed {
        error: LoginError::WrongCredentials,
        continuing: true,
    });
    assert_eq!(
        last(s.server_buffer()).text,
        "Could not log in: wrong account name or password. Carrying on without an account."
    );
    assert_eq!(s.login_error, Some(LoginError::WrongCredentials));
    s.apply(&Event::Connected);
    assert_eq!(s.login_error, None, "a new try starts afresh");
    let reply = RegistrationReply::Failed {
        command: "REGISTER".into(),
        code: "ACCOUNT_EXISTS".into(),
        text: "Account registration failed: that account already exists".into(),
    };
    s.apply(&Event::AccountRegistration(reply.clone()));
    let line = last(s.server_buffer());
    assert_eq!(line.kind, LineKind::Error);
    assert_eq!(line.text, reply.describe());
    assert_eq!(s.registration, Some(reply));
}

#[test]
fn a_renamed_channel_keeps_its_buffer_and_a_stale_one_of_the_new_name_gives_way() {
    let mut s = in_channel();
    s.apply(&irc(":bob!b@h PRIVMSG #charla :hola"));
    // A buffer left from an earlier #nueva, no longer joined.
    s.apply(&irc(":ana!a@h JOIN #nueva"));
    s.apply(&irc(":ana!a@h PART #nueva"));
    s.apply(&irc(":ana!a@h JOIN #Nueva"));
    s.apply(&irc(":bob!b@h KICK #Nueva ana"));
    let before = chan(&s).lines.len();
    s.apply(&irc(":bob!b@h RENAME #charla #nueva :mudanza"));
    assert!(s.buffer(&BufferId::Channel("#charla".into())).is_none());
    let renamed: Vec<&Buffer> = s
        .buffers
        .iter()
        .filter(|b| b.id.same(&BufferId::Channel("#nueva".into())))
        .collect();
    assert_eq!(renamed.len(), 1, "one buffer for the name");
    let b = renamed[0];
    assert_eq!(b.id, BufferId::Channel("#nueva".into()));
    assert!(b.joined);
    assert_eq!(nicks(b), ["@bob", "+carla", "ana"]);
    assert_eq!((b.lines.len(), b.unread), (before + 1, 1));
    assert_eq!(
        last(b).text,
        "bob renamed the channel from #charla to #nueva (mudanza)"
    );
    assert_eq!(s.channels_to_rejoin(), ["#nueva"]);
    // A RENAME of a channel we have no buffer for changes nothing.
    s.apply(&irc(":bob!b@h RENAME #otro #otra :"));
    assert!(s.buffer(&BufferId::Channel("#otra".into())).is_none());
}

#[test]
fn the_file_host_comes_from_isupport_unescaped_and_goes_when_withdrawn() {
    let mut s = in_channel();
    assert_eq!(s.isupport.filehost, None);
    s.apply(&irc(
        ":srv 005 ana soju.im/FILEHOST=https://chat.example.org/upload?a\\x3Db :are supported",
    ));
    assert_eq!(
        s.isupport.filehost.as_deref(),
        Some("https://chat.example.org/upload?a=b")
    );
    s.apply(&irc(":srv 005 ana -soju.im/FILEHOST :are supported"));
    assert_eq!(s.isupport.filehost, None);
}
