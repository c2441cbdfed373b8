//! The `Store` contract, written once and run against every implementation.
//!
//! Each `suite_*` function takes a fresh, empty `&dyn Store`; the `suite!` macro at the bottom
//! runs each of them against `MemoryStore`, against a `SqliteStore` in a temporary directory,
//! and against a `PostgresStore` in a database of its own on the server that
//! `CHARLA_TEST_POSTGRES` names (see `charla_store::testing`: without it, those tests say they
//! skipped, or fail when `CHARLA_TEST_POSTGRES_REQUIRED=1`). A new implementation adds one
//! module to the macro.
//!
//! The functions live in one module per area: accounts, channels, history, retention, search,
//! files, backup; the helpers they share are here.

mod accounts;
mod backup;
mod channels;
#[path = "../common/mod.rs"]
mod common;
mod files;
mod history;
mod retention;
mod search;

use crate::common::{account, message};
use charla_store::{Anchor, Conflict, FileRecord, HistoryQuery, HistoryRecord, Store, Write};

/// Applies one write and returns its outcome.
pub(crate) fn apply(store: &dyn Store, write: Write) -> Result<(), Conflict> {
    let mut outcomes = store.apply(&[write]).expect("apply");
    assert_eq!(outcomes.len(), 1);
    outcomes.remove(0)
}

pub(crate) fn create(store: &dyn Store, name: &str) {
    assert_eq!(apply(store, Write::CreateAccount(account(name))), Ok(()));
}

/// Appends the records in one `apply`, each of which must succeed.
pub(crate) fn append_all(store: &dyn Store, records: impl IntoIterator<Item = HistoryRecord>) {
    let writes: Vec<_> = records.into_iter().map(Write::Append).collect();
    let outcomes = store.apply(&writes).expect("apply");
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
}

/// The msgids a query returns, or `None`.
pub(crate) fn ask(
    store: &dyn Store,
    target: &str,
    query: HistoryQuery,
    limit: usize,
) -> Option<Vec<String>> {
    let entries = store.history(target, &query, limit).expect("history")?;
    assert!(
        entries.windows(2).all(|pair| pair[0].seq < pair[1].seq),
        "ascending seq: {entries:?}"
    );
    assert!(entries.iter().all(|entry| entry.target == target));
    Some(entries.into_iter().map(|entry| entry.msgid).collect())
}

/// `["m3", "m4", ...]` for `ids(3..=4)`.
pub(crate) fn ids(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

pub(crate) fn msgid(id: &str) -> Anchor {
    Anchor::Msgid(id.to_owned())
}

/// `#c` holds m1..m10 at times 1000..10000; `#other` holds o1..o3 between them, so that `#c`'s
/// seqs are not consecutive.
pub(crate) fn fill_history(store: &dyn Store) {
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

pub(crate) fn rename(from: &str, to: &str, name: &str) -> Write {
    Write::RenameChannel {
        from: from.to_owned(),
        to: to.to_owned(),
        name: name.to_owned(),
    }
}

/// A file record; the hash stands for the bytes.
pub(crate) fn file(id: &str, owner: &str, sha256: &str, size: u64, created_ms: i64) -> FileRecord {
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

/// Runs every suite function against every implementation, as its own test.
macro_rules! suite {
    ($($module:ident::$name:ident),* $(,)?) => {
        mod memory {
            $(
                #[test]
                fn $name() {
                    crate::$module::$name(&charla_store::MemoryStore::new());
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
                    crate::$module::$name(&store);
                }
            )*
        }

        mod postgres {
            $(
                #[test]
                fn $name() {
                    let Some(database) = charla_store::testing::TestDatabase::create() else {
                        return;
                    };
                    let store = charla_store::PostgresStore::open(database.url()).expect("open");
                    crate::$module::$name(&store);
                }
            )*
        }
    };
}

suite!(
    accounts::suite_account_create_duplicate_and_lookup,
    accounts::suite_account_password_and_verification,
    accounts::suite_account_drop_cascades,
    accounts::suite_certs_unique_and_lookup,
    accounts::suite_presences_are_kept_replaced_forgotten_and_dropped_with_the_account,
    accounts::suite_drop_account_takes_its_conversations_and_read_markers,
    accounts::suite_metadata_is_kept_replaced_removed_and_dropped_with_its_owner,
    channels::suite_channel_register_and_duplicate,
    channels::suite_channel_access_entries_are_one_per_account_in_key_order,
    channels::suite_channel_topic_modes_lists_access,
    channels::suite_channel_drop,
    channels::suite_batch_outcomes_are_per_write_and_in_order,
    channels::suite_unicode_names,
    channels::suite_rename_channel_moves_registration_history_and_markers,
    history::suite_history_append_assigns_increasing_seqs,
    history::suite_history_of_messages_skips_events_before_the_limit,
    history::suite_history_queries_with_msgid_anchors,
    history::suite_history_queries_with_time_anchors,
    history::suite_history_limit_zero_unknown_anchors_and_empty_targets,
    history::suite_history_duplicate_msgid_and_round_trip,
    history::suite_history_targets_lists_active_conversations,
    history::suite_read_markers_only_move_forward,
    history::suite_times_never_go_back_along_seq_so_paging_skips_nothing,
    retention::suite_prune_by_count_counts_messages_not_events,
    retention::suite_prune_history,
    retention::suite_prune_by_kind_leaves_the_exceptions_alone,
    retention::suite_redact_deletes_the_message_and_keeps_the_redaction,
    search::suite_search_finds_words_without_case_or_accents,
    files::suite_files_are_recorded_listed_summed_and_deleted,
    files::suite_file_names_and_types_keep_unicode,
    backup::suite_backup_holds_the_data,
);
