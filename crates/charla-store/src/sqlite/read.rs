//! Reading records: the queries, and rows decoded into records. A row that does not decode
//! (a value this schema never writes) becomes a conversion error, reported as `Corrupt`.

use rusqlite::{Connection, OptionalExtension, Row};

use crate::record::{
    AccessLevel, AccessRecord, AccountRecord, ChannelRecord, ListEntryRecord, ScramRecord,
    TopicRecord,
};

/// A stored value that is not what the schema promises.
fn invalid(column: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        what.to_owned().into(),
    )
}

const ACCOUNT_COLUMNS: &str = "a.key, a.name, a.password_hash, a.scram_salt, a.scram_iterations, \
     a.scram_stored_key, a.scram_server_key, a.created_at, a.verified, a.email";

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<AccountRecord> {
    let scram = match (row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?) {
        (Some(salt), Some(iterations), Some(stored_key), Some(server_key)) => Some(ScramRecord {
            salt,
            iterations,
            stored_key,
            server_key,
        }),
        (None, None, None, None) => None,
        _ => return Err(invalid(3, "SCRAM credentials are partly missing")),
    };
    Ok(AccountRecord {
        key: row.get(0)?,
        name: row.get(1)?,
        password_hash: row.get(2)?,
        scram,
        created_at: row.get(7)?,
        verified: row.get(8)?,
        email: row.get(9)?,
    })
}

pub(super) fn read_account(
    conn: &Connection,
    key: &str,
) -> rusqlite::Result<Option<AccountRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.key = ?1"
    ))?
    .query_row([key], account_from_row)
    .optional()
}

pub(super) fn read_account_by_cert(
    conn: &Connection,
    fingerprint: &str,
) -> rusqlite::Result<Option<AccountRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM certs c JOIN accounts a ON a.key = c.account \
         WHERE c.fingerprint = ?1"
    ))?
    .query_row([fingerprint], account_from_row)
    .optional()
}

pub(super) fn read_strings(
    conn: &Connection,
    sql: &str,
    key: &str,
) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached(sql)?
        .query_map([key], |row| row.get(0))?
        .collect()
}

const CHANNEL_COLUMNS: &str = "key, name, founder, registered_at, topic_text, topic_set_by, \
     topic_set_at, modes, mode_key, mode_limit";

/// The channel's own row; its lists and access entries are filled in by [`complete_channel`].
fn channel_from_row(row: &Row<'_>) -> rusqlite::Result<ChannelRecord> {
    let topic = match (row.get(4)?, row.get(5)?, row.get(6)?) {
        (Some(text), Some(set_by), Some(set_at)) => Some(TopicRecord {
            text,
            set_by,
            set_at,
        }),
        (None, None, None) => None,
        _ => return Err(invalid(4, "the topic is partly missing")),
    };
    Ok(ChannelRecord {
        key: row.get(0)?,
        name: row.get(1)?,
        founder: row.get(2)?,
        registered_at: row.get(3)?,
        topic,
        modes: row.get(7)?,
        mode_key: row.get(8)?,
        mode_limit: row.get(9)?,
        lists: Vec::new(),
        access: Vec::new(),
    })
}

fn complete_channel(conn: &Connection, channel: &mut ChannelRecord) -> rusqlite::Result<()> {
    channel.lists = conn
        .prepare_cached(
            "SELECT mode, mask, set_by, set_at FROM channel_lists WHERE channel = ?1 ORDER BY seq",
        )?
        .query_map([&channel.key], |row| {
            let mode: String = row.get(0)?;
            let mut chars = mode.chars();
            let (Some(mode), None) = (chars.next(), chars.next()) else {
                return Err(invalid(0, "a list mode is not one character"));
            };
            Ok(ListEntryRecord {
                mode,
                mask: row.get(1)?,
                set_by: row.get(2)?,
                set_at: row.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    channel.access = conn
        .prepare_cached(
            "SELECT account, level FROM channel_access WHERE channel = ?1 ORDER BY account",
        )?
        .query_map([&channel.key], |row| {
            let level: String = row.get(1)?;
            Ok(AccessRecord {
                account: row.get(0)?,
                level: AccessLevel::parse(&level)
                    .ok_or_else(|| invalid(1, "unknown access level"))?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(())
}

pub(super) fn read_channel(
    conn: &Connection,
    key: &str,
) -> rusqlite::Result<Option<ChannelRecord>> {
    let channel = conn
        .prepare_cached(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels WHERE key = ?1"
        ))?
        .query_row([key], channel_from_row)
        .optional()?;
    let Some(mut channel) = channel else {
        return Ok(None);
    };
    complete_channel(conn, &mut channel)?;
    Ok(Some(channel))
}

pub(super) fn read_channels(conn: &Connection) -> rusqlite::Result<Vec<ChannelRecord>> {
    let mut channels = conn
        .prepare_cached(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels ORDER BY key"
        ))?
        .query_map([], channel_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for channel in &mut channels {
        complete_channel(conn, channel)?;
    }
    Ok(channels)
}
