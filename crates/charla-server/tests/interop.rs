//! Interoperability: the server driven by a third-party client library, the `irc` crate
//! (aatxe/irc), not only by lines we wrote ourselves.
//!
//! Every line the server sends goes through `irc-proto`'s parser (an unparsable line fails the
//! test), and the crate's own habits are exercised: `CAP END` before `NICK`, `PASS` after it,
//! a one-word real name without ':', automatic PONGs, alternative nicks on 433, one JOIN per
//! autojoin channel, and its SASL calls (`send_sasl_plain`, `send_sasl`). Replies are checked as
//! the crate's typed `Command`/`Response` values.
//!
//! A second library, in another language: pydle (Python), installed into the test's target
//! folder on first use, runs `tests/interop/pydle_check.py` for MONITOR, labeled-response and
//! `draft/multiline`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{TIMEOUT, TestServer};
use futures::StreamExt;
use irc::client::ClientStream;
use irc::client::prelude::{ChannelMode, Client, Command, Config, Message, Mode, Response};

/// Upper bound for a whole test, so that a bug fails instead of hanging.
const TEST_LIMIT: Duration = Duration::from_secs(30);

/// One `irc` crate client with its incoming stream and the lines it has seen.
struct Peer {
    nick: String,
    client: Client,
    stream: ClientStream,
    seen: Vec<String>,
}

impl Peer {
    /// The crate's configuration for a plain TCP connection to the test server.
    fn config(addr: SocketAddr, nick: &str) -> Config {
        Config {
            nickname: Some(nick.to_owned()),
            server: Some(addr.ip().to_string()),
            port: Some(addr.port()),
            ..Config::default()
        }
    }

    /// Connects with `config`, identifies, and waits for the end of the MOTD.
    async fn connect_with(config: Config) -> Peer {
        let nick = config.nickname.clone().unwrap_or_default();
        let mut client = tokio::time::timeout(TIMEOUT, Client::from_config(config))
            .await
            .expect("irc client connect timed out")
            .expect("irc client connects");
        // Drive the outgoing queue on its own task: a peer's lines must leave even while the
        // test waits on another peer's stream.
        let outgoing = client.outgoing().expect("outgoing not yet taken");
        tokio::spawn(outgoing);
        client.identify().expect("identify");
        let stream = client.stream().expect("stream");
        let mut peer = Peer {
            nick,
            client,
            stream,
            seen: Vec::new(),
        };
        peer.expect("RPL_WELCOME", |m| is_response(m, Response::RPL_WELCOME))
            .await;
        peer.expect("end of MOTD", |m| {
            is_response(m, Response::RPL_ENDOFMOTD) || is_response(m, Response::ERR_NOMOTD)
        })
        .await;
        peer
    }

    /// Connects as `nick`.
    async fn connect(addr: SocketAddr, nick: &str) -> Peer {
        Self::connect_with(Self::config(addr, nick)).await
    }

    /// Skips messages until one matches `pred`; fails on timeout, end of stream or a line the
    /// crate cannot parse.
    async fn expect(&mut self, what: &str, pred: impl Fn(&Message) -> bool) -> Message {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await;
            match next {
                Ok(Some(Ok(m))) => {
                    self.seen.push(m.to_string().trim_end().to_owned());
                    if pred(&m) {
                        return m;
                    }
                }
                Ok(Some(Err(e))) => {
                    panic!("{}: stream error {e}; seen:\n{}", self.nick, self.tail())
                }
                Ok(None) => panic!(
                    "{}: stream ended waiting for {what}; seen:\n{}",
                    self.nick,
                    self.tail()
                ),
                Err(_) => panic!(
                    "{}: timed out waiting for {what}; seen:\n{}",
                    self.nick,
                    self.tail()
                ),
            }
        }
    }

    /// Waits until the stream ends (the server closed the connection).
    async fn expect_end(&mut self) {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(None) | Ok(Some(Err(_))) => return,
                Ok(Some(Ok(m))) => self.seen.push(m.to_string().trim_end().to_owned()),
                Err(_) => panic!(
                    "{}: connection not closed; seen:\n{}",
                    self.nick,
                    self.tail()
                ),
            }
        }
    }

    /// Reads (and so lets the crate answer PINGs) for `wait`; fails if the connection ends.
    async fn drain_for(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return,
                Ok(Some(Ok(m))) => self.seen.push(m.to_string().trim_end().to_owned()),
                Ok(_) => panic!("{}: connection ended; seen:\n{}", self.nick, self.tail()),
            }
        }
    }

    /// Waits for the numeric reply `r`; returns its arguments.
    async fn expect_response(&mut self, r: Response) -> Vec<String> {
        let m = self.expect(&format!("{r:?}"), |m| is_response(m, r)).await;
        match m.command {
            Command::Response(_, args) => args,
            _ => unreachable!("matched a response"),
        }
    }

    fn tail(&self) -> String {
        let start = self.seen.len().saturating_sub(30);
        self.seen[start..].join("\n")
    }
}

fn is_response(m: &Message, r: Response) -> bool {
    matches!(&m.command, Command::Response(got, _) if *got == r)
}

fn from(m: &Message, nick: &str) -> bool {
    m.source_nickname() == Some(nick)
}

/// Joins `chan` and returns the nicks (with prefixes) of its NAMES reply.
async fn join(peer: &mut Peer, chan: &str) -> Vec<String> {
    peer.client.send_join(chan).expect("send JOIN");
    let nick = peer.nick.clone();
    peer.expect("own JOIN", |m| {
        from(m, &nick) && matches!(&m.command, Command::JOIN(c, _, _) if c == chan)
    })
    .await;
    let mut names = Vec::new();
    loop {
        let m = peer
            .expect("NAMES", |m| {
                is_response(m, Response::RPL_NAMREPLY) || is_response(m, Response::RPL_ENDOFNAMES)
            })
            .await;
        match m.command {
            Command::Response(Response::RPL_NAMREPLY, args) => {
                assert_eq!(args.get(2).map(String::as_str), Some(chan), "{args:?}");
                let list = args.last().cloned().unwrap_or_default();
                names.extend(list.split_whitespace().map(str::to_owned));
            }
            _ => return names,
        }
    }
}

#[tokio::test]
async fn the_irc_crate_registers_and_reads_the_welcome_burst() {
    tokio::time::timeout(TEST_LIMIT, async {
        let server = TestServer::start().await;
        let mut config = Peer::config(server.addr, "Ñandú");
        // One-word real name, sent by the crate without ':'.
        config.realname = Some("Avestruz".to_owned());
        let peer = Peer::connect_with(config).await;
        // The crate saw a complete burst: 001 ... 005 parsed, the MOTD with its emoji.
        let welcome = peer
            .seen
            .iter()
            .find(|l| l.contains(" 001 "))
            .cloned()
            .expect("001 seen");
        assert!(welcome.contains("Ñandú"), "{welcome}");
        assert!(
            peer.seen
                .iter()
                .any(|l| l.contains(" 005 ") && l.contains("CASEMAPPING="))
        );
        assert!(
            peer.seen.iter().any(|l| l.contains("Hola 👋")),
            "{:?}",
            peer.seen
        );
        let users = server.handle.users();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].nick, "Ñandú");
        assert_eq!(users[0].realname, "Avestruz");
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn two_irc_crate_clients_share_a_channel() {
    tokio::time::timeout(TEST_LIMIT, async {
        let server = TestServer::start().await;
        let mut alice = Peer::connect(server.addr, "alice").await;
        let mut bob = Peer::connect(server.addr, "bob").await;

        // The first joiner is the channel's operator.
        let names = join(&mut alice, "#charla").await;
        assert_eq!(names, ["@alice"]);
        let names = join(&mut bob, "#charla").await;
        assert!(names.contains(&"@alice".to_owned()), "{names:?}");
        assert!(names.contains(&"bob".to_owned()), "{names:?}");
        assert_eq!(names.len(), 2, "{names:?}");
        alice
            .expect("bob's JOIN", |m| {
                from(m, "bob") && matches!(&m.command, Command::JOIN(c, _, _) if c == "#charla")
            })
            .await;

        // Channel messages both ways, with Spanish text and emoji.
        alice
            .client
            .send_privmsg("#charla", "¡Hola, Bob! ¿Qué tal? 🎉")
            .expect("send");
        let m = bob.expect("alice's PRIVMSG", |m| from(m, "alice")).await;
        assert_eq!(
            m.command,
            Command::PRIVMSG("#charla".to_owned(), "¡Hola, Bob! ¿Qué tal? 🎉".to_owned())
        );
        bob.client
            .send_privmsg("#charla", "Muy bien, gracias")
            .expect("send");
        let m = alice.expect("bob's PRIVMSG", |m| from(m, "bob")).await;
        assert_eq!(
            m.command,
            Command::PRIVMSG("#charla".to_owned(), "Muy bien, gracias".to_owned())
        );

        // A private message and a notice.
        alice
            .client
            .send_privmsg("bob", "en privado")
            .expect("send");
        let m = bob.expect("private PRIVMSG", |m| from(m, "alice")).await;
        assert_eq!(
            m.command,
            Command::PRIVMSG("bob".to_owned(), "en privado".to_owned())
        );
        bob.client.send_notice("alice", "aviso").expect("send");
        let m = alice.expect("NOTICE", |m| from(m, "bob")).await;
        assert_eq!(
            m.command,
            Command::NOTICE("alice".to_owned(), "aviso".to_owned())
        );

        // TOPIC: set by the op, seen by both, and shown to a late joiner.
        alice
            .client
            .send_topic("#charla", "Charla en español ☕")
            .expect("send");
        for peer in [&mut alice, &mut bob] {
            let m = peer
                .expect("TOPIC", |m| matches!(m.command, Command::TOPIC(..)))
                .await;
            assert!(from(&m, "alice"));
            assert_eq!(
                m.command,
                Command::TOPIC(
                    "#charla".to_owned(),
                    Some("Charla en español ☕".to_owned())
                )
            );
        }
        let mut carol = Peer::connect(server.addr, "carol").await;
        carol.client.send_join("#charla").expect("send JOIN");
        let args = carol.expect_response(Response::RPL_TOPIC).await;
        assert_eq!(
            args.last().map(String::as_str),
            Some("Charla en español ☕")
        );
        carol.expect_response(Response::RPL_ENDOFNAMES).await;

        // MODE +v by the op, seen by everyone in the channel as the crate's typed mode.
        alice
            .client
            .send_mode(
                "#charla",
                &[Mode::Plus(ChannelMode::Voice, Some("bob".to_owned()))],
            )
            .expect("send MODE");
        for peer in [&mut alice, &mut bob, &mut carol] {
            let m = peer
                .expect("MODE +v", |m| matches!(m.command, Command::ChannelMODE(..)))
                .await;
            assert!(from(&m, "alice"), "{m}");
            assert_eq!(
                m.command,
                Command::ChannelMODE(
                    "#charla".to_owned(),
                    vec![Mode::Plus(ChannelMode::Voice, Some("bob".to_owned()))]
                )
            );
        }
        carol
            .client
            .send(Command::NAMES(Some("#charla".to_owned()), None))
            .expect("send NAMES");
        let args = carol.expect_response(Response::RPL_NAMREPLY).await;
        let names: Vec<&str> = args
            .last()
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        assert!(
            names.contains(&"@alice") && names.contains(&"+bob") && names.contains(&"carol"),
            "{names:?}"
        );

        // PART with a reason.
        carol
            .client
            .send(Command::PART(
                "#charla".to_owned(),
                Some("me voy".to_owned()),
            ))
            .expect("send PART");
        for peer in [&mut alice, &mut bob] {
            let m = peer.expect("carol's PART", |m| from(m, "carol")).await;
            assert_eq!(
                m.command,
                Command::PART("#charla".to_owned(), Some("me voy".to_owned()))
            );
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn nick_changes_and_quits_are_seen_by_the_other_client() {
    tokio::time::timeout(TEST_LIMIT, async {
        let server = TestServer::start().await;
        let mut alice = Peer::connect(server.addr, "alice").await;
        let mut bob = Peer::connect(server.addr, "bob").await;
        join(&mut alice, "#sala").await;
        join(&mut bob, "#sala").await;

        // A UTF-8 nick change, seen by both sides, and usable as a message target.
        bob.client
            .send(Command::NICK("Begoña".to_owned()))
            .expect("send NICK");
        for peer in [&mut alice, &mut bob] {
            let m = peer
                .expect("NICK", |m| matches!(m.command, Command::NICK(_)))
                .await;
            assert!(from(&m, "bob"), "{m}");
            assert_eq!(m.command, Command::NICK("Begoña".to_owned()));
        }
        alice
            .client
            .send_privmsg("Begoña", "¿cambiaste de nombre?")
            .expect("send");
        let m = bob
            .expect("PRIVMSG to the new nick", |m| from(m, "alice"))
            .await;
        assert_eq!(
            m.command,
            Command::PRIVMSG("Begoña".to_owned(), "¿cambiaste de nombre?".to_owned())
        );

        // QUIT with a reason: the other member sees it, and the quitter is closed.
        bob.client.send_quit("hasta mañana").expect("send QUIT");
        let m = alice
            .expect("QUIT", |m| matches!(m.command, Command::QUIT(_)))
            .await;
        assert!(from(&m, "Begoña"), "{m}");
        let Command::QUIT(Some(reason)) = &m.command else {
            panic!("QUIT without a reason: {m}");
        };
        assert!(reason.contains("hasta mañana"), "{reason}");
        bob.expect_end().await;
        assert_eq!(
            server
                .handle
                .users()
                .iter()
                .map(|u| u.nick.as_str())
                .collect::<Vec<_>>(),
            ["alice"]
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn the_crate_takes_its_alternative_nick_when_the_first_is_in_use() {
    tokio::time::timeout(TEST_LIMIT, async {
        let server = TestServer::start().await;
        let _first = Peer::connect(server.addr, "pepe").await;
        let mut config = Peer::config(server.addr, "pepe");
        config.alt_nicks = vec!["PEPE".to_owned(), "pepe_".to_owned()];
        // "PEPE" is the same nick under the case-mapping: the crate must fall through to "pepe_".
        let second = Peer::connect_with(config).await;
        let welcome = second.seen.iter().find(|l| l.contains(" 001 ")).cloned();
        assert!(
            welcome.as_deref().is_some_and(|l| l.contains("pepe_")),
            "{:?}",
            second.seen
        );
        second
            .client
            .send_privmsg("pepe", "hola tocayo")
            .expect("send");
        let mut nicks: Vec<String> = server.handle.users().into_iter().map(|u| u.nick).collect();
        nicks.sort();
        assert_eq!(nicks, ["pepe", "pepe_"]);
        // The crate reached the end of registration despite two 433s.
        assert!(
            second.seen.iter().filter(|l| l.contains(" 433 ")).count() == 2,
            "{:?}",
            second.seen
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn the_crate_answers_the_servers_pings_and_stays_connected() {
    tokio::time::timeout(TEST_LIMIT, async {
        let mut config = TestServer::test_config();
        config.limits.ping_interval_secs = 1;
        config.limits.ping_timeout_secs = 1;
        let server = TestServer::start_with(config).await;
        let mut peer = Peer::connect(server.addr, "despierto").await;
        // Two rounds of PING, each answered by the crate by itself.
        for _ in 0..2 {
            peer.expect("PING", |m| matches!(m.command, Command::PING(..)))
                .await;
        }
        // Longer than interval + timeout while the crate reads (and so answers PINGs).
        peer.drain_for(Duration::from_millis(2500)).await;
        assert_eq!(server.handle.users().len(), 1);
        peer.client
            .send_privmsg("despierto", "sigo aquí")
            .expect("send");
        let m = peer
            .expect("own PRIVMSG", |m| matches!(m.command, Command::PRIVMSG(..)))
            .await;
        assert_eq!(
            m.command,
            Command::PRIVMSG("despierto".to_owned(), "sigo aquí".to_owned())
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn the_crate_negotiates_capabilities_and_reads_tags() {
    use irc::client::prelude::{Capability, NegotiationVersion};
    tokio::time::timeout(TEST_LIMIT, async {
        let server = TestServer::start().await;
        // The crate's own negotiation calls, before `identify` (which sends CAP END).
        let mut client = tokio::time::timeout(
            TIMEOUT,
            Client::from_config(Peer::config(server.addr, "etiquetas")),
        )
        .await
        .expect("connect timed out")
        .expect("connect");
        tokio::spawn(client.outgoing().expect("outgoing"));
        client
            .send_cap_ls(NegotiationVersion::V302)
            .expect("CAP LS");
        client
            .send_cap_req(&[
                Capability::ServerTime,
                Capability::MultiPrefix,
                Capability::EchoMessage,
                Capability::Custom("message-tags"),
            ])
            .expect("CAP REQ");
        client.identify().expect("identify");
        let stream = client.stream().expect("stream");
        let mut peer = Peer {
            nick: "etiquetas".to_owned(),
            client,
            stream,
            seen: Vec::new(),
        };
        let ack = peer
            .expect("CAP ACK", |m| {
                matches!(m.command, Command::CAP(..)) && m.to_string().contains("ACK")
            })
            .await;
        for cap in [
            "server-time",
            "multi-prefix",
            "echo-message",
            "message-tags",
        ] {
            assert!(ack.to_string().contains(cap), "{ack}");
        }
        peer.expect("RPL_WELCOME", |m| is_response(m, Response::RPL_WELCOME))
            .await;

        let mut other = Peer::connect(server.addr, "otro").await;
        join(&mut peer, "#tags").await;
        join(&mut other, "#tags").await;
        // Our own message comes back (echo-message) with a server-time tag the crate parsed.
        peer.client
            .send_privmsg("#tags", "con hora ⏰")
            .expect("send");
        let echo = peer
            .expect("echoed PRIVMSG", |m| {
                matches!(m.command, Command::PRIVMSG(..))
            })
            .await;
        assert!(from(&echo, "etiquetas"));
        let time = echo
            .tags
            .as_ref()
            .and_then(|tags| tags.iter().find(|t| t.0 == "time"))
            .and_then(|t| t.1.clone())
            .expect("time tag");
        assert!(time.ends_with('Z') && time.contains('T'), "{time}");
        // The other client, without caps, gets the same message without tags.
        let plain = other
            .expect("PRIVMSG", |m| matches!(m.command, Command::PRIVMSG(..)))
            .await;
        assert!(plain.tags.is_none(), "{plain}");
        // multi-prefix: NAMES shows every prefix of the first joiner once opped and voiced.
        peer.client
            .send_mode(
                "#tags",
                &[Mode::Plus(ChannelMode::Voice, Some("etiquetas".to_owned()))],
            )
            .expect("send MODE");
        peer.expect("MODE", |m| matches!(m.command, Command::ChannelMODE(..)))
            .await;
        peer.client
            .send(Command::NAMES(Some("#tags".to_owned()), None))
            .expect("send NAMES");
        let args = peer.expect_response(Response::RPL_NAMREPLY).await;
        let names = args.last().cloned().unwrap_or_default();
        assert!(names.split(' ').any(|n| n == "@+etiquetas"), "{names}");
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn kicks_invites_whois_and_away_through_the_crate() {
    tokio::time::timeout(TEST_LIMIT, async {
        let server = TestServer::start().await;
        let mut alice = Peer::connect(server.addr, "alice").await;
        let mut bob = Peer::connect(server.addr, "bob").await;
        join(&mut alice, "#club").await;
        join(&mut bob, "#club").await;

        // KICK with a reason, seen by both as the crate's typed command.
        alice
            .client
            .send_kick("#club", "bob", "fuera 🚪")
            .expect("send KICK");
        for peer in [&mut alice, &mut bob] {
            let m = peer
                .expect("KICK", |m| matches!(m.command, Command::KICK(..)))
                .await;
            assert!(from(&m, "alice"), "{m}");
            assert_eq!(
                m.command,
                Command::KICK(
                    "#club".to_owned(),
                    "bob".to_owned(),
                    Some("fuera 🚪".to_owned())
                )
            );
        }
        // Invite-only, then INVITE: bob is told and can come back.
        alice
            .client
            .send_mode("#club", &[Mode::Plus(ChannelMode::InviteOnly, None)])
            .expect("send MODE");
        alice
            .expect("MODE +i", |m| matches!(m.command, Command::ChannelMODE(..)))
            .await;
        bob.client.send_join("#club").expect("send JOIN");
        bob.expect_response(Response::ERR_INVITEONLYCHAN).await;
        alice
            .client
            .send_invite("bob", "#club")
            .expect("send INVITE");
        alice.expect_response(Response::RPL_INVITING).await;
        let m = bob
            .expect("INVITE", |m| matches!(m.command, Command::INVITE(..)))
            .await;
        assert_eq!(
            m.command,
            Command::INVITE("bob".to_owned(), "#club".to_owned())
        );
        join(&mut bob, "#club").await;

        // AWAY: a private message to an away user gets RPL_AWAY.
        bob.client
            .send(Command::AWAY(Some("comiendo 🍕".to_owned())))
            .expect("send AWAY");
        bob.expect_response(Response::RPL_NOWAWAY).await;
        alice.client.send_privmsg("bob", "¿estás?").expect("send");
        let args = alice.expect_response(Response::RPL_AWAY).await;
        assert_eq!(args.last().map(String::as_str), Some("comiendo 🍕"));

        // WHOIS through the crate's typed replies.
        alice
            .client
            .send(Command::WHOIS(None, "bob".to_owned()))
            .expect("send WHOIS");
        let user = alice.expect_response(Response::RPL_WHOISUSER).await;
        assert_eq!(user.get(1).map(String::as_str), Some("bob"));
        let chans = alice.expect_response(Response::RPL_WHOISCHANNELS).await;
        assert!(
            chans.last().is_some_and(|c| c.contains("#club")),
            "{chans:?}"
        );
        alice.expect_response(Response::RPL_ENDOFWHOIS).await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn the_crate_autojoins_under_the_default_flood_settings() {
    // A real client's connect burst (CAP END, NICK, USER, one JOIN per configured channel)
    // against the default flood control: slowed down, never "Excess Flood".
    tokio::time::timeout(TEST_LIMIT, async {
        let mut config = TestServer::test_config();
        config.flood = charla_server::FloodConfig::default();
        let server = TestServer::start_with(config).await;
        let channels: Vec<String> = (0..6).map(|i| format!("#canal{i}")).collect();
        let mut crate_config = Peer::config(server.addr, "autojoin");
        crate_config.channels = channels.clone();
        let mut peer = Peer::connect_with(crate_config).await;
        for chan in &channels {
            let c = chan.clone();
            peer.expect("autojoin JOIN", move |m| {
                from(m, "autojoin") && matches!(&m.command, Command::JOIN(ch, _, _) if *ch == c)
            })
            .await;
        }
        let users = server.handle.users();
        assert_eq!(users.len(), 1);
        assert_eq!(
            users[0].channels.len(),
            channels.len(),
            "{:?}",
            users[0].channels
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn the_crate_sends_the_server_password_its_own_way() {
    // The crate sends CAP END, then PASS, then NICK and USER.
    tokio::time::timeout(TEST_LIMIT, async {
        let mut config = TestServer::test_config();
        config.password = Some("contraseña secreta".to_owned());
        let server = TestServer::start_with(config).await;
        let mut good = Peer::config(server.addr, "invitado");
        good.password = Some("contraseña secreta".to_owned());
        let peer = Peer::connect_with(good).await;
        assert!(peer.seen.iter().any(|l| l.contains(" 001 ")));

        let mut bad = Peer::config(server.addr, "intruso");
        bad.password = Some("adivina".to_owned());
        let mut client = tokio::time::timeout(TIMEOUT, Client::from_config(bad))
            .await
            .expect("connect timed out")
            .expect("connect");
        tokio::spawn(client.outgoing().expect("outgoing"));
        client.identify().expect("identify");
        let stream = client.stream().expect("stream");
        let mut intruder = Peer {
            nick: "intruso".to_owned(),
            client,
            stream,
            seen: Vec::new(),
        };
        intruder.expect_end().await;
        assert!(
            intruder.seen.iter().any(|l| l.contains(" 464 ")),
            "{:?}",
            intruder.seen
        );
        assert!(!intruder.seen.iter().any(|l| l.contains(" 001 ")));
        let nicks: Vec<String> = server.handle.users().into_iter().map(|u| u.nick).collect();
        assert_eq!(nicks, ["invitado"]);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn the_crate_logs_in_with_sasl_plain() {
    use base64::Engine;
    use irc::client::prelude::Capability;
    use irc::proto::command::CapSubCommand;
    tokio::time::timeout(TEST_LIMIT, async {
        let server = TestServer::start().await;
        // The account, made by our own test client.
        let mut owner = common::TestClient::connect(server.addr).await;
        owner.register("Pablo").await;
        owner.send("REGISTER * * :contraseña-segura").await;
        owner
            .expect_numeric(charla_proto::numeric::RPL_LOGGEDIN)
            .await;
        owner.send("QUIT").await;
        owner.expect_closed().await;

        // The crate's SASL calls: CAP REQ sasl, AUTHENTICATE PLAIN, the payload, CAP END.
        let mut client = tokio::time::timeout(
            TIMEOUT,
            Client::from_config(Peer::config(server.addr, "Pablo")),
        )
        .await
        .expect("connect timed out")
        .expect("connect");
        tokio::spawn(client.outgoing().expect("outgoing"));
        let stream = client.stream().expect("stream");
        client.send_cap_req(&[Capability::Sasl]).expect("CAP REQ");
        let mut peer = Peer {
            nick: "Pablo".to_owned(),
            client,
            stream,
            seen: Vec::new(),
        };
        peer.expect("CAP ACK sasl", |m| {
            matches!(m.command, Command::CAP(_, CapSubCommand::ACK, _, _))
        })
        .await;
        peer.client.send_sasl_plain().expect("AUTHENTICATE PLAIN");
        peer.expect(
            "AUTHENTICATE +",
            |m| matches!(&m.command, Command::AUTHENTICATE(data) if data == "+"),
        )
        .await;
        let payload = base64::engine::general_purpose::STANDARD
            .encode("\0pablo\0contraseña-segura".as_bytes());
        peer.client.send_sasl(payload).expect("the payload");
        let logged = peer
            .expect("RPL_LOGGEDIN", |m| is_response(m, Response::RPL_LOGGEDIN))
            .await;
        assert!(logged.to_string().contains(" Pablo "), "{logged}");
        peer.expect("RPL_SASLSUCCESS", |m| {
            is_response(m, Response::RPL_SASLSUCCESS)
        })
        .await;
        peer.client
            .identify()
            .expect("identify (CAP END, NICK, USER)");
        let welcome = peer
            .expect("RPL_WELCOME", |m| is_response(m, Response::RPL_WELCOME))
            .await;
        // Logged in before registering: the account vouches for the user name (no `~`).
        assert!(welcome.to_string().contains("Pablo!Pablo@"), "{welcome}");
    })
    .await
    .expect("test timed out");
}

/// The pydle version the Python check is written against.
const PYDLE: &str = "pydle==1.2.0";

/// Where pydle is installed for the tests (the first run installs it there with pip, like
/// cargo fetching a crate).
fn pydle_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pydle-1.2.0");
    if !dir.join("pydle").join("__init__.py").exists() {
        let status = std::process::Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-warn-script-location", "--target"])
            .arg(&dir)
            .arg(PYDLE)
            .status()
            .expect("python3 runs (the tests need Python 3 with pip)");
        assert!(status.success(), "pip could not install {PYDLE}");
    }
    dir
}

#[tokio::test]
async fn pydle_a_python_library_follows_monitor_labels_and_multiline() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pydle_check.py");
    let run = tokio::task::spawn_blocking(move || {
        let dir = pydle_dir();
        std::process::Command::new("python3")
            .arg(script)
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .env("PYTHONPATH", dir)
            .output()
            .expect("python3 runs")
    });
    // pip's first install included; the script bounds itself at 30 s.
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the pydle check timed out")
        .expect("the pydle check ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("OK"),
        "pydle check: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
