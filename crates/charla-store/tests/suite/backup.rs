//! A backup: an SQLite copy that opens and holds the same records.

use crate::common::{account, ban, channel, fingerprint, message};
use crate::{create, file};
use charla_store::{HistoryQuery, SqliteStore, Store, Write};

pub(crate) fn suite_backup_holds_the_data(store: &dyn Store) {
    create(store, "alice");
    let mut chan = channel("#c", "alice");
    chan.lists = vec![ban("*!*@*")];
    let writes = [
        Write::AddCert {
            account: "alice".to_owned(),
            fingerprint: fingerprint(3),
        },
        Write::RegisterChannel(chan.clone()),
        Write::Append(message("#c", "m1", 1000)),
        Write::Append(message("#c", "m2", 2000)),
        Write::Converse {
            owner: "alice".to_owned(),
            peer: "Bob".to_owned(),
            target: "pm:alice:bob".to_owned(),
            time_ms: 3000,
        },
        Write::SetReadMarker {
            account: "alice".to_owned(),
            target: "#c".to_owned(),
            time_ms: 2000,
        },
        Write::AddFile(file("f1", "alice", "aa", 10, 4000)),
    ];
    assert!(
        store
            .apply(&writes)
            .expect("apply")
            .iter()
            .all(Result::is_ok)
    );

    let dir = tempfile::TempDir::new().expect("temp dir");
    let dest = dir.path().join("backup.db");
    store.backup(&dest).expect("backup");
    // A backup never replaces a file.
    assert!(store.backup(&dest).is_err());

    let copy = SqliteStore::open(&dest).expect("the backup opens");
    assert_eq!(copy.account("alice").expect("read"), Some(account("alice")));
    assert_eq!(
        copy.account_by_cert(&fingerprint(3)).expect("read"),
        Some(account("alice"))
    );
    assert_eq!(copy.channel("#c").expect("read"), Some(chan));
    let history = |store: &dyn Store| {
        let mut entries = store
            .history("#c", &HistoryQuery::Latest(None), 10)
            .expect("history")
            .expect("answer");
        // Each store numbers its own entries; the order is what must survive.
        entries.iter_mut().for_each(|entry| entry.seq = 0);
        entries
    };
    assert_eq!(history(&copy), history(store));
    assert_eq!(history(&copy).len(), 2);
    assert_eq!(copy.read_marker("alice", "#c").expect("marker"), Some(2000));
    assert_eq!(
        copy.file("f1").expect("file"),
        Some(file("f1", "alice", "aa", 10, 4000))
    );
    assert_eq!(
        copy.history_targets("alice", &["#c".to_owned()], 0, 5000, 10)
            .expect("targets"),
        store
            .history_targets("alice", &["#c".to_owned()], 0, 5000, 10)
            .expect("targets")
    );
    // Only the backup is left in the directory: no partial files.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|entry| entry.expect("entry").file_name())
        .filter(|name| !name.to_string_lossy().starts_with("backup.db"))
        .collect();
    assert!(names.is_empty(), "left over: {names:?}");
}
