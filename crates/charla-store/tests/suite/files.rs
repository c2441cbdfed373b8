//! The file host's records.

use crate::{apply, file};
use charla_store::{Conflict, Store, Write};

pub(crate) fn suite_files_are_recorded_listed_summed_and_deleted(store: &dyn Store) {
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

pub(crate) fn suite_file_names_and_types_keep_unicode(store: &dyn Store) {
    let mut record = file("f", "zoë", "dd", 7, 1);
    record.name = "Фото «отпуск» 🏖.png".to_owned();
    record.content_type = "image/png".to_owned();
    assert_eq!(apply(store, Write::AddFile(record.clone())), Ok(()));
    assert_eq!(store.file("f").expect("file"), Some(record.clone()));
    assert_eq!(store.files_of("zoë").expect("files"), [record]);
}
