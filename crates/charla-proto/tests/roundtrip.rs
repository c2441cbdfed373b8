//! Property tests: what we serialise parses back into the same message, and the parser never
//! panics, whatever it is given.

use charla_proto::limits::MAX_LINE;
use charla_proto::{LineBuilder, Message, OwnedMessage, tags};
use proptest::prelude::*;

/// A valid tag key: optional client-only `+`, optional vendor, then a name.
fn tag_key() -> impl Strategy<Value = String> {
    "\\+?([a-z0-9.-]{1,12}/)?[A-Za-z0-9-]{1,12}"
}

/// A tag value: anything but NUL (which the escaping drops, as it can never be sent), so
/// spaces, `;`, `\`, CR, LF, `=` and any Unicode are all in.
fn tag_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\\x00]{0,24}",
        "[ ;\\\\\\r\\na=:sñ🎉]{0,16}",
        Just(String::new()),
    ]
}

/// A source: no space and no line breaks; a nick!user@host or a server name.
fn source() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        "[^\\x00\\r\\n ]{1,30}",
        "[A-Za-zÑñáéíóú_\\[\\]]{1,10}![~a-z]{1,8}@[a-z0-9.:]{1,20}",
    ])
}

fn command() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z]{1,12}", "[0-9]{3}"]
}

/// A middle parameter: non-empty, no space, does not start with `:`.
fn middle() -> impl Strategy<Value = String> {
    "[^\\x00\\r\\n :][^\\x00\\r\\n ]{0,15}"
}

/// A last parameter: anything on one line, spaces, colons and the empty string included.
fn last() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\\x00\\r\\n]{0,40}",
        "[ :a-zñ🎉]{0,20}",
        Just(String::new()),
        Just(":".to_owned()),
        Just(" ".to_owned()),
    ]
}

prop_compose! {
    fn message()(
        tags in prop::collection::vec((tag_key(), tag_value()), 0..5),
        source in source(),
        command in command(),
        middles in prop::collection::vec(middle(), 0..6),
        last in prop::option::of(last()),
    ) -> OwnedMessage {
        let mut params = middles;
        params.extend(last);
        OwnedMessage { tags, source, command, params }
    }
}

/// The body (everything after the tags) of a serialised line.
fn body_len(line: &str) -> usize {
    if line.starts_with('@') {
        line.split_once(' ').map_or(0, |(_, b)| b.len())
    } else {
        line.len()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_of_serialise_is_identity(m in message()) {
        let line = m.to_line();
        // Generated messages stay well under the limit, so nothing is clamped.
        prop_assert!(body_len(&line) <= MAX_LINE - 2, "{line:?}");
        let back = OwnedMessage::parse(&line);
        prop_assert_eq!(back, Ok(m.clone()), "line {:?}", line);

        // The borrowing parser agrees.
        let borrowed = Message::parse(&line).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(borrowed.command, m.command.as_str());
        prop_assert_eq!(borrowed.source, m.source.as_deref());
        prop_assert_eq!(borrowed.params.to_vec(), m.params.iter().map(String::as_str).collect::<Vec<_>>());
        for (key, value) in &m.tags {
            // Later duplicates win, so only check the last value of each key.
            let last = m.tags.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
            let got = borrowed.tag(key);
            prop_assert_eq!(got.as_deref(), last, "tag {} = {:?}", key, value);
        }

        // LineBuilder::finish gives the same line with CR LF.
        let mut b = LineBuilder::new();
        for (k, v) in &m.tags {
            b.tag(k, (!v.is_empty()).then_some(v.as_str()));
        }
        if let Some(s) = &m.source {
            b.source(s);
        }
        b.command(&m.command);
        for p in &m.params {
            b.param(p);
        }
        prop_assert_eq!(b.finish(), format!("{line}\r\n").into_bytes());
    }

    #[test]
    fn tag_escaping_round_trips(v in "[^\\x00]{0,64}") {
        let escaped = tags::escape(&v);
        prop_assert_eq!(tags::unescape(&escaped), v.as_str());
    }

    #[test]
    fn parse_never_panics_on_strings(s in "\\PC{0,80}|[@:; a-z=\\\\\\r\\n\\x00]{0,40}") {
        check_anything(&s)?;
    }

    #[test]
    fn parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        check_anything(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn long_lines_are_clamped_and_still_parse(
        cmd in command(),
        text in "[^\\x00\\r\\n]{400,700}",
    ) {
        let mut b = LineBuilder::new();
        b.tag("time", Some("2025-01-01T00:00:00.000Z")).source("n!u@h").command(&cmd).param("#c").trailing(&text);
        let line = b.finish_string();
        prop_assert!(body_len(&line) <= MAX_LINE - 2);
        let m = Message::parse(&line).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(m.command, cmd.as_str());
        prop_assert!(text.starts_with(m.params[1]));
    }
}

/// Whatever parses can be serialised and parsed again into the same message, unless the line
/// had to be clamped to the length limit: then only the command is promised, cut at most.
fn check_anything(s: &str) -> Result<(), TestCaseError> {
    let Ok(m) = Message::parse(s) else {
        return Ok(());
    };
    let owned = m.to_owned_message();
    let line = owned.to_line();
    // The body, source included, never passes the limit.
    prop_assert!(
        body_len(&line) <= MAX_LINE - 2,
        "{} bytes: {:?}",
        body_len(&line),
        line
    );
    // A clamped body is at least MAX_LINE - 2 - 3 bytes long (cut back to a char boundary).
    if body_len(&line) < MAX_LINE - 5 {
        prop_assert_eq!(OwnedMessage::parse(&line), Ok(owned), "line {:?}", line);
    } else if let Ok(again) = Message::parse(&line) {
        prop_assert!(m.command.starts_with(again.command));
    }
    Ok(())
}

mod modes {
    use charla_proto::isupport::ChanModes;
    use charla_proto::mode::{self, ModeChange, ModeTypes};
    use proptest::prelude::*;

    fn types() -> ModeTypes {
        ModeTypes::channel(ChanModes::parse("beI,k,l,imnst"), "ov")
    }

    /// (add, mode, argument when that mode takes one in that direction).
    fn change() -> impl Strategy<Value = (bool, char, Option<String>)> {
        (
            any::<bool>(),
            prop::sample::select(vec![
                'b', 'e', 'I', 'k', 'l', 'i', 'm', 'n', 's', 't', 'o', 'v',
            ]),
            "[^\\x00\\r\\n :][^\\x00\\r\\n ]{0,30}",
        )
            .prop_map(|(add, m, arg)| {
                let takes = types().kind(m).is_some_and(|k| k.takes_arg(add));
                (add, m, takes.then_some(arg))
            })
    }

    proptest! {
        #[test]
        fn pack_then_parse_gives_the_same_changes(
            raw in prop::collection::vec(change(), 0..40),
            max_args in prop::option::of(1usize..8),
            budget in 60usize..400,
        ) {
            let changes: Vec<ModeChange<'_>> = raw
                .iter()
                .map(|(add, m, arg)| ModeChange { add: *add, mode: *m, arg: arg.as_deref() })
                .collect();
            let lines = mode::pack(&changes, max_args, budget);
            let t = types();
            let mut back = Vec::new();
            for line in &lines {
                prop_assert!(line.args.len() <= max_args.unwrap_or(usize::MAX));
                let params: Vec<&str> = line.params().collect();
                let parsed = mode::parse_params(&params, &t);
                prop_assert!(parsed.errors.is_empty());
                prop_assert!(parsed.unused_args.is_empty());
                back.extend(parsed.changes);
            }
            prop_assert_eq!(back, changes);
        }

        #[test]
        fn parse_never_panics(modes in "[-+a-zA-Z~@]{0,20}", args in prop::collection::vec("\\PC{0,8}", 0..6)) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = mode::parse(&modes, &args, &types());
        }
    }
}

mod isupport {
    use charla_proto::Message;
    use charla_proto::isupport::{Isupport, IsupportBuilder, MAX_TOKENS_PER_LINE};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn what_the_builder_sends_the_reader_gets(
            values in prop::collection::vec(prop::option::of("[^\\x00\\r\\n]{0,60}"), 1..40),
        ) {
            let mut b = IsupportBuilder::new();
            for (i, v) in values.iter().enumerate() {
                match v {
                    Some(v) => b.set(&format!("P{i}"), v),
                    None => b.flag(&format!("P{i}")),
                };
            }
            let mut is = Isupport::new();
            for line in b.lines("irc.example", "ñandú") {
                prop_assert!(line.len() <= 512);
                let text = String::from_utf8(line).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let m = Message::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(m.params.len() - 2 <= MAX_TOKENS_PER_LINE);
                prop_assert!(is.apply_message(&m));
            }
            for (i, v) in values.iter().enumerate() {
                let want = v.as_deref().unwrap_or("");
                prop_assert_eq!(is.get(&format!("P{i}")), Some(want));
            }
        }
    }
}
