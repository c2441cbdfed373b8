//! Message history: appends, every query and anchor, conversations with activity, read markers.

use crate::common::message;
use crate::{append_all, apply, ask, fill_history, ids, msgid};
use charla_store::{
    Anchor, Conflict, HistoryQuery, HistoryRecord, Kinds, Store, TargetRecord, Write,
};

pub(crate) fn suite_history_append_assigns_increasing_seqs(store: &dyn Store) {
    assert_eq!(store.history_count().expect("count"), 0);
    fill_history(store);
    assert_eq!(store.history_count().expect("count"), 13);
    let all = store
        .history("#c", &HistoryQuery::Latest(None), 100)
        .expect("history")
        .expect("no anchor");
    assert_eq!(all.len(), 10);
    for (i, entry) in all.iter().enumerate() {
        // What was written comes back, with the store's seq.
        let mut written = message("#c", &format!("m{}", i + 1), (i as i64 + 1) * 1000);
        assert_ne!(entry.seq, 0);
        written.seq = entry.seq;
        assert_eq!(entry, &written);
    }
    let other = store
        .history("#other", &HistoryQuery::Latest(None), 100)
        .expect("history")
        .expect("no anchor");
    // Over the whole store: o1 was appended between m3 and m4.
    assert!(all[2].seq < other[0].seq && other[0].seq < all[3].seq);

    // Later appends, in a later commit, come after; entries of the same millisecond keep the
    // order in which they were written, and so does a clock that stepped back.
    append_all(
        store,
        [
            message("#c", "same-1", 20_000),
            message("#c", "same-2", 20_000),
            message("#c", "earlier", 15_000),
        ],
    );
    assert_eq!(
        ask(store, "#c", HistoryQuery::Latest(None), 3),
        Some(vec![
            "same-1".to_owned(),
            "same-2".to_owned(),
            "earlier".to_owned()
        ])
    );
    // Keys are exact.
    assert_eq!(
        ask(store, "#C", HistoryQuery::Latest(None), 10),
        Some(vec![])
    );
}

pub(crate) fn suite_history_of_messages_skips_events_before_the_limit(store: &dyn Store) {
    let event = |msgid: &str, time_ms: i64| HistoryRecord {
        command: "JOIN".to_owned(),
        params: vec!["#c".to_owned()],
        ..message("#c", msgid, time_ms)
    };
    append_all(
        store,
        [
            message("#c", "m1", 1000),
            event("j1", 2000),
            event("j2", 3000),
            message("#c", "m2", 4000),
            event("j3", 5000),
            event("j4", 6000),
        ],
    );
    let ids = |entries: Vec<HistoryRecord>| -> Vec<String> {
        entries.into_iter().map(|e| e.msgid).collect()
    };
    let messages = store
        .history_of("#c", &HistoryQuery::Latest(None), 2, Kinds::Messages)
        .expect("history")
        .expect("no anchor");
    assert_eq!(ids(messages), ["m1", "m2"]);
    let all = store
        .history_of("#c", &HistoryQuery::Latest(None), 2, Kinds::All)
        .expect("history")
        .expect("no anchor");
    assert_eq!(ids(all), ["j3", "j4"]);
    // An event may anchor a query of messages.
    let before = store
        .history_of(
            "#c",
            &HistoryQuery::Before(Anchor::Msgid("j3".to_owned())),
            5,
            Kinds::Messages,
        )
        .expect("history")
        .expect("the anchor is there");
    assert_eq!(ids(before), ["m1", "m2"]);
}

pub(crate) fn suite_history_queries_with_msgid_anchors(store: &dyn Store) {
    fill_history(store);
    let q = |query, limit| ask(store, "#c", query, limit);

    assert_eq!(q(HistoryQuery::Latest(None), 3), Some(ids(8..=10)));
    assert_eq!(q(HistoryQuery::Latest(None), 100), Some(ids(1..=10)));
    // Latest after an anchor: the newest ones, and none at or before the anchor.
    assert_eq!(
        q(HistoryQuery::Latest(Some(msgid("m5"))), 3),
        Some(ids(8..=10))
    );
    assert_eq!(
        q(HistoryQuery::Latest(Some(msgid("m5"))), 100),
        Some(ids(6..=10))
    );
    assert_eq!(
        q(HistoryQuery::Latest(Some(msgid("m10"))), 100),
        Some(vec![])
    );

    assert_eq!(q(HistoryQuery::Before(msgid("m5")), 2), Some(ids(3..=4)));
    assert_eq!(q(HistoryQuery::Before(msgid("m5")), 100), Some(ids(1..=4)));
    assert_eq!(q(HistoryQuery::Before(msgid("m1")), 100), Some(vec![]));
    assert_eq!(q(HistoryQuery::After(msgid("m5")), 2), Some(ids(6..=7)));
    assert_eq!(q(HistoryQuery::After(msgid("m5")), 100), Some(ids(6..=10)));

    // Around: limit / 2 before, the rest from the anchor on, the anchor's own entry included.
    assert_eq!(q(HistoryQuery::Around(msgid("m5")), 4), Some(ids(3..=6)));
    assert_eq!(q(HistoryQuery::Around(msgid("m5")), 5), Some(ids(3..=7)));
    assert_eq!(q(HistoryQuery::Around(msgid("m5")), 1), Some(ids(5..=5)));
    // Near the start, the half before is short; the other half does not make up for it.
    assert_eq!(q(HistoryQuery::Around(msgid("m2")), 6), Some(ids(1..=4)));

    // Between, either way round: the ones closest to the first anchor, ascending.
    let between = |a: &str, b: &str, limit| q(HistoryQuery::Between(msgid(a), msgid(b)), limit);
    assert_eq!(between("m2", "m8", 3), Some(ids(3..=5)));
    assert_eq!(between("m8", "m2", 3), Some(ids(5..=7)));
    assert_eq!(between("m2", "m8", 100), Some(ids(3..=7)));
    assert_eq!(between("m8", "m2", 100), Some(ids(3..=7)));
    assert_eq!(between("m4", "m5", 100), Some(vec![]));
    assert_eq!(between("m4", "m4", 100), Some(vec![]));
}

pub(crate) fn suite_history_queries_with_time_anchors(store: &dyn Store) {
    fill_history(store);
    let q = |query, limit| ask(store, "#c", query, limit);
    let t = Anchor::Time;

    // An entry of exactly the anchor's time is neither before nor after it.
    assert_eq!(
        q(HistoryQuery::Latest(Some(t(5000))), 100),
        Some(ids(6..=10))
    );
    assert_eq!(q(HistoryQuery::Latest(Some(t(5000))), 2), Some(ids(9..=10)));
    assert_eq!(q(HistoryQuery::Latest(Some(t(10_000))), 100), Some(vec![]));
    assert_eq!(q(HistoryQuery::Before(t(5000)), 2), Some(ids(3..=4)));
    assert_eq!(q(HistoryQuery::Before(t(5500)), 2), Some(ids(4..=5)));
    assert_eq!(q(HistoryQuery::Before(t(1000)), 100), Some(vec![]));
    assert_eq!(q(HistoryQuery::After(t(5000)), 2), Some(ids(6..=7)));
    assert_eq!(q(HistoryQuery::After(t(5500)), 2), Some(ids(6..=7)));
    assert_eq!(q(HistoryQuery::After(t(0)), 100), Some(ids(1..=10)));

    // Around a time: the inclusive half is `time_ms >= t`.
    assert_eq!(q(HistoryQuery::Around(t(5000)), 4), Some(ids(3..=6)));
    assert_eq!(q(HistoryQuery::Around(t(5500)), 4), Some(ids(4..=7)));
    assert_eq!(q(HistoryQuery::Around(t(5000)), 1), Some(ids(5..=5)));

    let between = |a, b, limit| q(HistoryQuery::Between(a, b), limit);
    assert_eq!(between(t(2000), t(8000), 3), Some(ids(3..=5)));
    assert_eq!(between(t(8000), t(2000), 3), Some(ids(5..=7)));
    assert_eq!(between(t(2000), t(8000), 100), Some(ids(3..=7)));
    assert_eq!(between(t(8000), t(2000), 100), Some(ids(3..=7)));
    assert_eq!(between(t(2500), t(3500), 100), Some(ids(3..=3)));
    assert_eq!(between(t(5000), t(5000), 100), Some(vec![]));

    // Mixed: a msgid and a time, either first, either earlier.
    assert_eq!(between(msgid("m2"), t(8000), 3), Some(ids(3..=5)));
    assert_eq!(between(t(8000), msgid("m2"), 3), Some(ids(5..=7)));
    assert_eq!(between(msgid("m8"), t(2000), 3), Some(ids(5..=7)));
    assert_eq!(between(t(2000), msgid("m8"), 3), Some(ids(3..=5)));
    assert_eq!(between(msgid("m2"), t(8500), 100), Some(ids(3..=8)));
    assert_eq!(between(t(1500), msgid("m8"), 100), Some(ids(2..=7)));

    // Entries of the same millisecond are taken in seq order from a time anchor.
    append_all(
        store,
        [
            message("#t", "a", 1000),
            message("#t", "b", 2000),
            message("#t", "c", 2000),
            message("#t", "d", 2000),
            message("#t", "e", 3000),
        ],
    );
    let names = |v: &[&str]| Some(v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    assert_eq!(
        ask(store, "#t", HistoryQuery::After(t(1000)), 2),
        names(&["b", "c"])
    );
    assert_eq!(
        ask(store, "#t", HistoryQuery::Before(t(3000)), 2),
        names(&["c", "d"])
    );
    assert_eq!(
        ask(store, "#t", HistoryQuery::Around(t(2000)), 3),
        names(&["a", "b", "c"])
    );
}

pub(crate) fn suite_history_limit_zero_unknown_anchors_and_empty_targets(store: &dyn Store) {
    fill_history(store);
    let q = |target, query, limit| ask(store, target, query, limit);
    let queries = |anchor: Anchor| {
        vec![
            HistoryQuery::Latest(Some(anchor.clone())),
            HistoryQuery::Before(anchor.clone()),
            HistoryQuery::After(anchor.clone()),
            HistoryQuery::Around(anchor.clone()),
            HistoryQuery::Between(anchor.clone(), Anchor::Time(5000)),
            HistoryQuery::Between(Anchor::Time(5000), anchor.clone()),
            HistoryQuery::Between(anchor, msgid("m5")),
        ]
    };

    // Limit 0: nothing, but an answer.
    assert_eq!(q("#c", HistoryQuery::Latest(None), 0), Some(vec![]));
    for query in queries(msgid("m3"))
        .into_iter()
        .chain(queries(Anchor::Time(3000)))
    {
        assert_eq!(q("#c", query.clone(), 0), Some(vec![]), "{query:?}");
    }
    // An unknown msgid, or one of another target, is no anchor: `None`, whatever the limit.
    for anchor in [msgid("nope"), msgid("o1")] {
        for query in queries(anchor) {
            assert_eq!(q("#c", query.clone(), 10), None, "{query:?}");
            assert_eq!(q("#c", query.clone(), 0), None, "{query:?}");
        }
    }
    // The same msgid is an anchor in its own target.
    assert_eq!(
        q("#other", HistoryQuery::Around(msgid("o1")), 10),
        Some(vec!["o1".to_owned(), "o2".to_owned(), "o3".to_owned()])
    );
    // A target without history answers with nothing, except for a msgid anchor.
    assert_eq!(q("#empty", HistoryQuery::Latest(None), 10), Some(vec![]));
    assert_eq!(
        q("#empty", HistoryQuery::Before(Anchor::Time(5000)), 10),
        Some(vec![])
    );
    assert_eq!(q("#empty", HistoryQuery::After(msgid("m1")), 10), None);
}

pub(crate) fn suite_history_duplicate_msgid_and_round_trip(store: &dyn Store) {
    let mut first = message("#c", "dup", 1000);
    first.tags = "+draft/reply=abc;+example.org/x=a\\sb".to_owned();
    first.params = vec![
        "#c".to_owned(),
        "¿Qué tal, ñandú? 🎶  dos  espacios ".to_owned(),
    ];
    append_all(store, [first.clone()]);

    // The msgid is taken in the whole store, whatever the target.
    let mut other = message("#elsewhere", "dup", 2000);
    other.params = vec!["#elsewhere".to_owned(), "otro".to_owned()];
    assert_eq!(apply(store, Write::Append(other)), Err(Conflict::Exists));
    assert_eq!(
        apply(store, Write::Append(first.clone())),
        Err(Conflict::Exists)
    );
    assert_eq!(store.history_count().expect("count"), 1);
    assert_eq!(
        ask(store, "#elsewhere", HistoryQuery::Latest(None), 10),
        Some(vec![])
    );
    let read = store
        .history("#c", &HistoryQuery::Latest(None), 10)
        .expect("history")
        .expect("no anchor");
    first.seq = read[0].seq;
    assert_eq!(read, vec![first]);

    // Per-write outcomes within one batch; the seq given in the write is ignored.
    let mut given_seq = message("#c", "b", 3000);
    given_seq.seq = 999_999;
    assert_eq!(
        store
            .apply(&[
                Write::Append(message("#c", "a", 2000)),
                Write::Append(message("#c", "a", 2000)),
                Write::Append(given_seq),
            ])
            .expect("apply"),
        vec![Ok(()), Err(Conflict::Exists), Ok(())]
    );
    let read = store
        .history("#c", &HistoryQuery::Latest(None), 10)
        .expect("history")
        .expect("no anchor");
    assert_eq!(read.len(), 3);
    assert!(
        read[1].seq < read[2].seq && read[2].seq < 999_999,
        "the store's seq, not the one given: {read:?}"
    );

    // Events: no account, no params at all, an empty last param, a QUIT without a target.
    let mut quit = message("#c", "quit", 4000);
    quit.command = "QUIT".to_owned();
    quit.account = None;
    quit.params = vec![];
    let mut part = message("#c", "part", 5000);
    part.command = "PART".to_owned();
    part.params = vec!["#c".to_owned(), String::new()];
    let mut empty = message("#c", "empty", 6000);
    empty.params = vec![String::new()];
    append_all(store, [quit.clone(), part.clone(), empty.clone()]);
    let read = store
        .history("#c", &HistoryQuery::After(msgid("b")), 10)
        .expect("history")
        .expect("b is an anchor");
    let stripped: Vec<_> = read
        .into_iter()
        .map(|mut entry| {
            entry.seq = 0;
            entry
        })
        .collect();
    assert_eq!(stripped, vec![quit, part, empty]);
    assert_eq!(store.history_count().expect("count"), 6);
}

pub(crate) fn suite_history_targets_lists_active_conversations(store: &dyn Store) {
    append_all(
        store,
        [
            message("#a", "a1", 1000),
            message("#b", "b1", 2000),
            message("#a", "a2", 3000),
            message("#c", "c1", 5000),
            message("#unlisted", "u1", 3000),
        ],
    );
    let converse = |owner: &str, peer: &str, target: &str, time_ms| {
        apply(
            store,
            Write::Converse {
                owner: owner.to_owned(),
                peer: peer.to_owned(),
                target: target.to_owned(),
                time_ms,
            },
        )
    };
    assert_eq!(converse("alice", "Bob", "pm:alice:bob", 2500), Ok(()));
    // An earlier time leaves the conversation's time; the latest peer name is kept.
    assert_eq!(converse("alice", "BOB", "pm:alice:bob", 1500), Ok(()));
    assert_eq!(converse("alice", "Carol", "pm:alice:carol", 4000), Ok(()));
    assert_eq!(converse("alice", "Dave", "pm:alice:dave", 3000), Ok(()));
    assert_eq!(converse("bob", "Alice", "pm:alice:bob", 2500), Ok(()));

    let target = |target: &str, name: &str, last_ms| TargetRecord {
        target: target.to_owned(),
        name: name.to_owned(),
        last_ms,
    };
    let channels: Vec<String> = ["#c", "#a", "#b", "#none", "#a"]
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    let everything = vec![
        target("#b", "#b", 2000),
        target("pm:alice:bob", "BOB", 2500),
        // Same time: by target, in byte order.
        target("#a", "#a", 3000),
        target("pm:alice:dave", "Dave", 3000),
        target("pm:alice:carol", "Carol", 4000),
        target("#c", "#c", 5000),
    ];
    let targets = |channels: &[String], from, to, limit| {
        store
            .history_targets("alice", channels, from, to, limit)
            .expect("targets")
    };
    assert_eq!(targets(&channels, 0, 10_000, 100), everything);
    assert_eq!(targets(&channels, 10_000, 0, 100), everything);
    assert_eq!(targets(&channels, 0, 10_000, 2), everything[..2].to_vec());
    assert!(targets(&channels, 0, 10_000, 0).is_empty());
    // Both bounds inclusive, in either order.
    assert_eq!(
        targets(&channels, 2500, 4000, 100),
        everything[1..5].to_vec()
    );
    assert_eq!(
        targets(&channels, 4000, 2500, 100),
        everything[1..5].to_vec()
    );
    assert!(targets(&channels, 6000, 9000, 100).is_empty());
    // Only the channels asked about; private conversations are the owner's own.
    assert_eq!(
        targets(&["#c".to_owned()], 0, 10_000, 100),
        vec![
            target("pm:alice:bob", "BOB", 2500),
            target("pm:alice:dave", "Dave", 3000),
            target("pm:alice:carol", "Carol", 4000),
            target("#c", "#c", 5000),
        ]
    );
    assert_eq!(
        store
            .history_targets("bob", &[], 0, 10_000, 100)
            .expect("targets"),
        vec![target("pm:alice:bob", "Alice", 2500)]
    );
    assert!(
        store
            .history_targets("Alice", &[], 0, 10_000, 100)
            .expect("targets")
            .is_empty(),
        "owners are exact keys"
    );
    // A channel's time is its latest entry's.
    append_all(store, [message("#b", "b2", 6000)]);
    assert_eq!(
        targets(&["#b".to_owned()], 5500, 6000, 100)
            .into_iter()
            .filter(|t| t.target.starts_with('#'))
            .collect::<Vec<_>>(),
        vec![target("#b", "#b", 6000)]
    );
    // A later conversation time moves it on.
    assert_eq!(converse("alice", "Bob", "pm:alice:bob", 7000), Ok(()));
    assert_eq!(
        targets(&[], 6500, 7000, 100),
        vec![target("pm:alice:bob", "Bob", 7000)]
    );
}

pub(crate) fn suite_read_markers_only_move_forward(store: &dyn Store) {
    let set = |account: &str, target: &str, time_ms| {
        apply(
            store,
            Write::SetReadMarker {
                account: account.to_owned(),
                target: target.to_owned(),
                time_ms,
            },
        )
    };
    let get = |account, target| store.read_marker(account, target).expect("marker");
    assert_eq!(get("alice", "#c"), None);
    assert_eq!(set("alice", "#c", 1000), Ok(()));
    assert_eq!(get("alice", "#c"), Some(1000));
    assert_eq!(set("alice", "#c", 500), Ok(()), "still Ok, but no change");
    assert_eq!(get("alice", "#c"), Some(1000));
    assert_eq!(set("alice", "#c", 1000), Ok(()));
    assert_eq!(set("alice", "#c", 2000), Ok(()));
    assert_eq!(get("alice", "#c"), Some(2000));
    // Per account and target, keys exact.
    assert_eq!(set("alice", "#d", 10), Ok(()));
    assert_eq!(get("alice", "#d"), Some(10));
    assert_eq!(get("alice", "#C"), None);
    assert_eq!(get("bob", "#c"), None);
    assert_eq!(get("Alice", "#c"), None);
    // In one batch, each sees the one before.
    assert_eq!(
        store
            .apply(&[
                Write::SetReadMarker {
                    account: "bob".to_owned(),
                    target: "#c".to_owned(),
                    time_ms: 3000,
                },
                Write::SetReadMarker {
                    account: "bob".to_owned(),
                    target: "#c".to_owned(),
                    time_ms: 2500,
                },
            ])
            .expect("apply"),
        vec![Ok(()), Ok(())]
    );
    assert_eq!(get("bob", "#c"), Some(3000));
}

pub(crate) fn suite_times_never_go_back_along_seq_so_paging_skips_nothing(store: &dyn Store) {
    // m2 was timed before m1 but reached the store after it (another sender's line).
    append_all(
        store,
        [
            message("#c", "m1", 2000),
            message("#c", "m2", 1500),
            message("#c", "m3", 3000),
            message("#d", "d1", 1000),
        ],
    );
    let all = store
        .history("#c", &HistoryQuery::Latest(None), 10)
        .expect("history")
        .expect("answer");
    let times: Vec<i64> = all.iter().map(|e| e.time_ms).collect();
    assert_eq!(times, [2000, 2000, 3000]);
    // Page by time, then by the last msgid of the page: every entry, once.
    let first = ask(store, "#c", HistoryQuery::After(Anchor::Time(0)), 1).expect("answer");
    assert_eq!(first, ["m1"]);
    let rest = ask(
        store,
        "#c",
        HistoryQuery::After(Anchor::Msgid("m1".to_owned())),
        10,
    )
    .expect("answer");
    assert_eq!(rest, ["m2", "m3"]);
    // Other targets keep their own times.
    let d = ask(store, "#d", HistoryQuery::Latest(None), 10).expect("answer");
    assert_eq!(d, ["d1"]);
}
