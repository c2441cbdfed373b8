//! What removes history: retention (prune) and redaction.

use crate::common::message;
use crate::{append_all, apply, ask, msgid};
use charla_store::{
    Conflict, HistoryQuery, HistoryRecord, Kinds, SearchQuery, Store, TargetKind, TargetRecord,
    Write,
};

pub(crate) fn suite_prune_by_count_counts_messages_not_events(store: &dyn Store) {
    let event = |msgid: &str, time_ms: i64| HistoryRecord {
        command: "JOIN".to_owned(),
        params: vec!["#c".to_owned()],
        ..message("#c", msgid, time_ms)
    };
    append_all(
        store,
        [
            event("j0", 500),
            message("#c", "m1", 1000),
            event("j1", 1500),
            message("#c", "m2", 2000),
            event("j2", 2500),
            message("#c", "m3", 3000),
            event("j3", 3500),
            event("j4", 4000),
        ],
    );
    let write = Write::PruneHistory {
        target: None,
        kind: TargetKind::All,
        except: Vec::new(),
        before_ms: None,
        keep_last: Some(2),
    };
    assert_eq!(apply(store, write), Ok(()));
    assert_eq!(
        ask(store, "#c", HistoryQuery::Latest(None), 100),
        Some(["m2", "j2", "m3", "j3", "j4"].map(str::to_owned).to_vec())
    );
}

pub(crate) fn suite_prune_history(store: &dyn Store) {
    let msgids = |target| ask(store, target, HistoryQuery::Latest(None), 100).expect("answer");
    let prune = |target: Option<&str>, before_ms, keep_last| {
        apply(
            store,
            Write::PruneHistory {
                target: target.map(str::to_owned),
                kind: TargetKind::All,
                except: Vec::new(),
                before_ms,
                keep_last,
            },
        )
    };
    append_all(
        store,
        (1..=6)
            .map(|i| message("#a", &format!("a{i}"), i * 1000))
            .chain((1..=4).map(|i| message("#b", &format!("b{i}"), i * 1000))),
    );
    let names = |prefix: &str, range: std::ops::RangeInclusive<i64>| {
        range.map(|i| format!("{prefix}{i}")).collect::<Vec<_>>()
    };

    // Neither limit: nothing goes.
    assert_eq!(prune(None, None, None), Ok(()));
    assert_eq!(store.history_count().expect("count"), 10);
    // One target, by time: strictly older goes.
    assert_eq!(prune(Some("#a"), Some(2000), None), Ok(()));
    assert_eq!(msgids("#a"), names("a", 2..=6));
    assert_eq!(msgids("#b"), names("b", 1..=4));
    // Every target, by count.
    assert_eq!(prune(None, None, Some(3)), Ok(()));
    assert_eq!(msgids("#a"), names("a", 4..=6));
    assert_eq!(msgids("#b"), names("b", 2..=4));
    assert_eq!(store.history_count().expect("count"), 6);
    // Both: an entry goes when either says so.
    assert_eq!(prune(None, Some(3000), Some(2)), Ok(()));
    assert_eq!(msgids("#a"), names("a", 5..=6));
    assert_eq!(msgids("#b"), names("b", 3..=4));
    // Every target, by time.
    assert_eq!(prune(None, Some(4000), None), Ok(()));
    assert_eq!(msgids("#a"), names("a", 5..=6));
    assert_eq!(msgids("#b"), names("b", 4..=4));
    // Keeping more than there is keeps everything; a target without history is fine.
    assert_eq!(prune(Some("#a"), None, Some(100)), Ok(()));
    assert_eq!(prune(Some("#none"), Some(9000), Some(0)), Ok(()));
    assert_eq!(msgids("#a"), names("a", 5..=6));
    assert_eq!(store.history_count().expect("count"), 3);

    // Emptying a target: its newest seq is never given again, and a pruned msgid is free.
    let newest = store
        .history("#a", &HistoryQuery::Latest(None), 1)
        .expect("history")
        .expect("answer")[0]
        .seq;
    assert_eq!(prune(Some("#a"), None, Some(0)), Ok(()));
    assert_eq!(msgids("#a"), Vec::<String>::new());
    assert_eq!(msgids("#b"), names("b", 4..=4));
    append_all(store, [message("#a", "a6", 9000)]);
    let again = store
        .history("#a", &HistoryQuery::Latest(None), 1)
        .expect("history")
        .expect("answer");
    assert!(again[0].seq > newest, "{} after {newest}", again[0].seq);
    assert_eq!(store.history_count().expect("count"), 2);
    // A pruned channel no longer shows in the targets list.
    assert_eq!(
        store
            .history_targets("alice", &["#a".to_owned(), "#b".to_owned()], 0, 8000, 10)
            .expect("targets"),
        vec![TargetRecord {
            target: "#b".to_owned(),
            name: "#b".to_owned(),
            last_ms: 4000,
        }]
    );
}

pub(crate) fn suite_prune_by_kind_leaves_the_exceptions_alone(store: &dyn Store) {
    let count = |target| {
        ask(store, target, HistoryQuery::Latest(None), 100)
            .expect("answer")
            .len()
    };
    append_all(
        store,
        ["#a", "#b", "alice bob", "bob carol"]
            .iter()
            .flat_map(|t| (1..=3).map(move |i| message(t, &format!("{t}{i}"), i * 1000))),
    );
    let prune = |kind, except: &[&str]| Write::PruneHistory {
        target: None,
        kind,
        except: except.iter().map(|t| (*t).to_owned()).collect(),
        before_ms: None,
        keep_last: Some(1),
    };
    // The private conversations only.
    assert_eq!(apply(store, prune(TargetKind::Private, &[])), Ok(()));
    assert_eq!(
        ["#a", "#b", "alice bob", "bob carol"].map(count),
        [3, 3, 1, 1]
    );
    // The channels but #b (it has a rule of its own).
    assert_eq!(apply(store, prune(TargetKind::Channels, &["#b"])), Ok(()));
    assert_eq!(
        ["#a", "#b", "alice bob", "bob carol"].map(count),
        [1, 3, 1, 1]
    );
}

pub(crate) fn suite_redact_deletes_the_message_and_keeps_the_redaction(store: &dyn Store) {
    let said = |target: &str, msgid: &str, time_ms: i64, text: &str| HistoryRecord {
        params: vec![target.to_owned(), text.to_owned()],
        ..message(target, msgid, time_ms)
    };
    let join = HistoryRecord {
        command: "JOIN".to_owned(),
        params: vec!["#a".to_owned()],
        ..message("#a", "j1", 500)
    };
    append_all(
        store,
        [
            join,
            said("#a", "a1", 1000, "secreto número uno"),
            said("#a", "a2", 2000, "nada que ocultar"),
            said("#b", "b1", 3000, "secreto de otro canal"),
        ],
    );
    let redaction = |target: &str, msgid: &str, of: &str| HistoryRecord {
        command: "REDACT".to_owned(),
        params: vec![target.to_owned(), of.to_owned(), "oops".to_owned()],
        ..message(target, msgid, 4000)
    };
    let redact = |of: &str, r: HistoryRecord| Write::Redact {
        msgid: of.to_owned(),
        redaction: r,
    };
    // Not a message of #a: unknown, of another target, an event. Nothing changes.
    for of in ["nope", "b1", "j1"] {
        assert_eq!(
            apply(store, redact(of, redaction("#a", "r0", of))),
            Err(Conflict::NotFound),
            "{of}"
        );
    }
    // The redaction's own msgid is taken: the message stays.
    assert_eq!(
        apply(store, redact("a1", redaction("#a", "a2", "a1"))),
        Err(Conflict::Exists)
    );
    assert_eq!(
        ask(store, "#a", HistoryQuery::Latest(None), 10),
        Some(vec!["j1".to_owned(), "a1".to_owned(), "a2".to_owned()])
    );
    assert_eq!(store.history_count().expect("count"), 4);

    assert_eq!(
        apply(store, redact("a1", redaction("#a", "r1", "a1"))),
        Ok(())
    );
    // The message is gone; the redaction is an event at the end.
    let entries = store
        .history("#a", &HistoryQuery::Latest(None), 10)
        .expect("history")
        .expect("known target");
    let found: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.msgid.as_str(), e.command.as_str()))
        .collect();
    assert_eq!(found, [("j1", "JOIN"), ("a2", "PRIVMSG"), ("r1", "REDACT")]);
    assert_eq!(entries[2].params, ["#a", "a1", "oops"]);
    assert!(entries.windows(2).all(|p| p[0].seq < p[1].seq));
    let messages = store
        .history_of("#a", &HistoryQuery::Latest(None), 10, Kinds::Messages)
        .expect("history")
        .expect("known target");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].msgid, "a2");
    // Its msgid is no anchor any more, and a second redaction finds nothing.
    assert_eq!(
        ask(store, "#a", HistoryQuery::Before(msgid("a1")), 10),
        None
    );
    assert_eq!(
        apply(store, redact("a1", redaction("#a", "r2", "a1"))),
        Err(Conflict::NotFound)
    );
    assert_eq!(store.history_count().expect("count"), 4);
    // Search no longer finds its words; the other channel's message is untouched.
    let search = |text: &str| {
        store
            .search(
                "",
                &["#a".to_owned(), "#b".to_owned()],
                &SearchQuery {
                    text: text.to_owned(),
                    after_ms: None,
                    before_ms: None,
                    limit: 10,
                },
            )
            .expect("search")
            .into_iter()
            .map(|e| e.msgid)
            .collect::<Vec<_>>()
    };
    assert_eq!(search("secreto"), ["b1"]);
    assert_eq!(search("numero"), Vec::<String>::new());
    assert_eq!(search("ocultar"), ["a2"]);
}
