//! Arbitrary bytes -> lossy UTF-8 -> `Message::parse`. Whatever parses must survive every
//! accessor, serialise with `LineBuilder` and parse again into the same message (unless the
//! 512-byte clamp had to cut it), and nothing may panic. The parsed parts are also fed to the
//! ISUPPORT, mode, case-mapping and validation helpers, which see the same untrusted input in
//! the server and the client.
#![no_main]

use charla_proto::isupport::{Isupport, Token};
use charla_proto::limits::MAX_LINE;
use charla_proto::mode::{self, ModeTypes};
use charla_proto::{LineBuilder, Message, OwnedMessage, casemap, confusable, validate};
use libfuzzer_sys::fuzz_target;

/// The bytes after the tag section.
fn body_len(line: &str) -> usize {
    if line.starts_with('@') {
        line.split_once(' ').map_or(0, |(_, b)| b.len())
    } else {
        line.len()
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(m) = Message::parse(&text) else {
        return;
    };

    // Every accessor.
    for t in m.tags() {
        let _ = m.tag(t.key);
    }
    let _ = m.source_nick();
    let owned = m.to_owned_message();

    // Serialise as a server would and parse again.
    let mut b = LineBuilder::new();
    for t in m.tags() {
        b.tag(t.key, (!t.value.is_empty()).then_some(&*t.value));
    }
    if let Some(s) = m.source {
        b.source(s);
    }
    b.command(m.command);
    for p in &m.params {
        b.param(p);
    }
    let bytes = b.finish();
    assert!(bytes.ends_with(b"\r\n"));
    let line = std::str::from_utf8(&bytes[..bytes.len() - 2]).expect("builder writes UTF-8");
    // The body, source included, never passes the limit.
    assert!(body_len(line) <= MAX_LINE - 2, "body of {line:?} too long");
    // A clamped body is at least MAX_LINE - 2 - 3 bytes (cut back to a char boundary).
    let clamped = body_len(line) >= MAX_LINE - 5;
    match OwnedMessage::parse(line) {
        Ok(again) if !clamped => assert_eq!(again, owned, "line {line:?}"),
        Ok(again) => assert!(m.command.starts_with(again.command.as_str())),
        Err(e) => assert!(clamped, "unclamped line {line:?} does not parse: {e}"),
    }
    assert_eq!(owned.to_line(), line);

    // The helpers that see the same input.
    let mut is = Isupport::new();
    for p in &m.params {
        let _ = Token::parse(p);
        is.apply_token(p);
        let _ = casemap::casefold(p);
        let _ = casemap::eq_folded(p, m.command);
        let _ = validate::is_valid_nick(p);
        let _ = validate::is_valid_channel(p);
        let _ = validate::check_nick(p);
        let _ = validate::check_channel(p);
        let _ = confusable::skeleton(p);
    }
    let _ = (is.prefix(), is.chanmodes(), is.targmax(), is.modes(), is.max_targets(m.command));
    let types = ModeTypes::channel(is.chanmodes(), &is.prefix_modes());
    let parsed = mode::parse_params(&m.params, &types);
    let _ = mode::pack(&parsed.changes, is.modes(), 200);
});
