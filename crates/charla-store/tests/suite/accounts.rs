//! Accounts, their certificates, presences and metadata, and what dropping one takes with it.

use crate::common::{account, channel, fingerprint, message, scram};
use crate::{apply, create, rename};
use charla_store::{AccessLevel, Conflict, PresenceRecord, Store, Write};

pub(crate) fn suite_account_create_duplicate_and_lookup(store: &dyn Store) {
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

pub(crate) fn suite_account_password_and_verification(store: &dyn Store) {
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

pub(crate) fn suite_account_drop_cascades(store: &dyn Store) {
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

pub(crate) fn suite_certs_unique_and_lookup(store: &dyn Store) {
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

pub(crate) fn suite_presences_are_kept_replaced_forgotten_and_dropped_with_the_account(
    store: &dyn Store,
) {
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
        vec![alice.clone(), presence("bob", "bob", &[])]
    );
    assert_eq!(store.presence("alice").expect("read"), Some(alice));
    assert_eq!(store.presence("nobody").expect("read"), None);
    // Replaced, forgotten.
    let moved = presence("alice", "Ali", &["#b"]);
    assert_eq!(set("alice", Some(moved.clone())), Ok(()));
    assert_eq!(set("bob", None), Ok(()));
    assert_eq!(store.presences().expect("read"), vec![moved.clone()]);
    assert_eq!(store.presence("alice").expect("read"), Some(moved));
    assert_eq!(store.presence("bob").expect("read"), None);
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

pub(crate) fn suite_drop_account_takes_its_conversations_and_read_markers(store: &dyn Store) {
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

pub(crate) fn suite_metadata_is_kept_replaced_removed_and_dropped_with_its_owner(
    store: &dyn Store,
) {
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
