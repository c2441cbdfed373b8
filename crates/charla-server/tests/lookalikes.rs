//! Look-alike names (issue 10, finding 6): invisible and bidirectional characters are refused in
//! nicks and channel names, and a name whose confusable skeleton matches one in use is taken,
//! while Spanish names (ñ, á, ü) keep working and lookups stay by case-fold.

mod common;

use charla_proto::numeric::*;
use common::{TestClient, TestServer};

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
