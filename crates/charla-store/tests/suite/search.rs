//! Full-text search of messages.

use crate::common::message;
use crate::{append_all, apply};
use charla_store::{HistoryRecord, SearchQuery, Store, TargetKind, Write};

pub(crate) fn suite_search_finds_words_without_case_or_accents(store: &dyn Store) {
    let said = |target: &str, msgid: &str, time_ms: i64, text: &str| HistoryRecord {
        params: vec![target.to_owned(), text.to_owned()],
        ..message(target, msgid, time_ms)
    };
    append_all(
        store,
        [
            said("#a", "a1", 1000, "¿Qué tal, ÑANDÚ?"),
            said("#a", "a2", 2000, "que tal el partido"),
            said("#b", "b1", 3000, "qué calor hace"),
            HistoryRecord {
                command: "JOIN".to_owned(),
                params: vec!["#a".to_owned()],
                ..message("#a", "j1", 3500)
            },
            said("ana bob", "d1", 4000, "nos vemos, que te vaya bien"),
            said("#a", "a3", 5000, "quedamos mañana"),
        ],
    );
    assert_eq!(
        apply(
            store,
            Write::Converse {
                owner: "ana".to_owned(),
                peer: "bob".to_owned(),
                target: "ana bob".to_owned(),
                time_ms: 4000,
            }
        ),
        Ok(())
    );
    let find = |owner: &str, targets: &[&str], text: &str, limit: usize| -> Vec<String> {
        let targets: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
        let query = SearchQuery {
            text: text.to_owned(),
            after_ms: None,
            before_ms: None,
            limit,
        };
        store
            .search(owner, &targets, &query)
            .expect("search")
            .into_iter()
            .map(|e| e.msgid)
            .collect()
    };
    // Whole words, any case, any accent; only in the conversations asked.
    assert_eq!(find("", &["#a"], "QUE", 10), ["a1", "a2"]);
    assert_eq!(find("", &["#a", "#b"], "que", 10), ["a1", "a2", "b1"]);
    assert_eq!(find("", &["#a"], "nandu", 10), ["a1"]);
    assert_eq!(find("", &["#a"], "tal que", 10), ["a1", "a2"]);
    assert_eq!(find("", &["#a"], "qu", 10), Vec::<String>::new());
    // The owner's private conversations join in.
    assert_eq!(find("ana", &["#a"], "que", 10), ["a1", "a2", "d1"]);
    assert_eq!(find("bob", &[], "que", 10), Vec::<String>::new());
    // The newest matches, up to the limit, oldest first.
    assert_eq!(find("ana", &["#a", "#b"], "que", 2), ["b1", "d1"]);
    // Time bounds are exclusive; FTS syntax in the text is just words.
    let query = SearchQuery {
        text: "que".to_owned(),
        after_ms: Some(1000),
        before_ms: Some(3000),
        limit: 10,
    };
    let got: Vec<String> = store
        .search("", &["#a".to_owned(), "#b".to_owned()], &query)
        .expect("search")
        .into_iter()
        .map(|e| e.msgid)
        .collect();
    assert_eq!(got, ["a2"]);
    assert_eq!(find("", &["#a"], "\"tal\" (que*", 10), ["a1", "a2"]);
    assert_eq!(find("", &["#a"], "  ¿? ", 10), Vec::<String>::new());
    // Pruned messages are no longer found.
    let prune = Write::PruneHistory {
        target: Some("#a".to_owned()),
        kind: TargetKind::All,
        except: Vec::new(),
        before_ms: Some(1500),
        keep_last: None,
    };
    assert_eq!(apply(store, prune), Ok(()));
    assert_eq!(find("", &["#a"], "que", 10), ["a2"]);
}
