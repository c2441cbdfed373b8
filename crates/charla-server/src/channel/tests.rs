//! The channel module's unit tests: ban lists, and messages committed together reaching each member.

use super::*;

fn entry(mode: char, arg: &str) -> Option<ListEntry> {
    ListEntry::new(mode, arg, "op", SystemTime::UNIX_EPOCH)
}

#[test]
fn messages_committed_together_reach_each_member_in_order_as_one_at_a_time_would() {
    use crate::deliver::Replies;
    let member = |id: u64, op: bool| Member::new(Arc::new(Client::detached(id)), op, false, 0);
    // ana, eva and fran are operators, caro is running the command that delivers.
    let members = [
        member(1, true),
        member(2, false),
        member(3, false),
        member(4, true),
        member(5, true),
    ];
    let message = |text: &str, user: u64, status: Option<char>, echo: bool| {
        let mut b = LineBuilder::new();
        b.source("x!y@z")
            .command("PRIVMSG")
            .param("#c")
            .trailing(text);
        Ready {
            payload: Payload::new(Outgoing::new(b)),
            from: From {
                user: ConnectionId(user),
                conn: ConnectionId(user),
            },
            status,
            echo,
        }
    };
    let ready = [
        message("uno", 1, None, false),
        message("dos", 2, Some('@'), false),
        message("tres", 3, None, true),
        message("cuatro", 1, None, false),
    ];
    let replies = Replies::default();
    let actor = Actor {
        id: ConnectionId(3),
        replies: &replies,
    };
    deliver_messages(&members, &ready, Some(actor));
    let got = |m: &Member| {
        let mut out = VecDeque::new();
        let count = m.client.queue.take_all(&mut out, std::task::Waker::noop());
        let bytes: Vec<u8> = out.iter().flat_map(|l| l.to_vec()).collect();
        let texts = String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| l.rsplit(':').next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>();
        assert_eq!(count, texts.len(), "a burst counts each of its lines");
        (texts, out.len())
    };
    // No one gets its own message without echo; only the operator gets `@` ones.
    assert_eq!(got(&members[0]), (vec!["dos".to_owned(), "tres".into()], 2));
    let others = vec!["uno".to_owned(), "tres".into(), "cuatro".into()];
    assert_eq!(got(&members[1]), (others.clone(), 3));
    assert_eq!(got(&members[2]), (others, 3));
    // Operators given every message get them as one burst.
    let all = vec![
        "uno".to_owned(),
        "dos".into(),
        "tres".into(),
        "cuatro".into(),
    ];
    assert_eq!(got(&members[3]), (all.clone(), 1));
    assert_eq!(got(&members[4]), (all, 1));
}

#[test]
fn a_view_lists_each_member_once_whoever_names_it_again() {
    let ch = Channel::new("#vista");
    let user = |id: u64| Arc::new(Client::detached(id));
    let (ana, bea, eva) = (user(1), user(2), user(3));
    ch.add_viewed(vec![
        (ana.clone(), true, false),
        (bea.clone(), false, false),
    ]);
    // Another node's snapshot names bea again, and eva twice.
    ch.add_viewed(vec![
        (bea.clone(), false, true),
        (eva.clone(), false, false),
        (eva.clone(), false, true),
    ]);
    let listed = ch.read(|st| {
        st.members
            .iter()
            .map(|m| (m.client.id.0, m.op, m.voice))
            .collect::<Vec<_>>()
    });
    assert_eq!(
        listed,
        [(1, true, false), (2, false, false), (3, false, false)]
    );
    assert!(ch.read(|st| st.member(eva.id).is_some() && st.member(ConnectionId(4)).is_none()));
}

#[test]
fn list_entries_complete_masks_and_take_mutes_in_the_ban_list_only() {
    let ban = entry('b', "bob").expect("a ban");
    assert_eq!((ban.mask.as_str(), ban.mute), ("bob!*@*", false));
    let mute = entry('b', "~m:bob").expect("a mute");
    assert_eq!((mute.mask.as_str(), mute.mute), ("~m:bob!*@*", true));
    assert!(mute.compiled.matches("BOB!~b@host"));
    // Stored masks come back as they were.
    assert_eq!(entry('b', &mute.mask).map(|e| e.mask), Some(mute.mask));
    for refused in [
        ('e', "~m:bob"),
        ('I', "~m:bob"),
        ('b', "~q:bob"),
        ('b', "a b"),
    ] {
        assert!(entry(refused.0, refused.1).is_none(), "{refused:?}");
    }
    assert!(entry('b', &"x".repeat(200)).is_none());
}

#[test]
fn a_ban_wins_over_a_mute_and_an_exception_lifts_both() {
    let mut st = ChannelState::default();
    st.bans.extend(entry('b', "~m:*!*@*"));
    assert_eq!(st.ban_of("bob!u@h"), Some(Ban::Mute));
    assert!(!st.is_banned("bob!u@h"));
    st.bans.extend(entry('b', "bob"));
    assert_eq!(st.ban_of("bob!u@h"), Some(Ban::Ban));
    assert_eq!(st.ban_of("eva!u@h"), Some(Ban::Mute));
    st.excepts.extend(entry('e', "*!*@h"));
    assert_eq!(st.ban_of("bob!u@h"), None);
}
