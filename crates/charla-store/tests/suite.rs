//! The `Store` contract, written once and run against every implementation.
//!
//! Each `suite_*` function takes a fresh, empty `&dyn Store`; the `suite!` macro at the bottom
//! runs each of them against `MemoryStore` and against a `SqliteStore` in a temporary directory.
//! A new implementation (PostgreSQL) adds one module to the macro.

mod common;

use charla_store::{
    AccessLevel, Anchor, Conflict, FileRecord, HistoryQuery, HistoryRecord, Kinds, PresenceRecord,
    SearchQuery, SqliteStore, Store, TargetKind, TargetRecord, Write,
};
use common::{access, account, ban, channel, fingerprint, list_entry, message, scram, topic};

/// Applies one write and returns its outcome.
fn apply(store: &dyn Store, write: Write) -> Result<(), Conflict> {
    let mut outcomes = store.apply(&[write]).expect("apply");
    assert_eq!(outcomes.len(), 1);
    outcomes.remove(0)
}

fn create(store: &dyn Store, name: &str) {
    assert_eq!(apply(store, Write::CreateAccount(account(name))), Ok(()));
}

/// Appends the records in one `apply`, each of which must succeed.
fn append_all(store: &dyn Store, records: impl IntoIterator<Item = HistoryRecord>) {
    let writes: Vec<_> = records.into_iter().map(Write::Append).collect();
    let outcomes = store.apply(&writes).expect("apply");
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
}

/// The msgids a query returns, or `None`.
fn ask(store: &dyn Store, target: &str, query: HistoryQuery, limit: usize) -> Option<Vec<String>> {
    let entries = store.history(target, &query, limit).expect("history")?;
    assert!(
        entries.windows(2).all(|pair| pair[0].seq < pair[1].seq),
        "ascending seq: {entries:?}"
    );
    assert!(entries.iter().all(|entry| entry.target == target));
    Some(entries.into_iter().map(|entry| entry.msgid).collect())
}

/// `["m3", "m4", ...]` for `ids(3..=4)`.
fn ids(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

fn msgid(id: &str) -> Anchor {
    Anchor::Msgid(id.to_owned())
}

fn suite_account_create_duplicate_and_lookup(store: &dyn Store) {
    assert_eq!(store.account_count().expect("count"), 0);
    assert_eq!(store.account("alice").expect("read"), None);

    create(store, "Alice");
    assert_eq!(
        store.account("alice").expect("read"),
        Some(account("Alice"))
    );
    assert_eq!(store.account_count().expect("count"), 1);

    // The key is taken, whatever the name as typed.
    let mut again = account("ALICE");
    again.password_hash = "other".to_owned();
    assert_eq!(
        apply(store, Write::CreateAccount(again)),
        Err(Conflict::Exists)
    );
    assert_eq!(
        store.account("alice").expect("read"),
        Some(account("Alice"))
    );

    // Keys are compared exactly: folding is the caller's job.
    assert_eq!(store.account("Alice").expect("read"), None);
    assert_eq!(store.account("alice ").expect("read"), None);
    assert_eq!(store.account_count().expect("count"), 1);
}

fn suite_account_password_and_verification(store: &dyn Store) {
    create(store, "alice");
    assert_eq!(
        apply(
            store,
            Write::SetPassword {
                account: "alice".to_owned(),
                password_hash: "$argon2id$new".to_owned(),
                scram: Some(scram(7)),
            }
        ),
        Ok(())
    );
    let alice = store.account("alice").expect("read").expect("alice");
    assert_eq!(alice.password_hash, "$argon2id$new");
    assert_eq!(alice.scram, Some(scram(7)));

    // Removing the SCRAM credentials.
    assert_eq!(
        apply(
            store,
            Write::SetPassword {
                account: "alice".to_owned(),
                password_hash: "$argon2id$newer".to_owned(),
                scram: None,
            }
        ),
        Ok(())
    );
    let alice = store.account("alice").expect("read").expect("alice");
    assert_eq!(alice.scram, None);
    assert!(!alice.verified);

    assert_eq!(
        apply(
            store,
            Write::SetVerified {
                account: "alice".to_owned()
            }
        ),
        Ok(())
    );
    assert!(
        store
            .account("alice")
            .expect("read")
            .expect("alice")
            .verified
    );
    // Verifying twice is fine.
    assert_eq!(
        apply(
            store,
            Write::SetVerified {
                account: "alice".to_owned()
            }
        ),
        Ok(())
    );

    // The always-on choice: none at first, then kept, then back to the server's default.
    let always_on = |store: &dyn Store| {
        store
            .account("alice")
            .expect("read")
            .expect("alice")
            .always_on
    };
    assert_eq!(always_on(store), None);
    for value in [Some(true), Some(false), None] {
        let write = Write::SetAlwaysOn {
            account: "alice".to_owned(),
            value,
        };
        assert_eq!(apply(store, write), Ok(()));
        assert_eq!(always_on(store), value);
    }
    let nobody = Write::SetAlwaysOn {
        account: "nobody".to_owned(),
        value: Some(true),
    };
    assert_eq!(apply(store, nobody), Err(Conflict::NotFound));

    assert_eq!(
        apply(
            store,
            Write::SetPassword {
                account: "nobody".to_owned(),
                password_hash: "x".to_owned(),
                scram: None,
            }
        ),
        Err(Conflict::NotFound)
    );
    assert_eq!(
        apply(
            store,
            Write::SetVerified {
                account: "nobody".to_owned()
            }
        ),
        Err(Conflict::NotFound)
    );
}

fn suite_account_drop_cascades(store: &dyn Store) {
    create(store, "alice");
    create(store, "bob");
    let writes = [
        Write::AddCert {
            account: "alice".to_owned(),
            fingerprint: fingerprint(1),
        },
        Write::AddCert {
            account: "bob".to_owned(),
            fingerprint: fingerprint(2),
        },
        Write::RegisterChannel(channel("#alices", "alice")),
        Write::RegisterChannel(channel("#bobs", "bob")),
        Write::SetAccess {
            channel: "#bobs".to_owned(),
            account: "alice".to_owned(),
            level: Some(AccessLevel::Op),
        },
    ];
    assert!(
        store
            .apply(&writes)
            .expect("apply")
            .iter()
            .all(Result::is_ok)
    );

    assert_eq!(
        apply(
            store,
            Write::DropAccount {
                account: "alice".to_owned()
            }
        ),
        Ok(())
    );
    assert_eq!(store.account("alice").expect("read"), None);
    assert_eq!(store.account_by_cert(&fingerprint(1)).expect("read"), None);
    assert!(store.certs("alice").expect("read").is_empty());
    assert_eq!(store.channel("#alices").expect("read"), None);
    assert!(store.channels_of("alice").expect("read").is_empty());
    let bobs = store.channel("#bobs").expect("read").expect("#bobs");
    assert!(bobs.access.is_empty(), "alice's access entry went with her");

    // Bob is untouched.
    assert_eq!(store.account("bob").expect("read"), Some(account("bob")));
    assert_eq!(store.certs("bob").expect("read"), vec![fingerprint(2)]);
    assert_eq!(store.channels_of("bob").expect("read"), vec!["#bobs"]);
    assert_eq!(store.account_count().expect("count"), 1);

    assert_eq!(
        apply(
            store,
            Write::DropAccount {
                account: "alice".to_owned()
            }
        ),
        Err(Conflict::NotFound)
    );
    // The name and the fingerprint are free again.
    create(store, "alice");
    assert_eq!(
        apply(
            store,
            Write::AddCert {
                account: "alice".to_owned(),
                fingerprint: fingerprint(1),
            }
        ),
        Ok(())
    );
}

fn suite_certs_unique_and_lookup(store: &dyn Store) {
    create(store, "alice");
    create(store, "bob");
    let add = |account: &str, seed: u8| {
        apply(
            store,
            Write::AddCert {
                account: account.to_owned(),
                fingerprint: fingerprint(seed),
            },
        )
    };
    assert_eq!(add("alice", 0xb0), Ok(()));
    assert_eq!(add("alice", 0xa0), Ok(()));
    // A fingerprint belongs to one account at most, and is not added twice.
    assert_eq!(add("bob", 0xa0), Err(Conflict::Exists));
    assert_eq!(add("alice", 0xa0), Err(Conflict::Exists));
    assert_eq!(add("nobody", 0xc0), Err(Conflict::NotFound));

    assert_eq!(
        store.account_by_cert(&fingerprint(0xa0)).expect("read"),
        Some(account("alice"))
    );
    assert_eq!(
        store.account_by_cert(&fingerprint(0xc0)).expect("read"),
        None
    );
    // Byte order, not insertion order.
    assert_eq!(
        store.certs("alice").expect("read"),
        vec![fingerprint(0xa0), fingerprint(0xb0)]
    );
    assert!(store.certs("bob").expect("read").is_empty());
    assert!(store.certs("nobody").expect("read").is_empty());

    let del = |account: &str, seed: u8| {
        apply(
            store,
            Write::DelCert {
                account: account.to_owned(),
                fingerprint: fingerprint(seed),
            },
        )
    };
    assert_eq!(del("bob", 0xa0), Err(Conflict::NotFound), "not bob's");
    assert_eq!(del("alice", 0xa0), Ok(()));
    assert_eq!(del("alice", 0xa0), Err(Conflict::NotFound));
    assert_eq!(add("bob", 0xa0), Ok(()));
    assert_eq!(
        store.account_by_cert(&fingerprint(0xa0)).expect("read"),
        Some(account("bob"))
    );
}

fn suite_channel_register_and_duplicate(store: &dyn Store) {
    create(store, "alice");
    create(store, "bob");
    let mut rust = channel("#Rust", "alice");
    rust.topic = Some(topic("Welcome", "alice"));
    rust.mode_key = Some("sesame".to_owned());
    rust.mode_limit = Some(50);
    rust.lists = vec![
        ban("*!*@spam.example"),
        list_entry('I', "*!*@friends.example"),
    ];
    rust.access = vec![access("bob", AccessLevel::Voice)];
    assert_eq!(apply(store, Write::RegisterChannel(rust.clone())), Ok(()));
    assert_eq!(store.channel("#rust").expect("read"), Some(rust.clone()));
    assert_eq!(
        store.channel("#Rust").expect("read"),
        None,
        "keys are exact"
    );

    let mut other = channel("#RUST", "bob");
    other.key = "#rust".to_owned();
    assert_eq!(
        apply(store, Write::RegisterChannel(other)),
        Err(Conflict::Exists)
    );
    assert_eq!(
        apply(store, Write::RegisterChannel(channel("#orphan", "nobody"))),
        Err(Conflict::NotFound),
        "the founder must have an account"
    );
    // An access entry for an unknown account refuses the whole registration.
    let mut half = channel("#half", "alice");
    half.lists = vec![ban("*!*@x")];
    half.access = vec![
        access("bob", AccessLevel::Op),
        access("nobody", AccessLevel::Op),
    ];
    assert_eq!(
        apply(store, Write::RegisterChannel(half)),
        Err(Conflict::NotFound)
    );
    assert_eq!(store.channel("#half").expect("read"), None);
    assert_eq!(
        apply(store, Write::RegisterChannel(channel("#half", "alice"))),
        Ok(())
    );
    assert_eq!(
        store.channel("#half").expect("read"),
        Some(channel("#half", "alice"))
    );

    assert_eq!(
        apply(store, Write::RegisterChannel(channel("#bob", "bob"))),
        Ok(())
    );
    let keys: Vec<_> = store
        .channels()
        .expect("read")
        .into_iter()
        .map(|channel| channel.key)
        .collect();
    assert_eq!(keys, vec!["#bob", "#half", "#rust"]);
    assert_eq!(store.channels().expect("read")[2], rust);
    assert_eq!(
        store.channels_of("alice").expect("read"),
        vec!["#half", "#rust"]
    );
    assert_eq!(store.channels_of("bob").expect("read"), vec!["#bob"]);
    assert!(store.channels_of("nobody").expect("read").is_empty());
}

fn suite_channel_access_entries_are_one_per_account_in_key_order(store: &dyn Store) {
    for name in ["alice", "bob", "carol"] {
        create(store, name);
    }
    let mut chan = channel("#c", "alice");
    chan.access = vec![
        access("carol", AccessLevel::Voice),
        access("bob", AccessLevel::Voice),
        access("carol", AccessLevel::Op),
    ];
    assert_eq!(apply(store, Write::RegisterChannel(chan)), Ok(()));
    assert_eq!(
        store.channel("#c").expect("read").expect("#c").access,
        vec![
            access("bob", AccessLevel::Voice),
            access("carol", AccessLevel::Op)
        ],
        "the last entry for an account wins"
    );
}

fn suite_channel_topic_modes_lists_access(store: &dyn Store) {
    create(store, "alice");
    create(store, "bob");
    assert_eq!(
        apply(store, Write::RegisterChannel(channel("#c", "alice"))),
        Ok(())
    );
    let read = || store.channel("#c").expect("read").expect("#c");

    let set_topic = |topic| {
        apply(
            store,
            Write::SetTopic {
                channel: "#c".to_owned(),
                topic,
            },
        )
    };
    assert_eq!(set_topic(Some(topic("first", "alice"))), Ok(()));
    assert_eq!(read().topic, Some(topic("first", "alice")));
    assert_eq!(set_topic(Some(topic("second", "bob!b@host"))), Ok(()));
    assert_eq!(read().topic, Some(topic("second", "bob!b@host")));
    assert_eq!(set_topic(None), Ok(()));
    assert_eq!(read().topic, None);

    assert_eq!(
        apply(
            store,
            Write::SetModes {
                channel: "#c".to_owned(),
                modes: "imnst".to_owned(),
                key: Some("k3y".to_owned()),
                limit: Some(u32::MAX),
            }
        ),
        Ok(())
    );
    let chan = read();
    assert_eq!(
        (
            chan.modes.as_str(),
            chan.mode_key.as_deref(),
            chan.mode_limit
        ),
        ("imnst", Some("k3y"), Some(u32::MAX))
    );
    assert_eq!(
        apply(
            store,
            Write::SetModes {
                channel: "#c".to_owned(),
                modes: String::new(),
                key: None,
                limit: None,
            }
        ),
        Ok(())
    );
    let chan = read();
    assert_eq!(
        (chan.modes.as_str(), chan.mode_key, chan.mode_limit),
        ("", None, None)
    );

    // Lists keep the order given, and a SetLists replaces them all.
    let lists = vec![
        ban("z!*@*"),
        list_entry('e', "friend!*@*"),
        ban("a!*@*"),
        list_entry('I', "*!*@invited"),
    ];
    let set_lists = |lists: Vec<_>| {
        apply(
            store,
            Write::SetLists {
                channel: "#c".to_owned(),
                lists,
            },
        )
    };
    assert_eq!(set_lists(lists.clone()), Ok(()));
    assert_eq!(read().lists, lists);
    assert_eq!(set_lists(vec![ban("only!*@*")]), Ok(()));
    assert_eq!(read().lists, vec![ban("only!*@*")]);
    assert_eq!(set_lists(Vec::new()), Ok(()));
    assert!(read().lists.is_empty());

    let set_access = |account: &str, level| {
        apply(
            store,
            Write::SetAccess {
                channel: "#c".to_owned(),
                account: account.to_owned(),
                level,
            },
        )
    };
    assert_eq!(set_access("bob", Some(AccessLevel::Voice)), Ok(()));
    assert_eq!(set_access("alice", Some(AccessLevel::Op)), Ok(()));
    assert_eq!(
        read().access,
        vec![
            access("alice", AccessLevel::Op),
            access("bob", AccessLevel::Voice)
        ]
    );
    assert_eq!(set_access("bob", Some(AccessLevel::Op)), Ok(()));
    assert_eq!(read().access[1], access("bob", AccessLevel::Op));
    assert_eq!(
        set_access("nobody", Some(AccessLevel::Op)),
        Err(Conflict::NotFound)
    );
    assert_eq!(set_access("bob", None), Ok(()));
    assert_eq!(set_access("bob", None), Err(Conflict::NotFound));
    assert_eq!(read().access, vec![access("alice", AccessLevel::Op)]);

    // Every channel write names a registered channel.
    let missing = "#missing".to_owned();
    let writes = [
        Write::SetTopic {
            channel: missing.clone(),
            topic: Some(topic("t", "alice")),
        },
        Write::SetModes {
            channel: missing.clone(),
            modes: "n".to_owned(),
            key: None,
            limit: None,
        },
        Write::SetLists {
            channel: missing.clone(),
            lists: vec![ban("x!*@*")],
        },
        Write::SetAccess {
            channel: missing.clone(),
            account: "alice".to_owned(),
            level: Some(AccessLevel::Op),
        },
        Write::SetAccess {
            channel: missing.clone(),
            account: "alice".to_owned(),
            level: None,
        },
        Write::DropChannel { channel: missing },
    ];
    assert_eq!(
        store.apply(&writes).expect("apply"),
        vec![Err(Conflict::NotFound); writes.len()]
    );
}

fn suite_channel_drop(store: &dyn Store) {
    create(store, "alice");
    create(store, "bob");
    let mut chan = channel("#c", "alice");
    chan.topic = Some(topic("kept", "alice"));
    chan.lists = vec![ban("*!*@*")];
    chan.access = vec![access("bob", AccessLevel::Op)];
    assert_eq!(apply(store, Write::RegisterChannel(chan)), Ok(()));

    let drop = || {
        apply(
            store,
            Write::DropChannel {
                channel: "#c".to_owned(),
            },
        )
    };
    assert_eq!(drop(), Ok(()));
    assert_eq!(store.channel("#c").expect("read"), None);
    assert!(store.channels().expect("read").is_empty());
    assert_eq!(drop(), Err(Conflict::NotFound));
    // The founder's account stays; a new registration starts clean.
    assert!(store.account("alice").expect("read").is_some());
    assert_eq!(
        apply(store, Write::RegisterChannel(channel("#c", "bob"))),
        Ok(())
    );
    assert_eq!(
        store.channel("#c").expect("read"),
        Some(channel("#c", "bob"))
    );
}

fn suite_batch_outcomes_are_per_write_and_in_order(store: &dyn Store) {
    let writes = [
        Write::CreateAccount(account("alice")),
        Write::CreateAccount(account("alice")),
        Write::AddCert {
            account: "alice".to_owned(),
            fingerprint: fingerprint(1),
        },
        Write::SetTopic {
            channel: "#nowhere".to_owned(),
            topic: None,
        },
        // Sees the account created earlier in the same batch.
        Write::RegisterChannel(channel("#c", "alice")),
        Write::DropAccount {
            account: "ghost".to_owned(),
        },
        Write::CreateAccount(account("bob")),
        Write::DropAccount {
            account: "bob".to_owned(),
        },
        Write::AddCert {
            account: "bob".to_owned(),
            fingerprint: fingerprint(2),
        },
    ];
    assert_eq!(
        store.apply(&writes).expect("apply"),
        vec![
            Ok(()),
            Err(Conflict::Exists),
            Ok(()),
            Err(Conflict::NotFound),
            Ok(()),
            Err(Conflict::NotFound),
            Ok(()),
            Ok(()),
            Err(Conflict::NotFound),
        ]
    );
    // The conflicts undid nothing of the others.
    assert_eq!(
        store.account("alice").expect("read"),
        Some(account("alice"))
    );
    assert_eq!(store.certs("alice").expect("read"), vec![fingerprint(1)]);
    assert_eq!(
        store.channel("#c").expect("read"),
        Some(channel("#c", "alice"))
    );
    assert_eq!(store.account("bob").expect("read"), None);
    assert_eq!(store.account_count().expect("count"), 1);

    assert!(store.apply(&[]).expect("empty batch").is_empty());
}

fn suite_unicode_names(store: &dyn Store) {
    let mut nandu = account("Ñandú");
    nandu.key = "ñandú".to_owned();
    assert_eq!(apply(store, Write::CreateAccount(nandu.clone())), Ok(()));
    assert_eq!(store.account("ñandú").expect("read"), Some(nandu.clone()));
    // Another normalisation of the same letters is another key: the caller normalises.
    assert_eq!(store.account("n\u{303}andu\u{301}").expect("read"), None);
    assert_eq!(store.account("Ñandú").expect("read"), None);

    let mut cancion = channel("#Canción", "ñandú");
    cancion.key = "#canción".to_owned();
    cancion.topic = Some(topic("¡Olé! 🎶 «canta»", "ñandú"));
    cancion.lists = vec![ban("*!*@*.españa.example")];
    cancion.mode_key = Some("contraseña".to_owned());
    assert_eq!(
        apply(store, Write::RegisterChannel(cancion.clone())),
        Ok(())
    );
    assert_eq!(store.channel("#canción").expect("read"), Some(cancion));
    assert_eq!(store.channels_of("ñandú").expect("read"), vec!["#canción"]);
    assert_eq!(
        apply(
            store,
            Write::AddCert {
                account: "ñandú".to_owned(),
                fingerprint: fingerprint(9),
            }
        ),
        Ok(())
    );
    assert_eq!(
        store.account_by_cert(&fingerprint(9)).expect("read"),
        Some(nandu)
    );
}

fn suite_backup_holds_the_data(store: &dyn Store) {
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

/// `#c` holds m1..m10 at times 1000..10000; `#other` holds o1..o3 between them, so that `#c`'s
/// seqs are not consecutive.
fn fill_history(store: &dyn Store) {
    let mut records = Vec::new();
    for i in 1..=10 {
        records.push(message("#c", &format!("m{i}"), i64::from(i) * 1000));
        if i % 3 == 0 {
            records.push(message(
                "#other",
                &format!("o{}", i / 3),
                i64::from(i) * 1000,
            ));
        }
    }
    append_all(store, records);
}

fn suite_history_append_assigns_increasing_seqs(store: &dyn Store) {
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

fn suite_search_finds_words_without_case_or_accents(store: &dyn Store) {
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

fn suite_history_of_messages_skips_events_before_the_limit(store: &dyn Store) {
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

fn suite_history_queries_with_msgid_anchors(store: &dyn Store) {
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

fn suite_history_queries_with_time_anchors(store: &dyn Store) {
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

fn suite_history_limit_zero_unknown_anchors_and_empty_targets(store: &dyn Store) {
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

fn suite_history_duplicate_msgid_and_round_trip(store: &dyn Store) {
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

fn suite_history_targets_lists_active_conversations(store: &dyn Store) {
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

fn suite_read_markers_only_move_forward(store: &dyn Store) {
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

fn suite_prune_by_count_counts_messages_not_events(store: &dyn Store) {
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

fn suite_prune_history(store: &dyn Store) {
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

fn suite_times_never_go_back_along_seq_so_paging_skips_nothing(store: &dyn Store) {
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

fn suite_prune_by_kind_leaves_the_exceptions_alone(store: &dyn Store) {
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

fn suite_presences_are_kept_replaced_forgotten_and_dropped_with_the_account(store: &dyn Store) {
    create(store, "alice");
    create(store, "bob");
    let presence = |account: &str, nick: &str, channels: &[&str]| PresenceRecord {
        account: account.to_owned(),
        nick: nick.to_owned(),
        user: account.to_owned(),
        host: "203.0.113.9".to_owned(),
        realname: "Alicia Ñúñez".to_owned(),
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
    };
    let set = |account: &str, presence: Option<PresenceRecord>| {
        apply(
            store,
            Write::SetPresence {
                account: account.to_owned(),
                presence,
            },
        )
    };
    assert_eq!(store.presences().expect("read"), vec![]);
    let alice = presence("alice", "Alicia", &["#a", "#Ñ"]);
    assert_eq!(set("alice", Some(alice.clone())), Ok(()));
    assert_eq!(set("bob", Some(presence("bob", "bob", &[]))), Ok(()));
    // An account that does not exist keeps nothing, and the batch is not spoilt.
    assert_eq!(
        set("nobody", Some(presence("nobody", "x", &["#a"]))),
        Ok(())
    );
    assert_eq!(
        store.presences().expect("read"),
        vec![alice, presence("bob", "bob", &[])]
    );
    // Replaced, forgotten.
    let moved = presence("alice", "Ali", &["#b"]);
    assert_eq!(set("alice", Some(moved.clone())), Ok(()));
    assert_eq!(set("bob", None), Ok(()));
    assert_eq!(store.presences().expect("read"), vec![moved]);
    // Dropped with the account.
    assert_eq!(
        apply(
            store,
            Write::DropAccount {
                account: "alice".to_owned()
            }
        ),
        Ok(())
    );
    assert_eq!(store.presences().expect("read"), vec![]);
}

fn suite_drop_account_takes_its_conversations_and_read_markers(store: &dyn Store) {
    create(store, "alice");
    create(store, "bob");
    let writes = [
        Write::Converse {
            owner: "alice".to_owned(),
            peer: "bob".to_owned(),
            target: "pm:alice:bob".to_owned(),
            time_ms: 1000,
        },
        Write::Converse {
            owner: "bob".to_owned(),
            peer: "alice".to_owned(),
            target: "pm:alice:bob".to_owned(),
            time_ms: 1000,
        },
        Write::SetReadMarker {
            account: "alice".to_owned(),
            target: "#c".to_owned(),
            time_ms: 1000,
        },
        Write::SetReadMarker {
            account: "bob".to_owned(),
            target: "#c".to_owned(),
            time_ms: 1000,
        },
        Write::Append(message("pm:alice:bob", "p1", 1000)),
    ];
    assert!(
        store
            .apply(&writes)
            .expect("apply")
            .iter()
            .all(Result::is_ok)
    );
    assert_eq!(
        apply(
            store,
            Write::DropAccount {
                account: "alice".to_owned()
            }
        ),
        Ok(())
    );
    assert_eq!(store.read_marker("alice", "#c").expect("marker"), None);
    assert!(
        store
            .history_targets("alice", &[], 0, 5000, 10)
            .expect("targets")
            .is_empty()
    );
    // Bob's are his; the history itself stays (the caller prunes it).
    assert_eq!(store.read_marker("bob", "#c").expect("marker"), Some(1000));
    assert_eq!(
        store
            .history_targets("bob", &[], 0, 5000, 10)
            .expect("targets")
            .len(),
        1
    );
    assert_eq!(store.history_count().expect("count"), 1);
}

fn suite_metadata_is_kept_replaced_removed_and_dropped_with_its_owner(store: &dyn Store) {
    create(store, "alice");
    create(store, "bob");
    assert_eq!(
        apply(store, Write::RegisterChannel(channel("#c", "alice"))),
        Ok(())
    );
    let set = |target: &str, key: &str, value: Option<&str>| {
        apply(
            store,
            Write::SetMetadata {
                target: target.to_owned(),
                key: key.to_owned(),
                value: value.map(str::to_owned),
            },
        )
    };
    let get = |target: &str| store.metadata(target).expect("metadata");
    assert!(get("a:alice").is_empty());
    assert_eq!(set("a:alice", "display-name", Some("Alicia 🌻")), Ok(()));
    assert_eq!(
        set("a:alice", "avatar", Some("https://a.example/a.png")),
        Ok(())
    );
    assert_eq!(set("a:bob", "display-name", Some("Roberto")), Ok(()));
    assert_eq!(set("c:#c", "url", Some("https://c.example")), Ok(()));
    // Ordered by key; a second value replaces the first; removing a missing key is fine.
    assert_eq!(set("a:alice", "display-name", Some("Alicia")), Ok(()));
    assert_eq!(set("a:alice", "nothing", None), Ok(()));
    assert_eq!(
        get("a:alice"),
        vec![
            ("avatar".to_owned(), "https://a.example/a.png".to_owned()),
            ("display-name".to_owned(), "Alicia".to_owned()),
        ]
    );
    assert_eq!(set("a:alice", "avatar", None), Ok(()));
    assert_eq!(get("a:alice").len(), 1);
    // Dropping the account takes its metadata and that of the channels it founded.
    assert_eq!(
        apply(
            store,
            Write::DropAccount {
                account: "alice".to_owned()
            }
        ),
        Ok(())
    );
    assert!(get("a:alice").is_empty());
    assert!(get("c:#c").is_empty());
    assert_eq!(get("a:bob").len(), 1);
    // Dropping a channel takes its metadata.
    assert_eq!(
        apply(store, Write::RegisterChannel(channel("#d", "bob"))),
        Ok(())
    );
    assert_eq!(set("c:#d", "url", Some("https://d.example")), Ok(()));
    assert_eq!(
        apply(
            store,
            Write::DropChannel {
                channel: "#d".to_owned()
            }
        ),
        Ok(())
    );
    assert!(get("c:#d").is_empty());
    // A renamed registered channel keeps its metadata under its new key.
    assert_eq!(
        apply(store, Write::RegisterChannel(channel("#e", "bob"))),
        Ok(())
    );
    assert_eq!(set("c:#e", "url", Some("https://e.example")), Ok(()));
    assert_eq!(apply(store, rename("#e", "#f", "#F")), Ok(()));
    assert!(get("c:#e").is_empty());
    assert_eq!(
        get("c:#f"),
        vec![("url".to_owned(), "https://e.example".to_owned())]
    );
}

fn suite_redact_deletes_the_message_and_keeps_the_redaction(store: &dyn Store) {
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

fn rename(from: &str, to: &str, name: &str) -> Write {
    Write::RenameChannel {
        from: from.to_owned(),
        to: to.to_owned(),
        name: name.to_owned(),
    }
}

fn suite_rename_channel_moves_registration_history_and_markers(store: &dyn Store) {
    create(store, "alice");
    create(store, "bob");
    let mut old = channel("#Old", "alice");
    old.topic = Some(topic("Welcome", "alice"));
    old.mode_key = Some("sesame".to_owned());
    old.lists = vec![
        ban("*!*@spam.example"),
        list_entry('I', "*!*@friends.example"),
    ];
    old.access = vec![access("bob", AccessLevel::Voice)];
    assert_eq!(apply(store, Write::RegisterChannel(old.clone())), Ok(()));
    // An earlier channel called #new left history behind; #old's is merged with it in order.
    append_all(
        store,
        [
            message("#new", "n1", 500),
            message("#old", "m1", 1000),
            message("#old", "m2", 2000),
            message("#other", "o1", 2500),
        ],
    );
    for (account, target, time_ms) in [
        ("alice", "#old", 2000),
        ("bob", "#old", 1000),
        ("bob", "#new", 1500),
    ] {
        let marker = Write::SetReadMarker {
            account: account.to_owned(),
            target: target.to_owned(),
            time_ms,
        };
        assert_eq!(apply(store, marker), Ok(()));
    }

    assert_eq!(apply(store, rename("#old", "#new", "#New")), Ok(()));
    assert_eq!(store.channel("#old").expect("read"), None);
    let mut moved = old.clone();
    moved.key = "#new".to_owned();
    moved.name = "#New".to_owned();
    assert_eq!(store.channel("#new").expect("read"), Some(moved.clone()));
    assert_eq!(store.channels_of("alice").expect("read"), vec!["#new"]);
    assert_eq!(
        ask(store, "#new", HistoryQuery::Latest(None), 10),
        Some(vec!["n1".to_owned(), "m1".to_owned(), "m2".to_owned()])
    );
    assert_eq!(
        ask(store, "#old", HistoryQuery::Latest(None), 10),
        Some(vec![])
    );
    assert_eq!(
        ask(store, "#new", HistoryQuery::Before(msgid("m2")), 10),
        Some(vec!["n1".to_owned(), "m1".to_owned()]),
        "msgid anchors follow their entries"
    );
    assert_eq!(
        ask(store, "#other", HistoryQuery::Latest(None), 10),
        Some(vec!["o1".to_owned()])
    );
    let marker = |account, target| store.read_marker(account, target).expect("marker");
    assert_eq!(marker("alice", "#new"), Some(2000));
    assert_eq!(marker("bob", "#new"), Some(1500), "the later marker stays");
    assert_eq!(marker("alice", "#old"), None);
    assert_eq!(marker("bob", "#old"), None);

    // Entries appended under the old key meanwhile are swept by a second rename.
    append_all(store, [message("#old", "m3", 3000)]);
    assert_eq!(apply(store, rename("#old", "#new", "#New")), Ok(()));
    assert_eq!(store.channel("#new").expect("read"), Some(moved.clone()));
    assert_eq!(
        ask(store, "#new", HistoryQuery::Latest(Some(msgid("m1"))), 10),
        Some(vec!["m2".to_owned(), "m3".to_owned()])
    );

    // A change of case changes the name only.
    assert_eq!(apply(store, rename("#new", "#new", "#NEW")), Ok(()));
    moved.name = "#NEW".to_owned();
    assert_eq!(store.channel("#new").expect("read"), Some(moved.clone()));
    assert_eq!(
        ask(store, "#new", HistoryQuery::Latest(None), 10).map(|m| m.len()),
        Some(4)
    );

    // Onto another registered channel: refused, nothing moves.
    assert_eq!(
        apply(store, Write::RegisterChannel(channel("#taken", "bob"))),
        Ok(())
    );
    assert_eq!(
        apply(store, rename("#new", "#taken", "#taken")),
        Err(Conflict::Exists)
    );
    assert_eq!(store.channel("#new").expect("read"), Some(moved));
    assert_eq!(
        ask(store, "#new", HistoryQuery::Latest(None), 10).map(|m| m.len()),
        Some(4)
    );
    assert_eq!(marker("alice", "#new"), Some(2000));
    // The lists and access entries went with the registration, and dropping it takes them.
    assert_eq!(
        apply(
            store,
            Write::DropChannel {
                channel: "#new".to_owned()
            }
        ),
        Ok(())
    );
    assert_eq!(
        apply(store, rename("#new", "#taken", "#Taken")),
        Ok(()),
        "history only"
    );
    assert_eq!(
        store.channel("#taken").expect("read").map(|c| c.name),
        Some("#taken".to_owned())
    );
    assert_eq!(
        ask(store, "#taken", HistoryQuery::Latest(None), 10).map(|m| m.len()),
        Some(4)
    );
}

/// A file record; the hash stands for the bytes.
fn file(id: &str, owner: &str, sha256: &str, size: u64, created_ms: i64) -> FileRecord {
    FileRecord {
        id: id.to_owned(),
        owner: owner.to_owned(),
        name: format!("photo {id}.jpg"),
        content_type: "image/jpeg".to_owned(),
        size,
        sha256: sha256.to_owned(),
        created_ms,
    }
}

fn suite_files_are_recorded_listed_summed_and_deleted(store: &dyn Store) {
    assert_eq!(store.file("f1").expect("file"), None);
    assert_eq!(store.files_size("alice").expect("size"), 0);
    assert!(store.files_of("alice").expect("files").is_empty());
    assert!(!store.file_hash_used("aa").expect("used"));

    // The owner need not be an account: files outlive accounts.
    let f1 = file("f1", "alice", "aa", 100, 3000);
    let f2 = file("f2", "alice", "bb", 50, 1000);
    let f3 = file("f3", "bob", "aa", 100, 2000);
    let outcomes = store
        .apply(&[
            Write::AddFile(f1.clone()),
            Write::AddFile(f2.clone()),
            Write::AddFile(f3.clone()),
            // An id is never given twice.
            Write::AddFile(file("f1", "bob", "cc", 1, 1)),
        ])
        .expect("apply");
    assert_eq!(outcomes, [Ok(()), Ok(()), Ok(()), Err(Conflict::Exists)]);

    assert_eq!(store.file("f1").expect("file"), Some(f1.clone()));
    assert_eq!(
        store.files_of("alice").expect("files"),
        [f2.clone(), f1.clone()],
        "oldest first"
    );
    assert_eq!(store.files_size("alice").expect("size"), 150);
    assert_eq!(store.files_size("bob").expect("size"), 100);
    assert_eq!(
        store.files_before(2500, 10).expect("before"),
        [f2.clone(), f3.clone()]
    );
    assert_eq!(store.files_before(2500, 1).expect("before").len(), 1);
    assert_eq!(store.files_before(2500, 1).expect("before")[0], f2);
    assert!(store.files_before(1000, 10).expect("before").is_empty());

    // Two records share blob "aa": it stays needed until both are gone.
    let delete = |id: &str| Write::DeleteFile { id: id.to_owned() };
    assert_eq!(apply(store, delete("f1")), Ok(()));
    assert_eq!(apply(store, delete("f1")), Err(Conflict::NotFound));
    assert!(store.file_hash_used("aa").expect("used"));
    assert_eq!(apply(store, delete("f3")), Ok(()));
    assert!(!store.file_hash_used("aa").expect("used"));
    assert_eq!(store.file("f1").expect("file"), None);
    assert_eq!(store.files_of("alice").expect("files"), [f2]);
    assert_eq!(store.files_size("alice").expect("size"), 50);
}

fn suite_file_names_and_types_keep_unicode(store: &dyn Store) {
    let mut record = file("f", "zoë", "dd", 7, 1);
    record.name = "Фото «отпуск» 🏖.png".to_owned();
    record.content_type = "image/png".to_owned();
    assert_eq!(apply(store, Write::AddFile(record.clone())), Ok(()));
    assert_eq!(store.file("f").expect("file"), Some(record.clone()));
    assert_eq!(store.files_of("zoë").expect("files"), [record]);
}

/// Runs every suite function against every implementation, as its own test.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[test]
                fn $name() {
                    super::$name(&charla_store::MemoryStore::new());
                }
            )*
        }

        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let dir = tempfile::TempDir::new().expect("temp dir");
                    let store = charla_store::SqliteStore::open(&dir.path().join("charla.db"))
                        .expect("open");
                    super::$name(&store);
                }
            )*
        }
    };
}

suite!(
    suite_account_create_duplicate_and_lookup,
    suite_account_password_and_verification,
    suite_account_drop_cascades,
    suite_certs_unique_and_lookup,
    suite_channel_register_and_duplicate,
    suite_channel_access_entries_are_one_per_account_in_key_order,
    suite_channel_topic_modes_lists_access,
    suite_channel_drop,
    suite_batch_outcomes_are_per_write_and_in_order,
    suite_unicode_names,
    suite_backup_holds_the_data,
    suite_history_append_assigns_increasing_seqs,
    suite_history_queries_with_msgid_anchors,
    suite_history_queries_with_time_anchors,
    suite_history_limit_zero_unknown_anchors_and_empty_targets,
    suite_history_duplicate_msgid_and_round_trip,
    suite_history_targets_lists_active_conversations,
    suite_history_of_messages_skips_events_before_the_limit,
    suite_search_finds_words_without_case_or_accents,
    suite_read_markers_only_move_forward,
    suite_prune_history,
    suite_prune_by_kind_leaves_the_exceptions_alone,
    suite_times_never_go_back_along_seq_so_paging_skips_nothing,
    suite_presences_are_kept_replaced_forgotten_and_dropped_with_the_account,
    suite_prune_by_count_counts_messages_not_events,
    suite_drop_account_takes_its_conversations_and_read_markers,
    suite_metadata_is_kept_replaced_removed_and_dropped_with_its_owner,
    suite_redact_deletes_the_message_and_keeps_the_redaction,
    suite_rename_channel_moves_registration_history_and_markers,
    suite_files_are_recorded_listed_summed_and_deleted,
    suite_file_names_and_types_keep_unicode,
);
