//! Channel registrations: lists, access entries, drops, renames; batches and Unicode names.

use crate::common::{access, account, ban, channel, fingerprint, list_entry, message, topic};
use crate::{append_all, apply, ask, create, msgid, rename};
use charla_store::{AccessLevel, Conflict, HistoryQuery, Store, Write};

pub(crate) fn suite_channel_register_and_duplicate(store: &dyn Store) {
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

pub(crate) fn suite_channel_access_entries_are_one_per_account_in_key_order(store: &dyn Store) {
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

pub(crate) fn suite_channel_topic_modes_lists_access(store: &dyn Store) {
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

pub(crate) fn suite_channel_drop(store: &dyn Store) {
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

pub(crate) fn suite_batch_outcomes_are_per_write_and_in_order(store: &dyn Store) {
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

pub(crate) fn suite_unicode_names(store: &dyn Store) {
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

pub(crate) fn suite_rename_channel_moves_registration_history_and_markers(store: &dyn Store) {
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
