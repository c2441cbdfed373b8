//! Each IRCv3 capability we advertise, seen working.

mod common;

use charla_proto::OwnedMessage;
use charla_proto::numeric::*;
use common::{TestClient, TestServer};

async fn with_caps(server: &TestServer, nick: &str, caps: &str) -> TestClient {
    let mut c = server.connect().await;
    c.register_with_caps(nick, caps).await;
    c
}

async fn join(c: &mut TestClient, channel: &str) {
    c.send(&format!("JOIN {channel}")).await;
    c.expect_numeric(RPL_ENDOFNAMES).await;
}

#[tokio::test]
async fn server_time_tags_relayed_messages() {
    let server = TestServer::start().await;
    let mut timed = with_caps(&server, "timed", "server-time").await;
    let mut plain = server.client("plain").await;
    join(&mut timed, "#t").await;
    join(&mut plain, "#t").await;
    let mut sender = server.client("sender").await;
    join(&mut sender, "#t").await;
    sender.send("PRIVMSG #t :hora").await;
    let m = timed.expect_command("PRIVMSG").await;
    let time = m.tag("time").expect("time tag");
    assert_eq!(time.len(), "2024-01-01T00:00:00.000Z".len(), "{time}");
    assert!(time.ends_with('Z'));
    let p = plain.expect_command("PRIVMSG").await;
    assert!(p.tags.is_empty(), "{p}");
}

#[tokio::test]
async fn message_tags_relay_client_tags_and_tagmsg() {
    let server = TestServer::start().await;
    let mut a = with_caps(&server, "a", "message-tags").await;
    let mut b = with_caps(&server, "b", "message-tags").await;
    let mut plain = server.client("plain").await;
    for c in [&mut a, &mut b, &mut plain] {
        join(c, "#tags").await;
    }
    a.send("@+typing=active;+draft/reply=abc TAGMSG #tags")
        .await;
    let t = b.expect_command("TAGMSG").await;
    assert_eq!(t.tag("+typing"), Some("active"));
    assert_eq!(t.tag("+draft/reply"), Some("abc"));
    a.send("@+example.com/emoji=🎉\\s;notclient=x PRIVMSG #tags :con etiqueta")
        .await;
    let m = b.expect_command("PRIVMSG").await;
    assert_eq!(m.tag("+example.com/emoji"), Some("🎉 "));
    assert_eq!(
        m.tag("notclient"),
        None,
        "only client-only tags are relayed"
    );
    // Clients without message-tags get the text without tags, and never a TAGMSG.
    let p = plain.expect_command("PRIVMSG").await;
    assert!(p.tags.is_empty());
    let seen = plain.sync().await;
    assert!(seen.iter().all(|m| m.command != "TAGMSG"), "{seen:?}");
    // TAGMSG to a nick.
    a.send("@+typing=paused TAGMSG b").await;
    assert_eq!(
        b.expect_command("TAGMSG").await.tag("+typing"),
        Some("paused")
    );
}

#[tokio::test]
async fn echo_message_returns_own_messages() {
    let server = TestServer::start().await;
    let mut echo = with_caps(&server, "echo", "echo-message").await;
    let mut bob = server.client("bob").await;
    join(&mut echo, "#e").await;
    join(&mut bob, "#e").await;
    echo.send("PRIVMSG #e :eco").await;
    let m = echo.expect_command("PRIVMSG").await;
    assert_eq!(m.source_nick(), Some("echo"));
    assert_eq!(m.params, vec!["#e", "eco"]);
    echo.send("NOTICE bob :privado").await;
    assert_eq!(echo.expect_command("NOTICE").await.param(0), Some("bob"));
    bob.expect_command("PRIVMSG").await;
    bob.expect_command("NOTICE").await;
}

#[tokio::test]
async fn away_notify_tells_channel_peers() {
    let server = TestServer::start().await;
    let mut watcher = with_caps(&server, "watcher", "away-notify").await;
    let mut other = server.client("other").await;
    let mut leaver = server.client("leaver").await;
    for c in [&mut watcher, &mut other, &mut leaver] {
        join(c, "#a").await;
    }
    leaver.send("AWAY :almuerzo").await;
    let a = watcher.expect_command("AWAY").await;
    assert_eq!(a.source_nick(), Some("leaver"));
    assert_eq!(a.param(0), Some("almuerzo"));
    leaver.send("AWAY").await;
    assert_eq!(watcher.expect_command("AWAY").await.param(0), None);
    let seen = other.sync().await;
    assert!(seen.iter().all(|m| m.command != "AWAY"), "{seen:?}");

    // Someone already away joins: right after the JOIN, watchers get their AWAY.
    let mut late = server.client("late").await;
    late.send("AWAY :fuera").await;
    late.expect_numeric(charla_proto::numeric::RPL_NOWAWAY)
        .await;
    join(&mut late, "#a").await;
    let j = watcher.expect_command("JOIN").await;
    assert_eq!(j.source_nick(), Some("late"));
    let a = watcher.recv().await;
    assert_eq!(a.command, "AWAY", "{a}");
    assert_eq!(a.source_nick(), Some("late"));
    assert_eq!(a.param(0), Some("fuera"));
    let seen = other.sync().await;
    assert!(seen.iter().all(|m| m.command != "AWAY"), "{seen:?}");
}

#[tokio::test]
async fn extended_join_carries_account_and_realname() {
    let server = TestServer::start().await;
    let mut ext = with_caps(&server, "ext", "extended-join").await;
    join(&mut ext, "#x").await;
    let mut bob = server.client("bob").await;
    join(&mut bob, "#x").await;
    let j = ext
        .expect(&"bob's JOIN", |m| {
            m.command == "JOIN" && m.source_nick() == Some("bob")
        })
        .await;
    assert_eq!(j.params, vec!["#x", "*", "Test bob"]);
}

#[tokio::test]
async fn userhost_in_names() {
    let server = TestServer::start().await;
    let mut c = with_caps(&server, "uh", "userhost-in-names").await;
    c.send("JOIN #u").await;
    let n = c.expect_numeric(RPL_NAMREPLY).await;
    assert_eq!(n.param(3), Some("@uh!~uh@127.0.0.1"));
}

#[tokio::test]
async fn invite_notify_tells_other_members() {
    let server = TestServer::start().await;
    let mut op = server.client("op").await;
    join(&mut op, "#inv").await;
    let mut watcher = with_caps(&server, "watcher", "invite-notify").await;
    join(&mut watcher, "#inv").await;
    let _guest = server.client("guest").await;
    op.send("INVITE guest #inv").await;
    let i = watcher.expect_command("INVITE").await;
    assert_eq!(i.source_nick(), Some("op"));
    assert_eq!(i.params, vec!["guest", "#inv"]);
}

#[tokio::test]
async fn setname_changes_the_realname() {
    let server = TestServer::start().await;
    let mut a = with_caps(&server, "a", "setname").await;
    let mut b = with_caps(&server, "b", "setname").await;
    join(&mut a, "#s").await;
    join(&mut b, "#s").await;
    a.send("SETNAME :Ana María").await;
    assert_eq!(
        a.expect_command("SETNAME").await.param(0),
        Some("Ana María")
    );
    assert_eq!(
        b.expect_command("SETNAME").await.param(0),
        Some("Ana María")
    );
    b.send("WHOIS a").await;
    assert_eq!(
        b.expect_numeric(RPL_WHOISUSER).await.param(5),
        Some("Ana María")
    );
    a.send(&format!("SETNAME :{}", "n".repeat(200))).await;
    assert_eq!(
        a.expect_command("FAIL").await.param(1),
        Some("INVALID_REALNAME")
    );
}

#[tokio::test]
async fn cap_ls_302_comes_on_several_lines_when_it_does_not_fit_in_one() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send("CAP LS 302").await;
    let mut offered = Vec::new();
    loop {
        let ls = c.expect_command("CAP").await;
        assert_eq!(ls.param(1), Some("LS"));
        let line = c.seen.last().expect("the line").clone();
        assert!(line.len() + 2 <= 512, "{} bytes: {line}", line.len() + 2);
        let more = ls.params.len() == 4 && ls.param(2) == Some("*");
        offered.extend(
            ls.params
                .last()
                .expect("list")
                .split(' ')
                .map(str::to_owned),
        );
        if !more {
            break;
        }
    }
    // Nothing cut: every capability, values whole.
    for cap in [
        "cap-notify",
        "draft/pre-away",
        "draft/multiline=max-bytes=8192,max-lines=100",
    ] {
        assert!(
            offered.iter().any(|o| o == cap),
            "{cap} missing: {offered:?}"
        );
    }
    assert!(
        offered
            .iter()
            .any(|o| o == "draft/metadata-2=max-subs=50,max-keys=20,max-value-bytes=300"),
        "{offered:?}"
    );
    assert!(offered.len() >= 26, "{offered:?}");
}

#[tokio::test]
async fn cap_302_enables_cap_notify() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.cap_ls_302().await;
    c.send("CAP LIST").await;
    let list = c.expect(&"CAP LIST", |m| m.param(1) == Some("LIST")).await;
    assert_eq!(list.param(2), Some("cap-notify"));
}

#[tokio::test]
async fn statusmsg_reaches_only_ops() {
    let server = TestServer::start().await;
    let mut op = server.client("op").await;
    join(&mut op, "#st").await;
    let mut member = server.client("member").await;
    join(&mut member, "#st").await;
    let mut other = server.client("other").await;
    join(&mut other, "#st").await;
    member.send("PRIVMSG @#st :solo para ops").await;
    let m = op.expect_command("PRIVMSG").await;
    assert_eq!(m.params, vec!["@#st", "solo para ops"]);
    other.expect_nothing().await;
}

#[tokio::test]
async fn bot_mode_tags_a_bots_lines_and_whois_and_who_say_it() {
    // https://ircv3.net/specs/extensions/bot-mode
    let server = TestServer::start().await;
    let mut bot = server.client("robotito").await;
    let mut tagged = with_caps(&server, "tagged", "message-tags").await;
    let mut plain = server.client("plain").await;
    bot.send("MODE robotito +B").await;
    let mode = bot.expect_command("MODE").await;
    assert_eq!(mode.param(1), Some("+B"));
    for c in [&mut bot, &mut tagged, &mut plain] {
        c.send("JOIN #bots").await;
        c.expect_numeric(366).await;
    }
    bot.send("PRIVMSG #bots :beep boop").await;
    let m = tagged.expect_command("PRIVMSG").await;
    assert_eq!(m.tag("bot"), Some(""), "{m}");
    let m = plain.expect_command("PRIVMSG").await;
    assert!(m.tags.is_empty(), "{m}");
    plain.send("WHOIS robotito").await;
    let is_bot = plain.expect_numeric(335).await;
    assert_eq!(is_bot.param(1), Some("robotito"));
    plain.send("WHO #bots").await;
    let rows = plain.sync().await;
    let row = rows
        .iter()
        .find(|m| m.command == "352" && m.param(5) == Some("robotito"))
        .expect("the bot's WHO line");
    assert!(row.param(6).is_some_and(|f| f.contains('B')), "{row}");
    // ISUPPORT says which mode it is.
    let mut c = server.connect().await;
    c.send("NICK isup").await;
    c.send("USER isup 0 * :I").await;
    let tokens = c
        .expect(&"BOT in 005", |m| {
            m.command == "005" && m.params.iter().any(|p| p == "BOT=B")
        })
        .await;
    assert_eq!(tokens.command, "005");
    bot.send("MODE robotito -B").await;
    bot.expect_command("MODE").await;
    bot.send("PRIVMSG #bots :ya no").await;
    let m = tagged.expect_command("PRIVMSG").await;
    assert_eq!(m.tag("bot"), None, "{m}");
}

#[tokio::test]
async fn monitor_follows_nicks_coming_and_going_and_extended_monitor_brings_their_away() {
    let server = TestServer::start().await;
    let mut ana = with_caps(&server, "ana", "extended-monitor away-notify").await;
    ana.send("MONITOR + beto,Carla").await;
    let offline = ana.expect_numeric(RPL_MONOFFLINE).await;
    assert_eq!(offline.param(1), Some("beto,Carla"));

    let mut beto = server.client("beto").await;
    let online = ana.expect_numeric(RPL_MONONLINE).await;
    assert_eq!(online.param(1), Some("beto!~beto@127.0.0.1"));
    ana.send("MONITOR L").await;
    assert_eq!(
        ana.expect_numeric(RPL_MONLIST).await.param(1),
        Some("beto,Carla")
    );
    ana.expect_numeric(RPL_ENDOFMONLIST).await;
    ana.send("MONITOR S").await;
    assert_eq!(
        ana.expect_numeric(RPL_MONONLINE).await.param(1),
        Some("beto!~beto@127.0.0.1")
    );
    assert_eq!(
        ana.expect_numeric(RPL_MONOFFLINE).await.param(1),
        Some("Carla")
    );

    // extended-monitor: beto's AWAY reaches ana though they share no channel.
    beto.send("AWAY :comiendo").await;
    let away = ana.expect_command("AWAY").await;
    assert_eq!(away.source_nick(), Some("beto"));
    assert_eq!(away.param(0), Some("comiendo"));

    // A nick change is leaving one nick and taking another.
    beto.send("NICK roberto").await;
    assert_eq!(
        ana.expect_numeric(RPL_MONOFFLINE).await.param(1),
        Some("beto")
    );
    ana.send("MONITOR + roberto").await;
    assert_eq!(
        ana.expect_numeric(RPL_MONONLINE).await.param(1),
        Some("roberto!~beto@127.0.0.1")
    );
    beto.send("QUIT :adiós").await;
    assert_eq!(
        ana.expect_numeric(RPL_MONOFFLINE).await.param(1),
        Some("roberto")
    );

    ana.send("MONITOR - roberto").await;
    ana.send("MONITOR L").await;
    assert_eq!(
        ana.expect_numeric(RPL_MONLIST).await.param(1),
        Some("beto,Carla")
    );
    ana.send("MONITOR C").await;
    ana.send("MONITOR L").await;
    let end = ana.recv().await;
    assert_eq!(end.command, "733", "{end}");

    // The list has a limit, advertised, and what does not fit is named.
    let many: Vec<String> = (0..101).map(|i| format!("n{i}")).collect();
    ana.send(&format!("MONITOR + {}", many.join(","))).await;
    let full = ana.expect_numeric(ERR_MONLISTFULL).await;
    assert_eq!(full.param(1), Some("100"));
    assert_eq!(full.param(2), Some("n100"));
    ana.send("VERSION").await;
    ana.expect(&"MONITOR=100", |m| {
        m.command == "005" && m.params.iter().any(|p| p == "MONITOR=100")
    })
    .await;
}

#[tokio::test]
async fn no_implicit_names_leaves_names_to_the_client() {
    let server = TestServer::start().await;
    let mut quiet = with_caps(&server, "quiet", "draft/no-implicit-names").await;
    quiet.send("JOIN #n").await;
    quiet.expect_command("JOIN").await;
    let after = quiet.sync().await;
    assert!(
        after
            .iter()
            .all(|m| m.command != "353" && m.command != "366"),
        "{after:?}"
    );
    quiet.send("NAMES #n").await;
    quiet.expect_numeric(RPL_NAMREPLY).await;
    quiet.expect_numeric(RPL_ENDOFNAMES).await;
    let mut plain = server.client("plain").await;
    join(&mut plain, "#n").await;
}

#[tokio::test]
async fn pre_away_sets_away_before_registration() {
    let server = TestServer::start().await;
    let mut watcher = server.client("watcher").await;
    join(&mut watcher, "#pre").await;
    // Without the capability, AWAY must wait for registration.
    let mut plain = server.connect().await;
    plain.send("AWAY :too early").await;
    plain.expect_numeric(ERR_NOTREGISTERED).await;
    // With it: a background connection says it is not really here, then registers.
    let mut bg = server.connect().await;
    bg.cap_ls_302().await;
    bg.send("CAP REQ :draft/pre-away away-notify").await;
    bg.expect(&"ACK", |m| m.param(1) == Some("ACK")).await;
    bg.send("AWAY *").await;
    bg.expect_numeric(RPL_NOWAWAY).await;
    bg.send("NICK fondo").await;
    bg.send("USER fondo 0 * :Fondo").await;
    bg.send("CAP END").await;
    bg.expect_numeric(RPL_WELCOME).await;
    bg.send("JOIN #pre").await;
    bg.expect_command("JOIN").await;
    watcher.send("WHOIS fondo").await;
    assert_eq!(watcher.expect_numeric(RPL_AWAY).await.param(2), Some("*"));
    // Back: an ordinary AWAY, seen by nobody before, now told to the channel's away-notify
    // members as usual.
    bg.send("AWAY").await;
    bg.expect_numeric(RPL_UNAWAY).await;
    watcher.send("WHOIS fondo").await;
    let whois = watcher.sync().await;
    assert!(whois.iter().all(|m| m.command != "301"), "{whois:?}");
}

/// Sends a `draft/multiline` batch `r` of `lines` (text, continues the line before) to
/// `target`; `tags` go on the opening BATCH.
async fn send_multiline(c: &mut TestClient, tags: &str, target: &str, lines: &[(&str, bool)]) {
    let mut raw = format!("{tags}BATCH +r draft/multiline {target}\r\n");
    for (text, concat) in lines {
        let concat = if *concat {
            ";draft/multiline-concat"
        } else {
            ""
        };
        raw.push_str(&format!("@batch=r{concat} PRIVMSG {target} :{text}\r\n"));
    }
    raw.push_str("BATCH -r\r\n");
    c.send_raw(raw.as_bytes()).await;
}

/// The lines of one multiline batch as `c` gets it: the opening BATCH (its tags and
/// parameters), then each PRIVMSG's text and whether it continues the line before.
async fn recv_multiline(c: &mut TestClient) -> (OwnedMessage, Vec<(String, bool)>) {
    let open = c.expect_command("BATCH").await;
    let reference = open
        .param(0)
        .expect("ref")
        .trim_start_matches('+')
        .to_owned();
    assert_eq!(open.param(1), Some("draft/multiline"), "{open:?}");
    let mut lines = Vec::new();
    loop {
        let m = c.recv().await;
        if m.command == "BATCH" {
            assert_eq!(m.param(0), Some(format!("-{reference}").as_str()));
            return (open, lines);
        }
        assert_eq!(m.command, "PRIVMSG", "{m:?}");
        assert_eq!(m.tag("batch"), Some(reference.as_str()), "{m:?}");
        assert!(
            m.tag("msgid").is_none(),
            "the id is on the BATCH line: {m:?}"
        );
        let concat = m.tag("draft/multiline-concat").is_some();
        lines.push((m.param(1).unwrap_or("").to_owned(), concat));
    }
}

#[tokio::test]
async fn multiline_messages_arrive_whole_or_line_by_line() {
    let server = TestServer::start().await;
    let caps = "draft/multiline batch message-tags echo-message labeled-response";
    let mut ana = with_caps(&server, "ana", caps).await;
    let mut beto = with_caps(&server, "beto", "draft/multiline batch message-tags").await;
    let mut old = with_caps(&server, "viejo", "message-tags batch").await;
    for c in [&mut ana, &mut beto, &mut old] {
        join(c, "#ml").await;
    }
    ana.sync().await;
    beto.sync().await;
    let lines = [
        ("Receta:", false),
        ("", false),
        ("- dos huevos, ", false),
        ("y una pizca de sal", true),
    ];
    send_multiline(&mut ana, "@label=m1;+draft/reply=abc ", "#ml", &lines).await;
    let want: Vec<(String, bool)> = lines.iter().map(|(t, c)| ((*t).to_owned(), *c)).collect();
    // A client with the capability gets the batch as sent, the id and tags on its first line.
    let (open, got) = recv_multiline(&mut beto).await;
    assert_eq!(got, want);
    assert_eq!(open.source_nick(), Some("ana"));
    assert_eq!(open.param(2), Some("#ml"));
    let msgid = open.tag("msgid").expect("msgid").to_owned();
    assert_eq!(open.tag("+draft/reply"), Some("abc"));
    // The sender's echo answers its label, on the opening BATCH only.
    let (echo, got) = recv_multiline(&mut ana).await;
    assert_eq!(got, want);
    assert_eq!(echo.tag("label"), Some("m1"));
    assert_eq!(echo.tag("msgid"), Some(msgid.as_str()));
    // Without it: the lines one by one, no blank one, the id on the first only.
    let first = old.expect_command("PRIVMSG").await;
    assert_eq!(first.param(1), Some("Receta:"));
    assert_eq!(first.tag("msgid"), Some(msgid.as_str()));
    for text in ["- dos huevos, ", "y una pizca de sal"] {
        let m = old.expect_command("PRIVMSG").await;
        assert_eq!(m.param(1), Some(text));
        assert!(m.tag("msgid").is_none());
    }
    // It is one message in history: replayed as a batch inside the chathistory batch, or
    // line by line, each line in the chathistory batch.
    beto.send("CHATHISTORY LATEST #ml * 1").await;
    let outer = beto.expect_command("BATCH").await;
    let outer_ref = outer
        .param(0)
        .expect("ref")
        .trim_start_matches('+')
        .to_owned();
    let (open, got) = recv_multiline(&mut beto).await;
    assert_eq!(got, want);
    assert_eq!(open.tag("batch"), Some(outer_ref.as_str()));
    assert_eq!(open.tag("msgid"), Some(msgid.as_str()));
    beto.expect_command("BATCH").await;
    old.send("CHATHISTORY LATEST #ml * 1").await;
    let outer = old.expect_command("BATCH").await;
    let outer_ref = outer
        .param(0)
        .expect("ref")
        .trim_start_matches('+')
        .to_owned();
    for text in ["Receta:", "- dos huevos, ", "y una pizca de sal"] {
        let m = old.expect_command("PRIVMSG").await;
        assert_eq!(m.param(1), Some(text));
        assert_eq!(m.tag("batch"), Some(outer_ref.as_str()), "{m:?}");
    }
    old.expect_command("BATCH").await;
}

#[tokio::test]
async fn a_broken_multiline_batch_is_refused_whole() {
    let mut config = TestServer::test_config();
    config.limits.multiline_max_lines = 3;
    config.limits.multiline_max_bytes = 600;
    let server = TestServer::start_with(config).await;
    let mut ana = with_caps(&server, "ana", "draft/multiline batch").await;
    let mut beto = server.client("beto").await;
    join(&mut ana, "#ml").await;
    join(&mut beto, "#ml").await;
    ana.sync().await;
    let fail = |m: &OwnedMessage| (m.param(0).map(str::to_owned), m.param(1).map(str::to_owned));
    // Too many lines.
    send_multiline(
        &mut ana,
        "",
        "#ml",
        &[("1", false), ("2", false), ("3", false), ("4", false)],
    )
    .await;
    let m = ana.expect_command("FAIL").await;
    assert_eq!(
        fail(&m),
        (Some("BATCH".into()), Some("MULTILINE_MAX_LINES".into()))
    );
    assert_eq!(m.param(2), Some("3"));
    // Too many bytes.
    let long = "x".repeat(400);
    send_multiline(&mut ana, "", "#ml", &[(&long, false), (&long, false)]).await;
    let m = ana.expect_command("FAIL").await;
    assert_eq!(fail(&m).1.as_deref(), Some("MULTILINE_MAX_BYTES"));
    assert_eq!(m.param(2), Some("600"));
    // A line to another target.
    ana.send_raw(
        b"BATCH +r draft/multiline #ml\r\n@batch=r PRIVMSG #ml :a\r\n@batch=r PRIVMSG beto :b\r\nBATCH -r\r\n",
    )
    .await;
    let m = ana.expect_command("FAIL").await;
    assert_eq!(
        m.params,
        [
            "BATCH",
            "MULTILINE_INVALID_TARGET",
            "#ml",
            "beto",
            "Invalid multiline target"
        ]
    );
    // Blank lines only; a line naming a batch that is not open.
    send_multiline(&mut ana, "", "#ml", &[("", false), ("", false)]).await;
    assert_eq!(
        fail(&ana.expect_command("FAIL").await).1.as_deref(),
        Some("MULTILINE_INVALID")
    );
    ana.send("@batch=zz PRIVMSG #ml :suelto").await;
    assert_eq!(
        fail(&ana.expect_command("FAIL").await).1.as_deref(),
        Some("MULTILINE_INVALID")
    );
    // None of it reached anyone, and a good batch still goes through.
    send_multiline(&mut ana, "", "#ml", &[("por fin", false), ("bien", false)]).await;
    let first = beto.expect_command("PRIVMSG").await;
    assert_eq!(first.param(1), Some("por fin"));
    assert_eq!(beto.expect_command("PRIVMSG").await.param(1), Some("bien"));
    // Without the capability there is no client batch.
    beto.send("BATCH +q draft/multiline #ml").await;
    assert_eq!(
        fail(&beto.expect_command("FAIL").await).1.as_deref(),
        Some("MULTILINE_INVALID")
    );
}

/// The `metadata` batch a client gets next: its lines (numerics, METADATA, FAIL) in order.
async fn metadata_batch(c: &mut TestClient) -> Vec<OwnedMessage> {
    let open = c
        .expect(&"a metadata batch", |m| {
            m.command == "BATCH" && m.param(1) == Some("metadata")
        })
        .await;
    let reference = open
        .param(0)
        .expect("ref")
        .trim_start_matches('+')
        .to_owned();
    let mut lines = Vec::new();
    loop {
        let m = c.recv().await;
        if m.command == "BATCH" && m.param(0) == Some(format!("-{reference}").as_str()) {
            return lines;
        }
        assert_eq!(m.tag("batch"), Some(reference.as_str()), "{m:?}");
        lines.push(m);
    }
}

/// A registered client with `draft/metadata-2` and `batch`, past the (empty) batch of its own
/// metadata that follows registration.
async fn with_metadata(server: &TestServer, nick: &str) -> TestClient {
    let mut c = with_caps(server, nick, "draft/metadata-2 batch").await;
    assert!(metadata_batch(&mut c).await.is_empty());
    c
}

#[tokio::test]
async fn metadata_is_set_read_listed_and_cleared_with_its_limits() {
    let server = TestServer::start().await;
    let mut ana = with_metadata(&server, "ana").await;
    let mut beto = with_metadata(&server, "beto").await;
    ana.send("METADATA * SET display-name :Ana María 🌻").await;
    let set = ana.expect_numeric(RPL_KEYVALUE).await;
    assert_eq!(
        set.params[1..],
        ["ana", "display-name", "*", "Ana María 🌻"]
    );
    ana.send("METADATA * SET Pronouns :ella").await;
    ana.expect_numeric(RPL_KEYVALUE).await;
    // Anyone reads them: GET key by key, LIST all, WHOIS the ones a person reads.
    beto.send("METADATA ana GET display-name avatar $bad").await;
    let got = metadata_batch(&mut beto).await;
    assert_eq!(
        got[0].params[1..],
        ["ana", "display-name", "*", "Ana María 🌻"]
    );
    assert_eq!(got[1].command, ERR_NOMATCHINGKEY.to_string());
    assert_eq!(
        got[2].params,
        ["METADATA", "INVALID_KEY", "$bad", "invalid key"]
    );
    beto.send("METADATA ana LIST").await;
    let keys: Vec<String> = metadata_batch(&mut beto)
        .await
        .iter()
        .map(|m| m.params[2].clone())
        .collect();
    assert_eq!(keys, ["display-name", "pronouns"]);
    beto.send("WHOIS ana").await;
    let shown = beto.expect_numeric(RPL_WHOISKEYVALUE).await;
    assert_eq!(
        shown.params[1..],
        ["ana", "display-name", "*", "Ana María 🌻"]
    );
    // Refusals.
    beto.send("METADATA ana SET display-name :impostor").await;
    let m = beto.expect_command("FAIL").await;
    assert_eq!(
        m.params[..4],
        ["METADATA", "KEY_NO_PERMISSION", "ana", "display-name"]
    );
    beto.send("METADATA * SET avatar").await;
    assert_eq!(
        beto.expect_numeric(ERR_KEYNOTSET).await.param(2),
        Some("avatar")
    );
    beto.send("METADATA nadie GET x").await;
    assert_eq!(
        beto.expect_command("FAIL").await.param(1),
        Some("INVALID_TARGET")
    );
    beto.send("METADATA * DESTROY").await;
    assert_eq!(
        beto.expect_command("FAIL").await.param(1),
        Some("INVALID_SUBCOMMAND")
    );
    beto.send(&format!("METADATA * SET bio :{}", "x".repeat(301)))
        .await;
    assert_eq!(
        beto.expect_command("FAIL").await.param(1),
        Some("VALUE_INVALID")
    );
    for i in 0..20 {
        beto.send(&format!("METADATA * SET k{i} :v")).await;
        beto.expect_numeric(RPL_KEYVALUE).await;
    }
    beto.send("METADATA * SET k20 :v").await;
    assert_eq!(
        beto.expect_command("FAIL").await.param(1),
        Some("LIMIT_REACHED")
    );
    // CLEAR empties it, key by key.
    beto.send("METADATA * CLEAR").await;
    assert_eq!(metadata_batch(&mut beto).await.len(), 20);
    beto.send("METADATA * LIST").await;
    assert!(metadata_batch(&mut beto).await.is_empty());
}

#[tokio::test]
async fn metadata_subscribers_hear_of_changes_and_joiners_get_current_values() {
    let server = TestServer::start().await;
    let mut ana = with_metadata(&server, "ana").await;
    let mut beto = with_metadata(&server, "beto").await;
    let mut carla = with_metadata(&server, "carla").await;
    // Subscriptions: in order, invalid keys told, listed by SUBS.
    beto.send("METADATA * SUB display-name $no avatar").await;
    assert_eq!(beto.expect_command("FAIL").await.param(2), Some("$no"));
    let ok = beto.expect_numeric(RPL_METADATASUBOK).await;
    assert_eq!(ok.param(1), Some("display-name avatar"));
    beto.send("METADATA * SUBS").await;
    assert_eq!(
        beto.expect_numeric(RPL_METADATASUBS).await.param(1),
        Some("avatar display-name")
    );
    let too_many: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
    carla
        .send(&format!("METADATA * SUB {}", too_many.join(" ")))
        .await;
    let m = carla.expect_command("FAIL").await;
    assert_eq!(m.params[1..3], ["TOO_MANY_SUBS", "k50"]);
    carla.send("METADATA * UNSUB k0").await;
    carla.expect_numeric(RPL_METADATAUNSUBOK).await;
    for c in [&mut ana, &mut beto, &mut carla] {
        join(c, "#meta").await;
    }
    ana.sync().await;
    beto.sync().await;
    carla.sync().await;
    // A change reaches the members subscribed to its key, not the others, not its maker.
    ana.send("METADATA * SET display-name :Ana").await;
    ana.expect_numeric(RPL_KEYVALUE).await;
    let heard = beto.expect_command("METADATA").await;
    assert_eq!(heard.params, ["ana", "display-name", "*", "Ana"]);
    assert_eq!(heard.source_nick(), Some("ana"));
    carla.expect_nothing().await;
    ana.expect_nothing().await;
    // Channel metadata: its operator sets it, others may not.
    ana.send("METADATA #meta SET avatar :https://example.org/sala.png")
        .await;
    ana.expect_numeric(RPL_KEYVALUE).await;
    assert_eq!(
        beto.expect_command("METADATA").await.param(0),
        Some("#meta")
    );
    carla
        .send("METADATA #meta SET avatar :https://example.org/otra.png")
        .await;
    assert_eq!(
        carla.expect_command("FAIL").await.param(1),
        Some("KEY_NO_PERMISSION")
    );
    // A joiner gets the channel's values and its members' (those it subscribed to).
    let mut dani = with_metadata(&server, "dani").await;
    dani.send("METADATA * SUB display-name avatar").await;
    dani.expect_numeric(RPL_METADATASUBOK).await;
    dani.send("JOIN #meta").await;
    dani.expect_numeric(RPL_ENDOFNAMES).await;
    let values: Vec<Vec<String>> = metadata_batch(&mut dani)
        .await
        .into_iter()
        .map(|m| m.params)
        .collect();
    assert_eq!(
        values,
        [
            vec!["#meta", "avatar", "*", "https://example.org/sala.png"],
            vec!["ana", "display-name", "*", "Ana"],
        ]
    );
    // A joiner's own values reach the members subscribed to them.
    beto.sync().await;
    let mut erik = with_metadata(&server, "erik").await;
    erik.send("METADATA * SET display-name :Erik el Rojo").await;
    erik.expect_numeric(RPL_KEYVALUE).await;
    erik.send("JOIN #meta").await;
    let told = beto
        .expect(&"erik's METADATA", |m| m.command == "METADATA")
        .await;
    assert_eq!(told.params, ["erik", "display-name", "*", "Erik el Rojo"]);
}

#[tokio::test]
async fn an_accounts_metadata_comes_back_on_its_next_log_in() {
    let server = TestServer::start().await;
    let mut ana = server.client("ana").await;
    ana.send("REGISTER * * :contraseña larga").await;
    assert_eq!(
        ana.expect_command("REGISTER").await.param(0),
        Some("SUCCESS")
    );
    ana.expect_numeric(RPL_LOGGEDIN).await;
    ana.send("METADATA * SET display-name :Ana de siempre")
        .await;
    ana.expect_numeric(RPL_KEYVALUE).await;
    ana.send("QUIT").await;
    ana.expect_closed().await;
    // Another device: it logs in, and its own metadata comes to it.
    let mut phone = with_metadata(&server, "ana").await;
    phone.send("NS IDENTIFY ana :contraseña larga").await;
    phone.expect_numeric(RPL_LOGGEDIN).await;
    let own = phone.expect_command("METADATA").await;
    assert_eq!(own.params, ["ana", "display-name", "*", "Ana de siempre"]);
}
