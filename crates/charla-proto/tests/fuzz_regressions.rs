//! Inputs the `parse_line` fuzz target (fuzz/fuzz_targets/parse_line.rs) once failed on, run
//! through the same check: whatever parses serialises and parses back to the same message.

use charla_proto::{Message, OwnedMessage, ParseError};

/// The fuzz target's round-trip check, for lines short enough not to be clamped.
fn round_trips(input: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(input);
    let Ok(m) = Message::parse(&text) else {
        return Ok(());
    };
    let owned = m.to_owned_message();
    let line = owned.to_line();
    match OwnedMessage::parse(&line) {
        Ok(again) if again == owned => Ok(()),
        other => Err(format!("{text:?} -> {line:?} -> {other:?}")),
    }
}

/// `@ @ x`: an empty tag section made the second `@` a command, which was then serialised
/// without tags and read back as a tag section. Empty tag sections are now malformed.
#[test]
fn empty_tag_section_then_at_command() {
    let crash = b"@ @  a\x98nCHA\xb2\xd4 a\x98nCHA\xb2\xd4\xd4\xd4\xff\xff\xffO";
    assert_eq!(round_trips(crash), Ok(()));
    assert_eq!(
        Message::parse(&String::from_utf8_lossy(crash)),
        Err(ParseError::BadTags)
    );
    for line in ["@ @ a b", "@; @ x", "@;;; CMD", "@ CMD"] {
        assert_eq!(Message::parse(line), Err(ParseError::BadTags), "{line:?}");
    }
    // A command that starts with `@` after a source or real tags still round-trips.
    for line in [":s @ a", "@a=b @ x", ": @x y"] {
        assert_eq!(round_trips(line.as_bytes()), Ok(()), "{line:?}");
    }
}
