//! Reading records: the queries, and rows decoded into records. A row that does not decode
//! (a value this schema never writes) becomes a conversion error, reported as `Corrupt`.

use std::fmt::Write as _;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::file::FileRecord;
use crate::history::{
    self, Column, HistoryQuery, HistoryRecord, Kinds, Op, Point, Scan, SearchQuery, TargetRecord,
    decode_params, finish_targets,
};
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
     a.scram_stored_key, a.scram_server_key, a.created_at, a.verified, a.email, a.always_on";

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
        always_on: row.get(10)?,
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

const HISTORY_COLUMNS: &str = "seq, target, msgid, time_ms, command, source, account, tags, params";

fn history_from_row(row: &Row<'_>) -> rusqlite::Result<HistoryRecord> {
    let seq: i64 = row.get(0)?;
    let params: String = row.get(8)?;
    Ok(HistoryRecord {
        seq: u64::try_from(seq).map_err(|_| invalid(0, "a history seq is negative"))?,
        target: row.get(1)?,
        msgid: row.get(2)?,
        time_ms: row.get(3)?,
        command: row.get(4)?,
        source: row.get(5)?,
        account: row.get(6)?,
        tags: row.get(7)?,
        params: decode_params(&params)
            .ok_or_else(|| invalid(8, "history params are not line-terminated"))?,
    })
}

/// The entry of `target` with this msgid, as a query anchor.
fn read_anchor(conn: &Connection, target: &str, msgid: &str) -> rusqlite::Result<Option<Point>> {
    conn.prepare_cached("SELECT seq, time_ms FROM history WHERE msgid = ?1 AND target = ?2")?
        .query_row([msgid, target], |row| {
            Ok(Point::Entry {
                seq: row.get(0)?,
                time_ms: row.get(1)?,
            })
        })
        .optional()
}

/// The SQL of one scan of a target's history: `?1` the target, then the parameters of each
/// condition (see [`scan_values`]), then the limit. The texts are few (the conditions and
/// orders a plan makes), so each is prepared once per connection and cached.
///
/// Every scan walks `history_by_time`, whose entries end with the rowid: `(target, time_ms,
/// seq)`. A target's times never go back along `seq`, so that order is also the `seq` order,
/// and a condition on `seq` is asked as the same condition on `(time_ms, seq)` (migration 9
/// dropped the index by target and `seq`, which cost every append a third index update).
pub(super) fn scan_sql(scan: &Scan) -> String {
    let mut sql = format!("SELECT {HISTORY_COLUMNS} FROM history WHERE target = ?1");
    let mut parameter = 2;
    for condition in &scan.conditions {
        let op = match condition.op {
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Ge => ">=",
        };
        match condition.column {
            Column::Seq => {
                let _ = write!(
                    sql,
                    " AND (time_ms, seq) {op} (?{parameter}, ?{})",
                    parameter + 1
                );
                parameter += 2;
            }
            Column::Time => {
                let _ = write!(sql, " AND time_ms {op} ?{parameter}");
                parameter += 1;
            }
        }
    }
    if scan.kinds == Kinds::Messages {
        sql.push_str(" AND command IN ('PRIVMSG', 'NOTICE', 'TAGMSG')");
    }
    let direction = if scan.descending { "DESC" } else { "ASC" };
    let _ = write!(
        sql,
        " ORDER BY time_ms {direction}, seq {direction} LIMIT ?{parameter}"
    );
    sql
}

/// The parameters [`scan_sql`] asks for its conditions: a `seq` condition's entry time and
/// `seq`, a time condition's time.
fn scan_values(scan: &Scan) -> impl Iterator<Item = Value> + '_ {
    scan.conditions.iter().flat_map(|c| match c.column {
        Column::Seq => vec![Value::Integer(c.time_ms), Value::Integer(c.value)],
        Column::Time => vec![Value::Integer(c.value)],
    })
}

fn read_scan(conn: &Connection, target: &str, scan: &Scan) -> rusqlite::Result<Vec<HistoryRecord>> {
    let mut values = Vec::with_capacity(2 * scan.conditions.len() + 2);
    values.push(Value::Text(target.to_owned()));
    values.extend(scan_values(scan));
    values.push(Value::Integer(
        i64::try_from(scan.limit).unwrap_or(i64::MAX),
    ));
    conn.prepare_cached(&scan_sql(scan))?
        .query_map(rusqlite::params_from_iter(values), history_from_row)?
        .collect()
}

pub(super) fn read_history(
    conn: &Connection,
    target: &str,
    query: &HistoryQuery,
    limit: usize,
    kinds: Kinds,
) -> rusqlite::Result<Option<Vec<HistoryRecord>>> {
    let Some(mut scans) = history::plan(query, limit, |msgid| read_anchor(conn, target, msgid))?
    else {
        return Ok(None);
    };
    let mut found = Vec::new();
    for scan in &mut scans {
        scan.kinds = kinds;
        found.extend(read_scan(conn, target, scan)?);
    }
    found.sort_by_key(|entry| entry.seq);
    Ok(Some(found))
}

pub(super) fn read_history_targets(
    conn: &Connection,
    owner: &str,
    channels: &[String],
    (low, high): (i64, i64),
    limit: usize,
) -> rusqlite::Result<Vec<TargetRecord>> {
    let mut channels: Vec<&String> = channels.iter().collect();
    channels.sort();
    channels.dedup();
    let mut targets = Vec::new();
    // One index search per channel: the last entry of the channel in `history_by_time`.
    let mut latest = conn.prepare_cached("SELECT max(time_ms) FROM history WHERE target = ?1")?;
    for channel in channels {
        let last_ms: Option<i64> = latest.query_row([channel], |row| row.get(0))?;
        if let Some(last_ms) = last_ms.filter(|last| (low..=high).contains(last)) {
            targets.push(TargetRecord {
                target: channel.clone(),
                name: channel.clone(),
                last_ms,
            });
        }
    }
    let private = conn
        .prepare_cached(
            "SELECT target, peer, last_ms FROM conversations \
             WHERE owner = ?1 AND last_ms BETWEEN ?2 AND ?3",
        )?
        .query_map(params![owner, low, high], |row| {
            Ok(TargetRecord {
                target: row.get(0)?,
                name: row.get(1)?,
                last_ms: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    targets.extend(private);
    Ok(finish_targets(targets, limit))
}

/// [`crate::Store::search`]: the FTS index finds the texts, `history` gives their entries.
pub(crate) fn search(
    conn: &Connection,
    owner: &str,
    targets: &[String],
    query: &SearchQuery,
) -> rusqlite::Result<Vec<HistoryRecord>> {
    let fts = query.fts();
    if fts.is_empty() || query.limit == 0 || (targets.is_empty() && owner.is_empty()) {
        return Ok(Vec::new());
    }
    let columns = HISTORY_COLUMNS
        .split(", ")
        .map(|c| format!("h.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    // ?1 the query, ?2 after, ?3 before, ?4 the limit, ?5 the owner, then the targets.
    let placeholders: Vec<String> = (0..targets.len()).map(|i| format!("?{}", i + 6)).collect();
    let sql = format!(
        "SELECT {columns} FROM history_text JOIN history h ON h.seq = history_text.rowid \
         WHERE history_text MATCH ?1 AND h.time_ms > ?2 AND h.time_ms < ?3 \
         AND (h.target IN ({}) OR h.target IN (SELECT target FROM conversations WHERE owner = ?5 \
         AND ?5 <> '')) ORDER BY h.seq DESC LIMIT ?4",
        placeholders.join(", ")
    );
    let mut values: Vec<rusqlite::types::Value> = vec![
        fts.into(),
        query.after_ms.unwrap_or(i64::MIN).into(),
        query.before_ms.unwrap_or(i64::MAX).into(),
        i64::try_from(query.limit).unwrap_or(i64::MAX).into(),
        owner.to_owned().into(),
    ];
    values.extend(targets.iter().map(|t| t.clone().into()));
    let mut statement = conn.prepare(&sql)?;
    let mut found = statement
        .query_map(rusqlite::params_from_iter(values), history_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    found.reverse();
    Ok(found)
}

const FILE_COLUMNS: &str = "id, owner, name, content_type, size, sha256, created_ms";

fn file_from_row(row: &Row<'_>) -> rusqlite::Result<FileRecord> {
    let size: i64 = row.get(4)?;
    Ok(FileRecord {
        id: row.get(0)?,
        owner: row.get(1)?,
        name: row.get(2)?,
        content_type: row.get(3)?,
        size: u64::try_from(size).map_err(|_| invalid(4, "a file size is negative"))?,
        sha256: row.get(5)?,
        created_ms: row.get(6)?,
    })
}

pub(super) fn read_file(conn: &Connection, id: &str) -> rusqlite::Result<Option<FileRecord>> {
    conn.prepare_cached(&format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"))?
        .query_row([id], file_from_row)
        .optional()
}

pub(super) fn read_files_of(conn: &Connection, owner: &str) -> rusqlite::Result<Vec<FileRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {FILE_COLUMNS} FROM files WHERE owner = ?1 ORDER BY created_ms, id"
    ))?
    .query_map([owner], file_from_row)?
    .collect()
}

pub(super) fn read_files_size(conn: &Connection, owner: &str) -> rusqlite::Result<u64> {
    let total: i64 = conn
        .prepare_cached("SELECT coalesce(sum(size), 0) FROM files WHERE owner = ?1")?
        .query_row([owner], |row| row.get(0))?;
    u64::try_from(total).map_err(|_| invalid(0, "a total of file sizes is negative"))
}

pub(super) fn read_files_before(
    conn: &Connection,
    before_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<FileRecord>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.prepare_cached(&format!(
        "SELECT {FILE_COLUMNS} FROM files WHERE created_ms < ?1 ORDER BY created_ms, id LIMIT ?2"
    ))?
    .query_map(params![before_ms, limit], file_from_row)?
    .collect()
}
