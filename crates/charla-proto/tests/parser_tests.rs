//! The public parser test vectors of the ircdocs project (<https://github.com/ircdocs/parser-tests>),
//! run against our parser and serialiser. See `tests/data/README.md` for where the files come from.

use std::collections::BTreeMap;

use charla_proto::message::split_source;
use charla_proto::{Message, OwnedMessage};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct File<T> {
    tests: Vec<T>,
}

/// The parts of a message as the vectors spell them; absent keys are null / empty.
#[derive(Debug, Default, Deserialize)]
struct Atoms {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    source: Option<String>,
    verb: String,
    #[serde(default)]
    params: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct SplitCase {
    input: String,
    atoms: Atoms,
}

#[derive(Debug, Deserialize)]
struct JoinCase {
    desc: String,
    atoms: Atoms,
    matches: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct UserhostCase {
    source: String,
    atoms: UserhostAtoms,
}

#[derive(Debug, Deserialize)]
struct UserhostAtoms {
    nick: Option<String>,
    user: Option<String>,
    host: Option<String>,
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: File<T> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(!file.tests.is_empty(), "{path} holds no tests");
    file.tests
}

#[test]
fn msg_split() {
    let cases: Vec<SplitCase> = load("msg-split.json");
    assert_eq!(cases.len(), 35);
    for case in &cases {
        let input = &case.input;
        let want = &case.atoms;
        let m = Message::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));

        // Later duplicates win, as the spec and the vectors say.
        let tags: BTreeMap<String, String> = m
            .tags()
            .map(|t| (t.key.to_owned(), t.value.into_owned()))
            .collect();
        assert_eq!(tags, want.tags, "tags of {input:?}");
        for (key, value) in &want.tags {
            assert_eq!(
                m.tag(key).as_deref(),
                Some(value.as_str()),
                "tag {key} of {input:?}"
            );
        }
        assert_eq!(m.source, want.source.as_deref(), "source of {input:?}");
        assert_eq!(m.command, want.verb, "verb of {input:?}");
        assert_eq!(m.params.to_vec(), want.params, "params of {input:?}");

        // The owned form agrees with the borrowed one.
        let owned = OwnedMessage::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(owned.command, want.verb);
        assert_eq!(owned.params, want.params);
        for (key, value) in &want.tags {
            assert_eq!(
                owned.tag(key),
                Some(value.as_str()),
                "owned tag {key} of {input:?}"
            );
        }
    }
}

#[test]
fn msg_join() {
    let cases: Vec<JoinCase> = load("msg-join.json");
    assert_eq!(cases.len(), 18);
    for case in &cases {
        let a = &case.atoms;
        let msg = OwnedMessage {
            tags: a.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            source: a.source.clone(),
            command: a.verb.clone(),
            params: a.params.clone(),
        };
        let line = msg.to_line();
        assert!(
            case.matches.contains(&line),
            "{}: built {line:?}, expected one of {:?}",
            case.desc,
            case.matches
        );
        // Whatever we send parses back into the same atoms.
        assert_eq!(OwnedMessage::parse(&line), Ok(msg), "{}", case.desc);
    }
}

#[test]
fn userhost_split() {
    let cases: Vec<UserhostCase> = load("userhost-split.json");
    assert_eq!(cases.len(), 6);
    for case in &cases {
        let (nick, user, host) = split_source(&case.source);
        let want = &case.atoms;
        assert_eq!(
            Some(nick),
            want.nick.as_deref(),
            "nick of {:?}",
            case.source
        );
        assert_eq!(user, want.user.as_deref(), "user of {:?}", case.source);
        assert_eq!(host, want.host.as_deref(), "host of {:?}", case.source);
    }
}
