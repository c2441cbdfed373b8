//! Look-alike names (issue 10, finding 6): invisible and bidirectional characters are refused in
//! nicks and channel names, and a name whose confusable skeleton matches one in use is taken,
//! while Spanish names (ñ, á, ü) keep working and lookups stay by case-fold.

mod common;

use charla_proto::numeric::*;
use charla_server::ServerEvent;
use common::{TestClient, TestServer};

/// `pablo` with CYRILLIC SMALL LETTER A.
const CYRILLIC_PABLO: &str = "p\u{430}blo";
/// `#canal` with CYRILLIC SMALL LETTER A.
const CYRILLIC_CANAL: &str = "#c\u{430}nal";

/// The text of the numeric `n` that `c` gets next, with its parameter checked.
async fn refusal(c: &mut TestClient, n: u16, name: &str) -> String {
    let m = c.expect_numeric(n).await;
    assert_eq!(m.param(1), Some(name), "{m:?}");
    m.params.last().cloned().unwrap_or_default()
}

#[tokio::test]
async fn channels_with_invisible_or_bidi_characters_are_refused_with_479() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    for (name, why) in [
        ("#ca\u{200B}nal", "invisible character (U+200B)"),
        ("#\u{FEFF}canal", "invisible character (U+FEFF)"),
        ("#ca\u{200D}nal", "invisible character (U+200D)"),
        ("#\u{202E}lanac", "bidirectional control character (U+202E)"),
        ("#canal\u{2067}", "bidirectional control character (U+2067)"),
    ] {
        alice.send(&format!("JOIN {name}")).await;
        let text = refusal(&mut alice, ERR_BADCHANNAME, name).await;
        assert!(text.starts_with("Illegal channel name: "), "{text:?}");
        assert!(text.contains(why), "{text:?}");
    }
    // Other bad characters get 479 too; a name without `#` is still no channel at all.
    alice.send("JOIN #a\x07b").await;
    refusal(&mut alice, ERR_BADCHANNAME, "#a\x07b").await;
    alice.send("JOIN canal").await;
    refusal(&mut alice, ERR_NOSUCHCHANNEL, "canal").await;
    alice.sync().await;
    // Alice is in none of them.
    assert!(server.handle.users().iter().all(|u| u.channels.is_empty()));
    alice.send("JOIN #canal").await;
    alice.expect_numeric(RPL_ENDOFNAMES).await;
}

#[tokio::test]
async fn nicks_with_invisible_or_bidi_characters_are_refused_with_432() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    for (nick, why) in [
        ("pa\u{200B}blo", "invisible character (U+200B)"),
        ("pa\u{AD}blo", "invisible character (U+00AD)"),
        ("pablo\u{FE0F}", "invisible character (U+FE0F)"),
        ("\u{3164}", "invisible character (U+3164)"),
        ("\u{202E}olbap", "bidirectional control character (U+202E)"),
        ("pablo\u{200F}", "bidirectional control character (U+200F)"),
    ] {
        c.send(&format!("NICK {nick}")).await;
        let text = refusal(&mut c, ERR_ERRONEUSNICKNAME, nick).await;
        assert!(text.starts_with("Erroneous nickname: "), "{text:?}");
        assert!(text.contains(why), "{text:?}");
    }
    c.register("pablo").await;
}

#[tokio::test]
async fn a_cyrillic_look_alike_is_in_use_while_the_latin_nick_is_online() {
    let server = TestServer::start().await;
    let mut pablo = server.client("pablo").await;
    let mut impostor = server.connect().await;
    impostor.send(&format!("NICK {CYRILLIC_PABLO}")).await;
    let text = refusal(&mut impostor, ERR_NICKNAMEINUSE, CYRILLIC_PABLO).await;
    assert_eq!(text, "Nickname is already in use: it looks like pablo");
    // By case, and by the look-alikes of confusables.txt within ASCII (`l` and `1`, `I`).
    for nick in ["PABLO", "pab1o", "pabIo"] {
        impostor.send(&format!("NICK {nick}")).await;
        refusal(&mut impostor, ERR_NICKNAMEINUSE, nick).await;
    }

    // Once pablo is gone, the look-alike is free.
    let mut events = server.handle.subscribe();
    pablo.send("QUIT :adiós").await;
    pablo.expect_closed().await;
    let gone = async {
        while !matches!(
            events.recv().await,
            Ok(ServerEvent::Disconnected { nick: Some(ref n), .. }) if n == "pablo"
        ) {}
    };
    tokio::time::timeout(common::TIMEOUT, gone)
        .await
        .expect("pablo's disconnection");
    impostor.register(CYRILLIC_PABLO).await;
    // The nick is shown as typed.
    let mut bob = server.client("bob").await;
    bob.send(&format!("WHOIS {CYRILLIC_PABLO}")).await;
    assert_eq!(
        bob.expect_numeric(RPL_WHOISUSER).await.param(1),
        Some(CYRILLIC_PABLO)
    );
    // And now the Latin one is the look-alike.
    let mut late = server.connect().await;
    late.send("NICK pablo").await;
    refusal(&mut late, ERR_NICKNAMEINUSE, "pablo").await;
}

#[tokio::test]
async fn a_nick_is_free_again_once_its_holder_changes_it() {
    let server = TestServer::start().await;
    let mut pablo = server.client("pablo").await;
    let mut other = server.connect().await;
    other.send(&format!("NICK {CYRILLIC_PABLO}")).await;
    refusal(&mut other, ERR_NICKNAMEINUSE, CYRILLIC_PABLO).await;
    pablo.send("NICK juan").await;
    pablo.expect_command("NICK").await;
    other.register(CYRILLIC_PABLO).await;
}

#[tokio::test]
async fn a_user_may_change_to_a_look_alike_of_their_own_nick() {
    let server = TestServer::start().await;
    let mut pablo = server.client("pablo").await;
    pablo.send(&format!("NICK {CYRILLIC_PABLO}")).await;
    let n = pablo.expect_command("NICK").await;
    assert_eq!(n.source_nick(), Some("pablo"));
    assert_eq!(n.param(0), Some(CYRILLIC_PABLO));
    // Its old spelling is still taken by it.
    let mut other = server.connect().await;
    other.send("NICK pablo").await;
    refusal(&mut other, ERR_NICKNAMEINUSE, "pablo").await;
    pablo.send("NICK Pablo").await;
    assert_eq!(pablo.expect_command("NICK").await.param(0), Some("Pablo"));
}

#[tokio::test]
async fn lookups_go_by_case_fold_not_by_look_alike() {
    let server = TestServer::start().await;
    let mut pablo = server.client("pablo").await;
    let mut bob = server.client("bob").await;
    // A message to the look-alike reaches no one: a nick is found only by its case-fold.
    bob.send(&format!("PRIVMSG {CYRILLIC_PABLO} :hola")).await;
    refusal(&mut bob, ERR_NOSUCHNICK, CYRILLIC_PABLO).await;
    bob.send(&format!("WHOIS {CYRILLIC_PABLO}")).await;
    refusal(&mut bob, ERR_NOSUCHNICK, CYRILLIC_PABLO).await;
    bob.send("PRIVMSG PABLO :hola").await;
    let m = pablo.expect_command("PRIVMSG").await;
    assert_eq!(m.source_nick(), Some("bob"));
    assert_eq!(m.param(1), Some("hola"));
    pablo.expect_nothing().await;
}

#[tokio::test]
async fn spanish_nicks_work_and_collide_by_case() {
    let server = TestServer::start().await;
    let mut senor = server.connect().await;
    senor.send("NICK señor").await;
    senor.send("USER senor 0 * :Señor").await;
    assert_eq!(
        senor.expect_numeric(RPL_WELCOME).await.param(0),
        Some("señor")
    );
    let mut other = server.connect().await;
    other.send("NICK SEÑOR").await;
    let text = refusal(&mut other, ERR_NICKNAMEINUSE, "SEÑOR").await;
    assert_eq!(text, "Nickname is already in use");
    // Without the tilde it is another name (the skeleton keeps accents as marks).
    other.register("senor").await;
    let _pena = server.client("pena").await;
    let mut pena_tilde = server.client("peña").await;
    let _pinguino = server.client("pingüino").await;
    let _angel = server.client("Ángel").await;
    pena_tilde.send("PRIVMSG señor :¿qué tal?").await;
    assert_eq!(
        senor.expect_command("PRIVMSG").await.source_nick(),
        Some("peña")
    );
}

#[tokio::test]
async fn a_channel_whose_name_looks_like_an_existing_one_is_refused() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("JOIN #canal").await;
    alice.expect_numeric(RPL_ENDOFNAMES).await;
    bob.send(&format!("JOIN {CYRILLIC_CANAL}")).await;
    let text = refusal(&mut bob, ERR_BADCHANNAME, CYRILLIC_CANAL).await;
    assert_eq!(
        text,
        "Illegal channel name: it looks like #canal, which exists"
    );
    // Another case is the same channel.
    bob.send("JOIN #CANAL").await;
    assert_eq!(bob.expect_command("JOIN").await.param(0), Some("#canal"));
    // Spanish channels stay apart by their accents.
    bob.send("JOIN #cañal,#español").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    // Once #canal is gone, the name is free.
    for c in [&mut alice, &mut bob] {
        c.send("PART #canal").await;
        c.expect_command("PART").await;
        c.sync().await;
    }
    bob.send(&format!("JOIN {CYRILLIC_CANAL}")).await;
    assert_eq!(
        bob.expect_command("JOIN").await.param(0),
        Some(CYRILLIC_CANAL)
    );
}
