//! Reading records: the queries, and rows decoded into records. A row that does not decode
//! (a value this schema never writes) becomes [`Failure::Invalid`], reported as `Corrupt`.

use std::fmt::Write as _;

use postgres::Row;
use postgres::types::ToSql;

use super::{CopyFailure, Failure, Tx};
use crate::file::FileRecord;
use crate::history::{
    self, Column, HistoryQuery, HistoryRecord, Kinds, Op, Point, Scan, SearchQuery, TargetRecord,
    finish_targets,
};
use crate::record::{
    AccessLevel, AccessRecord, AccountRecord, ChannelRecord, ListEntryRecord, PresenceRecord,
    ScramRecord, TopicRecord, Write,
};

fn invalid(what: &str) -> Failure {
    Failure::Invalid(what.to_owned())
}

/// A count or a size, which the schema keeps as a non-negative `bigint`.
fn unsigned(value: i64, what: &str) -> Result<u64, Failure> {
    u64::try_from(value).map_err(|_| invalid(what))
}

/// A limit as PostgreSQL takes it.
fn limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

pub(super) fn count(tx: &mut Tx<'_>, sql: &str) -> Result<u64, Failure> {
    let count: i64 = tx.query_one(sql, &[])?.try_get(0)?;
    unsigned(count, "a negative count")
}

pub(super) fn strings(tx: &mut Tx<'_>, sql: &str, key: &str) -> Result<Vec<String>, Failure> {
    tx.query(sql, &[&key])?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

const ACCOUNT_COLUMNS: &str = "a.key, a.name, a.password_hash, a.scram_salt, a.scram_iterations, \
     a.scram_stored_key, a.scram_server_key, a.created_at, a.verified, a.email, a.always_on";

fn account_from_row(row: &Row) -> Result<AccountRecord, Failure> {
    let iterations: Option<i64> = row.try_get(4)?;
    let scram = match (
        row.try_get(3)?,
        iterations,
        row.try_get(5)?,
        row.try_get(6)?,
    ) {
        (Some(salt), Some(iterations), Some(stored_key), Some(server_key)) => Some(ScramRecord {
            salt,
            iterations: u32::try_from(iterations)
                .map_err(|_| invalid("a SCRAM iteration count out of range"))?,
            stored_key,
            server_key,
        }),
        (None, None, None, None) => None,
        _ => return Err(invalid("SCRAM credentials are partly missing")),
    };
    Ok(AccountRecord {
        key: row.try_get(0)?,
        name: row.try_get(1)?,
        password_hash: row.try_get(2)?,
        scram,
        created_at: row.try_get(7)?,
        verified: row.try_get(8)?,
        email: row.try_get(9)?,
        always_on: row.try_get(10)?,
    })
}

pub(super) fn account(tx: &mut Tx<'_>, key: &str) -> Result<Option<AccountRecord>, Failure> {
    tx.query_opt(
        &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.key = $1"),
        &[&key],
    )?
    .as_ref()
    .map(account_from_row)
    .transpose()
}

pub(super) fn account_by_cert(
    tx: &mut Tx<'_>,
    fingerprint: &str,
) -> Result<Option<AccountRecord>, Failure> {
    tx.query_opt(
        &format!(
            "SELECT {ACCOUNT_COLUMNS} FROM certs c JOIN accounts a ON a.key = c.account \
             WHERE c.fingerprint = $1"
        ),
        &[&fingerprint],
    )?
    .as_ref()
    .map(account_from_row)
    .transpose()
}

fn presence_from_row(row: &Row) -> Result<PresenceRecord, Failure> {
    Ok(PresenceRecord {
        account: row.try_get(0)?,
        nick: row.try_get(1)?,
        user: row.try_get(2)?,
        host: row.try_get(3)?,
        realname: row.try_get(4)?,
        channels: row.try_get(5)?,
    })
}

pub(super) fn presences(tx: &mut Tx<'_>) -> Result<Vec<PresenceRecord>, Failure> {
    tx.query(
        "SELECT account, nick, user_name, host, realname, channels FROM presences \
         ORDER BY account",
        &[],
    )?
    .iter()
    .map(presence_from_row)
    .collect()
}

pub(super) fn presence(tx: &mut Tx<'_>, account: &str) -> Result<Option<PresenceRecord>, Failure> {
    tx.query(
        "SELECT account, nick, user_name, host, realname, channels FROM presences \
         WHERE account = $1",
        &[&account],
    )?
    .first()
    .map(presence_from_row)
    .transpose()
}

const CHANNEL_COLUMNS: &str = "key, name, founder, registered_at, topic_text, topic_set_by, \
     topic_set_at, modes, mode_key, mode_limit";

/// The channel's own row; its lists and access entries are filled in by [`complete_channel`].
fn channel_from_row(row: &Row) -> Result<ChannelRecord, Failure> {
    let topic = match (row.try_get(4)?, row.try_get(5)?, row.try_get(6)?) {
        (Some(text), Some(set_by), Some(set_at)) => Some(TopicRecord {
            text,
            set_by,
            set_at,
        }),
        (None, None, None) => None,
        _ => return Err(invalid("the topic is partly missing")),
    };
    let mode_limit: Option<i64> = row.try_get(9)?;
    Ok(ChannelRecord {
        key: row.try_get(0)?,
        name: row.try_get(1)?,
        founder: row.try_get(2)?,
        registered_at: row.try_get(3)?,
        topic,
        modes: row.try_get(7)?,
        mode_key: row.try_get(8)?,
        mode_limit: mode_limit
            .map(|limit| u32::try_from(limit).map_err(|_| invalid("a channel limit out of range")))
            .transpose()?,
        lists: Vec::new(),
        access: Vec::new(),
    })
}

fn complete_channel(tx: &mut Tx<'_>, channel: &mut ChannelRecord) -> Result<(), Failure> {
    channel.lists = tx
        .query(
            "SELECT mode, mask, set_by, set_at FROM channel_lists WHERE channel = $1 ORDER BY seq",
            &[&channel.key],
        )?
        .iter()
        .map(|row| {
            let mode: String = row.try_get(0)?;
            let mut chars = mode.chars();
            let (Some(mode), None) = (chars.next(), chars.next()) else {
                return Err(invalid("a list mode is not one character"));
            };
            Ok(ListEntryRecord {
                mode,
                mask: row.try_get(1)?,
                set_by: row.try_get(2)?,
                set_at: row.try_get(3)?,
            })
        })
        .collect::<Result<_, Failure>>()?;
    channel.access = tx
        .query(
            "SELECT account, level FROM channel_access WHERE channel = $1 ORDER BY account",
            &[&channel.key],
        )?
        .iter()
        .map(|row| {
            let level: String = row.try_get(1)?;
            Ok(AccessRecord {
                account: row.try_get(0)?,
                level: AccessLevel::parse(&level).ok_or_else(|| invalid("unknown access level"))?,
            })
        })
        .collect::<Result<_, Failure>>()?;
    Ok(())
}

pub(super) fn channel(tx: &mut Tx<'_>, key: &str) -> Result<Option<ChannelRecord>, Failure> {
    let Some(row) = tx.query_opt(
        &format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE key = $1"),
        &[&key],
    )?
    else {
        return Ok(None);
    };
    let mut channel = channel_from_row(&row)?;
    complete_channel(tx, &mut channel)?;
    Ok(Some(channel))
}

pub(super) fn channels(tx: &mut Tx<'_>) -> Result<Vec<ChannelRecord>, Failure> {
    let mut channels = tx
        .query(
            &format!("SELECT {CHANNEL_COLUMNS} FROM channels ORDER BY key"),
            &[],
        )?
        .iter()
        .map(channel_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    for channel in &mut channels {
        complete_channel(tx, channel)?;
    }
    Ok(channels)
}

const HISTORY_COLUMNS: &str = "seq, target, msgid, time_ms, command, source, account, tags, params";

fn history_from_row(row: &Row) -> Result<HistoryRecord, Failure> {
    let seq: i64 = row.try_get(0)?;
    Ok(HistoryRecord {
        seq: unsigned(seq, "a negative history seq")?,
        target: row.try_get(1)?,
        msgid: row.try_get(2)?,
        time_ms: row.try_get(3)?,
        command: row.try_get(4)?,
        source: row.try_get(5)?,
        account: row.try_get(6)?,
        tags: row.try_get(7)?,
        params: row.try_get(8)?,
    })
}

/// The entry of `target` with this msgid, as a query anchor.
fn anchor(tx: &mut Tx<'_>, target: &str, msgid: &str) -> Result<Option<Point>, Failure> {
    tx.query_opt(
        "SELECT seq, time_ms FROM history WHERE msgid = $1 AND target = $2",
        &[&msgid, &target],
    )?
    .map(|row| {
        Ok(Point::Entry {
            seq: row.try_get(0)?,
            time_ms: row.try_get(1)?,
        })
    })
    .transpose()
}

/// The SQL of one scan of a target's history: `$1` the target, then one parameter per
/// condition, then the limit. The texts are few (the conditions and orders a plan makes), so
/// each is prepared once per connection.
pub(super) fn scan_sql(scan: &Scan) -> String {
    let mut sql = format!("SELECT {HISTORY_COLUMNS} FROM history WHERE target = $1");
    let mut parameter = 2;
    for condition in &scan.conditions {
        let column = match condition.column {
            Column::Seq => "seq",
            Column::Time => "time_ms",
        };
        let op = match condition.op {
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Ge => ">=",
        };
        let _ = write!(sql, " AND {column} {op} ${parameter}");
        parameter += 1;
    }
    if scan.kinds == Kinds::Messages {
        sql.push_str(" AND command IN ('PRIVMSG', 'NOTICE', 'TAGMSG')");
    }
    let direction = if scan.descending { "DESC" } else { "ASC" };
    if scan.key == Column::Time {
        let _ = write!(sql, " ORDER BY time_ms {direction}, seq {direction}");
    } else {
        let _ = write!(sql, " ORDER BY seq {direction}");
    }
    let _ = write!(sql, " LIMIT ${parameter}");
    sql
}

fn read_scan(tx: &mut Tx<'_>, target: &str, scan: &Scan) -> Result<Vec<HistoryRecord>, Failure> {
    let values: Vec<i64> = scan.conditions.iter().map(|c| c.value).collect();
    let count = limit(scan.limit);
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(values.len() + 2);
    params.push(&target);
    params.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
    params.push(&count);
    tx.query(&scan_sql(scan), &params)?
        .iter()
        .map(history_from_row)
        .collect()
}

pub(super) fn history(
    tx: &mut Tx<'_>,
    target: &str,
    query: &HistoryQuery,
    limit: usize,
    kinds: Kinds,
) -> Result<Option<Vec<HistoryRecord>>, Failure> {
    let Some(mut scans) = history::plan(query, limit, |msgid| anchor(tx, target, msgid))? else {
        return Ok(None);
    };
    let mut found = Vec::new();
    for scan in &mut scans {
        scan.kinds = kinds;
        found.extend(read_scan(tx, target, scan)?);
    }
    found.sort_by_key(|entry| entry.seq);
    Ok(Some(found))
}

pub(super) fn history_targets(
    tx: &mut Tx<'_>,
    owner: &str,
    channels: &[String],
    (low, high): (i64, i64),
    count: usize,
) -> Result<Vec<TargetRecord>, Failure> {
    let mut channels: Vec<&String> = channels.iter().collect();
    channels.sort();
    channels.dedup();
    let mut targets = Vec::new();
    // One index search per channel (the last entry in `history_by_time`), in one statement.
    let rows = tx.query(
        "SELECT c.target, (SELECT max(h.time_ms) FROM history h WHERE h.target = c.target) \
         FROM unnest($1::text[]) AS c (target)",
        &[&channels],
    )?;
    for row in &rows {
        let last_ms: Option<i64> = row.try_get(1)?;
        if let Some(last_ms) = last_ms.filter(|last| (low..=high).contains(last)) {
            let target: String = row.try_get(0)?;
            targets.push(TargetRecord {
                name: target.clone(),
                target,
                last_ms,
            });
        }
    }
    for row in tx.query(
        "SELECT target, peer, last_ms FROM conversations \
         WHERE owner = $1 AND last_ms BETWEEN $2 AND $3",
        &[&owner, &low, &high],
    )? {
        targets.push(TargetRecord {
            target: row.try_get(0)?,
            name: row.try_get(1)?,
            last_ms: row.try_get(2)?,
        });
    }
    Ok(finish_targets(targets, count))
}

/// [`crate::Store::search`]: the GIN index of `words` finds the messages holding every word.
pub(super) fn search(
    tx: &mut Tx<'_>,
    owner: &str,
    targets: &[String],
    query: &SearchQuery,
) -> Result<Vec<HistoryRecord>, Failure> {
    let mut words = query.words();
    words.sort();
    words.dedup();
    if words.is_empty() || query.limit == 0 || (targets.is_empty() && owner.is_empty()) {
        return Ok(Vec::new());
    }
    let after = query.after_ms.unwrap_or(i64::MIN);
    let before = query.before_ms.unwrap_or(i64::MAX);
    let count = limit(query.limit);
    let mut found = tx
        .query(
            &format!(
                "SELECT {HISTORY_COLUMNS} FROM history h WHERE h.words @> $1::text[] \
                 AND h.time_ms > $2 AND h.time_ms < $3 \
                 AND (h.target = ANY ($4::text[]) OR h.target IN \
                     (SELECT target FROM conversations WHERE owner = $5 AND $5 <> '')) \
                 ORDER BY h.seq DESC LIMIT $6"
            ),
            &[&words, &after, &before, &targets, &owner, &count],
        )?
        .iter()
        .map(history_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    found.reverse();
    Ok(found)
}

const FILE_COLUMNS: &str = "id, owner, name, content_type, size, sha256, created_ms";

fn file_from_row(row: &Row) -> Result<FileRecord, Failure> {
    let size: i64 = row.try_get(4)?;
    Ok(FileRecord {
        id: row.try_get(0)?,
        owner: row.try_get(1)?,
        name: row.try_get(2)?,
        content_type: row.try_get(3)?,
        size: unsigned(size, "a negative file size")?,
        sha256: row.try_get(5)?,
        created_ms: row.try_get(6)?,
    })
}

pub(super) fn file(tx: &mut Tx<'_>, id: &str) -> Result<Option<FileRecord>, Failure> {
    tx.query_opt(
        &format!("SELECT {FILE_COLUMNS} FROM files WHERE id = $1"),
        &[&id],
    )?
    .as_ref()
    .map(file_from_row)
    .transpose()
}

pub(super) fn files_of(tx: &mut Tx<'_>, owner: &str) -> Result<Vec<FileRecord>, Failure> {
    tx.query(
        &format!("SELECT {FILE_COLUMNS} FROM files WHERE owner = $1 ORDER BY created_ms, id"),
        &[&owner],
    )?
    .iter()
    .map(file_from_row)
    .collect()
}

pub(super) fn files_size(tx: &mut Tx<'_>, owner: &str) -> Result<u64, Failure> {
    // sum(bigint) is numeric: cast back, a total past i64::MAX is no quota anyone sets.
    let total: i64 = tx
        .query_one(
            "SELECT coalesce(sum(size), 0)::bigint FROM files WHERE owner = $1",
            &[&owner],
        )?
        .try_get(0)?;
    unsigned(total, "a negative total of file sizes")
}

pub(super) fn files_before(
    tx: &mut Tx<'_>,
    before_ms: i64,
    count: usize,
) -> Result<Vec<FileRecord>, Failure> {
    tx.query(
        &format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE created_ms < $1 \
             ORDER BY created_ms, id LIMIT $2"
        ),
        &[&before_ms, &limit(count)],
    )?
    .iter()
    .map(file_from_row)
    .collect()
}

/// How many rows a backup reads and writes at a time.
const COPY_BATCH: i64 = 1000;

/// Reads the whole store (in `tx`'s snapshot) as the writes that make it again, handing them
/// to `sink` a batch at a time, in an order where each write finds what it refers to.
pub(super) fn copy_all(
    tx: &mut Tx<'_>,
    sink: &mut dyn FnMut(&[Write]) -> Result<(), CopyFailure>,
) -> Result<(), CopyFailure> {
    // Accounts, then what refers to them. Their counts are small: one read each.
    let accounts = tx
        .query(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.key"),
            &[],
        )?
        .iter()
        .map(|row| account_from_row(row).map(Write::CreateAccount))
        .collect::<Result<Vec<_>, _>>()?;
    sink(&accounts)?;
    let certs = tx
        .query(
            "SELECT account, fingerprint FROM certs ORDER BY fingerprint",
            &[],
        )?
        .iter()
        .map(|row| {
            Ok(Write::AddCert {
                account: row.try_get(0)?,
                fingerprint: row.try_get(1)?,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    sink(&certs)?;
    let channels = channels(tx)?
        .into_iter()
        .map(Write::RegisterChannel)
        .collect::<Vec<_>>();
    sink(&channels)?;
    let presences = presences(tx)?
        .into_iter()
        .map(|presence| Write::SetPresence {
            account: presence.account.clone(),
            presence: Some(presence),
        })
        .collect::<Vec<_>>();
    sink(&presences)?;
    let metadata = tx
        .query(
            "SELECT target, key, value FROM metadata ORDER BY target, key",
            &[],
        )?
        .iter()
        .map(|row| {
            Ok(Write::SetMetadata {
                target: row.try_get(0)?,
                key: row.try_get(1)?,
                value: Some(row.try_get(2)?),
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    sink(&metadata)?;

    // History, in `seq` order (the copy numbers its own entries in the same order), a batch
    // at a time.
    let mut after = 0i64;
    loop {
        let rows = tx.query(
            &format!("SELECT {HISTORY_COLUMNS} FROM history WHERE seq > $1 ORDER BY seq LIMIT $2"),
            &[&after, &COPY_BATCH],
        )?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        let writes = rows
            .iter()
            .map(|row| history_from_row(row).map(Write::Append))
            .collect::<Result<Vec<_>, _>>()?;
        sink(&writes)?;
    }
    let conversations = tx
        .query(
            "SELECT owner, peer, target, last_ms FROM conversations ORDER BY owner, target",
            &[],
        )?
        .iter()
        .map(|row| {
            Ok(Write::Converse {
                owner: row.try_get(0)?,
                peer: row.try_get(1)?,
                target: row.try_get(2)?,
                time_ms: row.try_get(3)?,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    sink(&conversations)?;
    let markers = tx
        .query(
            "SELECT account, target, time_ms FROM read_markers ORDER BY account, target",
            &[],
        )?
        .iter()
        .map(|row| {
            Ok(Write::SetReadMarker {
                account: row.try_get(0)?,
                target: row.try_get(1)?,
                time_ms: row.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    sink(&markers)?;
    let files = tx
        .query(
            &format!("SELECT {FILE_COLUMNS} FROM files ORDER BY created_ms, id"),
            &[],
        )?
        .iter()
        .map(|row| file_from_row(row).map(Write::AddFile))
        .collect::<Result<Vec<_>, _>>()?;
    sink(&files)?;
    Ok(())
}
