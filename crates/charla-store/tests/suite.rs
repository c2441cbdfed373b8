//! The `Store` contract, written once and run against every implementation.
//!
//! Each `suite_*` function takes a fresh, empty `&dyn Store`; the `suite!` macro at the bottom
//! runs each of them against `MemoryStore` and against a `SqliteStore` in a temporary directory.
//! A new implementation (PostgreSQL) adds one module to the macro.

mod common;

use charla_store::{AccessLevel, Conflict, SqliteStore, Store, Write};
use common::{access, account, ban, channel, fingerprint, list_entry, scram, topic};

/// Applies one write and returns its outcome.
fn apply(store: &dyn Store, write: Write) -> Result<(), Conflict> {
    let mut outcomes = store.apply(&[write]).expect("apply");
    assert_eq!(outcomes.len(), 1);
    outcomes.remove(0)
}

fn create(store: &dyn Store, name: &str) {
    assert_eq!(apply(store, Write::CreateAccount(account(name))), Ok(()));
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
    // Only the backup is left in the directory: no partial files.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|entry| entry.expect("entry").file_name())
        .filter(|name| !name.to_string_lossy().starts_with("backup.db"))
        .collect();
    assert!(names.is_empty(), "left over: {names:?}");
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
);
