//! Properties over arbitrary input: whatever a server sends or a user types, the reducer and
//! the input parser never panic, and the server buffer stays first.

use charla_client::state::BufferId;
use charla_client::{Event, State, input};
use charla_proto::OwnedMessage;
use proptest::prelude::*;

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ana".to_owned()),
        Just("bob".to_owned()),
        Just("#charla".to_owned()),
        Just("@#charla".to_owned()),
        Just("*".to_owned()),
        Just("+o".to_owned()),
        Just("-v+k".to_owned()),
        Just("\u{1}ACTION".to_owned()),
        Just("PREFIX=(ov)@+".to_owned()),
        Just("CHANMODES=b,k,l,nt".to_owned()),
        "[a-zA-Z0-9#@+!~&:=,()Ññúü🎉\u{1}-]{0,12}",
    ]
}

fn command() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("PRIVMSG"),
        Just("NOTICE"),
        Just("TAGMSG"),
        Just("JOIN"),
        Just("PART"),
        Just("KICK"),
        Just("QUIT"),
        Just("NICK"),
        Just("TOPIC"),
        Just("MODE"),
        Just("AWAY"),
        Just("ERROR"),
        Just("FAIL"),
        Just("REGISTER"),
        Just("INVITE"),
        Just("CAP"),
        Just("001"),
        Just("005"),
        Just("301"),
        Just("324"),
        Just("332"),
        Just("333"),
        Just("353"),
        Just("366"),
        Just("401"),
        Just("433"),
        Just("482"),
        Just("900"),
        Just("311"),
        Just("999"),
    ]
    .prop_map(str::to_owned)
}

fn line() -> impl Strategy<Value = String> {
    (
        prop::option::of(prop_oneof![
            Just("@time=2024-01-01T00:00:00Z "),
            Just("@+typing=active "),
            Just("@time=bogus ")
        ]),
        prop::option::of(prop_oneof![
            Just(":ana!a@h "),
            Just(":bob!b@h "),
            Just(":srv "),
            Just(":Ñandú!n@h ")
        ]),
        command(),
        prop::collection::vec(word(), 0..6),
        prop::option::of(word()),
    )
        .prop_map(|(tags, source, cmd, params, trailing)| {
            let mut l = format!("{}{}{}", tags.unwrap_or(""), source.unwrap_or(""), cmd);
            for p in params
                .iter()
                .filter(|p| !p.is_empty() && !p.starts_with(':'))
            {
                l.push(' ');
                l.push_str(p);
            }
            if let Some(t) = trailing {
                l.push_str(" :");
                l.push_str(&t);
            }
            l
        })
}

proptest! {
    #[test]
    fn the_reducer_never_panics(lines in prop::collection::vec(line(), 1..40)) {
        let mut s = State::new("ana");
        s.apply(&Event::Irc(OwnedMessage::parse(":srv 001 ana :hi").unwrap()));
        s.apply(&Event::Irc(OwnedMessage::parse(":ana!a@h JOIN #charla").unwrap()));
        for l in &lines {
            if let Ok(m) = OwnedMessage::parse(l) {
                s.apply(&Event::Irc(m.clone()));
                s.apply(&Event::Echo(m));
            }
        }
        prop_assert_eq!(&s.buffers[0].id, &BufferId::Server);
        for b in &s.buffers {
            let _ = b.complete_nick("a");
            let _ = b.typing_now(std::time::Instant::now());
        }
    }

    #[test]
    fn input_parsing_never_panics(text in "\\PC{0,40}", slash in any::<bool>()) {
        let text = if slash { format!("/{text}") } else { text };
        for buffer in [BufferId::Server, BufferId::Channel("#c".into()), BufferId::Query("bob".into())] {
            let _ = input::parse(&buffer, &text);
        }
    }
}
