//! Applying one [`Write`]: the statements, and the checks that decide its [`Conflict`].

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Conflict;
use crate::history::{self, HistoryRecord, encode_params};
use crate::record::{AccessLevel, ListEntryRecord, Write};

fn exists(conn: &Connection, sql: &str, key: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(sql)?.exists([key])
}

fn account_exists(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
    exists(conn, "SELECT 1 FROM accounts WHERE key = ?1", key)
}

fn channel_exists(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
    exists(conn, "SELECT 1 FROM channels WHERE key = ?1", key)
}

/// `Ok` when a statement touched a row, `NotFound` when it touched none.
fn found(changed: usize) -> Result<(), Conflict> {
    if changed == 0 {
        Err(Conflict::NotFound)
    } else {
        Ok(())
    }
}

fn insert_lists(
    conn: &Connection,
    channel: &str,
    lists: &[ListEntryRecord],
) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO channel_lists (channel, seq, mode, mask, set_by, set_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (seq, entry) in lists.iter().enumerate() {
        insert.execute(params![
            channel,
            seq as i64,
            entry.mode.to_string(),
            entry.mask,
            entry.set_by,
            entry.set_at
        ])?;
    }
    Ok(())
}

fn upsert_access(
    conn: &Connection,
    channel: &str,
    account: &str,
    level: AccessLevel,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO channel_access (channel, account, level) VALUES (?1, ?2, ?3) \
         ON CONFLICT (channel, account) DO UPDATE SET level = excluded.level",
    )?
    .execute(params![channel, account, level.as_str()])?;
    Ok(())
}

/// Whether `write` must run in a savepoint of its own. The history and file writes but `Redact`
/// (a delete, then an append that may conflict) need none: each is
/// one statement that either applies whole or reports its conflict having changed nothing
/// (`Append`), or cannot conflict at all (the others); a failure fails the whole transaction
/// anyway. Skipping the savepoint matters for appends, which come by thousands per commit.
pub(super) fn needs_savepoint(write: &Write) -> bool {
    !matches!(
        write,
        Write::Append(_)
            | Write::Converse { .. }
            | Write::SetReadMarker { .. }
            | Write::SetMetadata { .. }
            | Write::PruneHistory { .. }
            | Write::SetPresence { .. }
            | Write::AddFile(_)
            | Write::DeleteFile { .. }
    )
}

/// Adds to the search index the messages (PRIVMSG and NOTICE texts: the params after the
/// target) committed since it last caught up, and records how far it now goes.
pub(super) fn index_pending(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO history_text (rowid, text) \
         SELECT seq, rtrim(substr(params, instr(params, char(10)) + 1), char(10)) FROM history \
         WHERE seq > (SELECT indexed_seq FROM search_progress) \
         AND command IN ('PRIVMSG', 'NOTICE')",
    )?
    .execute([])?;
    conn.prepare_cached(
        "UPDATE search_progress SET indexed_seq = \
         max(indexed_seq, coalesce((SELECT max(seq) FROM history), 0))",
    )?
    .execute([])?;
    Ok(())
}

/// Appends a history entry; `Exists` (and nothing written) if its msgid is taken.
fn append(conn: &Connection, record: &HistoryRecord) -> rusqlite::Result<Result<(), Conflict>> {
    debug_assert!(history::well_formed(record), "{record:?}");
    let changed = conn
        .prepare_cached(
            // Never earlier than the target's newest entry (see `Write::Append`): one descent
            // of `history_by_time`.
            "INSERT INTO history (target, msgid, time_ms, command, source, account, tags, params) \
             VALUES (?1, ?2, \
                     max(?3, coalesce((SELECT max(time_ms) FROM history WHERE target = ?1), ?3)), \
                     ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (msgid) DO NOTHING",
        )?
        .execute(params![
            record.target,
            record.msgid,
            record.time_ms,
            record.command,
            record.source,
            record.account,
            record.tags,
            encode_params(&record.params),
        ])?;
    Ok(if changed == 0 {
        Err(Conflict::Exists)
    } else {
        Ok(())
    })
}

/// Deletes the message `msgid` of the redaction's target (its search index entry goes with it,
/// by the `history_text_delete` trigger) and appends the redaction. Runs in a savepoint: the
/// append's conflict comes after the delete.
fn redact(
    conn: &Connection,
    msgid: &str,
    redaction: &HistoryRecord,
) -> rusqlite::Result<Result<(), Conflict>> {
    let deleted = conn
        .prepare_cached(
            "DELETE FROM history WHERE msgid = ?1 AND target = ?2 \
             AND command IN ('PRIVMSG', 'NOTICE', 'TAGMSG')",
        )?
        .execute(params![msgid, redaction.target])?;
    if deleted == 0 {
        return Ok(Err(Conflict::NotFound));
    }
    append(conn, redaction)
}

/// Every target that has history, in byte order: one index search per target (a skip scan)
/// rather than a walk over every entry.
fn history_targets(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached(
        "WITH RECURSIVE t (target) AS ( \
             SELECT min(target) FROM history \
             UNION ALL \
             SELECT (SELECT min(target) FROM history WHERE target > t.target) FROM t \
             WHERE t.target IS NOT NULL \
         ) SELECT target FROM t WHERE target IS NOT NULL",
    )?
    .query_map([], |row| row.get(0))?
    .collect()
}

/// Removes a target's entries older than `before_ms` or not among its newest `keep_last`.
fn prune_target(
    conn: &Connection,
    target: &str,
    before_ms: Option<i64>,
    keep_last: Option<u64>,
) -> rusqlite::Result<()> {
    if let Some(keep) = keep_last {
        if keep == 0 {
            conn.prepare_cached("DELETE FROM history WHERE target = ?1")?
                .execute(params![target])?;
        } else {
            // The oldest message kept: every older entry goes. `(time_ms, seq)` is the
            // target's `seq` order (see `read::scan_sql`), in `history_by_time`.
            let oldest_kept: Option<(i64, i64)> = conn
                .prepare_cached(
                    "SELECT time_ms, seq FROM history WHERE target = ?1 \
                     AND command IN ('PRIVMSG', 'NOTICE', 'TAGMSG') \
                     ORDER BY time_ms DESC, seq DESC LIMIT 1 OFFSET ?2",
                )?
                .query_row(
                    params![target, i64::try_from(keep - 1).unwrap_or(i64::MAX)],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            if let Some((time_ms, seq)) = oldest_kept {
                conn.prepare_cached(
                    "DELETE FROM history WHERE target = ?1 AND (time_ms, seq) < (?2, ?3)",
                )?
                .execute(params![target, time_ms, seq])?;
            }
        }
    }
    if let Some(before_ms) = before_ms {
        conn.prepare_cached("DELETE FROM history WHERE target = ?1 AND time_ms < ?2")?
            .execute(params![target, before_ms])?;
    }
    Ok(())
}

/// Moves what is kept under channel key `from` to `to` ([`Write::RenameChannel`]).
fn rename_channel(
    conn: &Connection,
    from: &str,
    to: &str,
    name: &str,
) -> rusqlite::Result<Result<(), Conflict>> {
    if from == to {
        conn.prepare_cached("UPDATE channels SET name = ?2 WHERE key = ?1")?
            .execute([from, name])?;
        return Ok(Ok(()));
    }
    if channel_exists(conn, from)? {
        if channel_exists(conn, to)? {
            return Ok(Err(Conflict::Exists));
        }
        // The foreign keys have no ON UPDATE: a copy under the new key takes the lists and
        // access entries, then the old row goes (with nothing left to cascade).
        conn.prepare_cached(
            "INSERT INTO channels (key, name, founder, registered_at, topic_text, \
             topic_set_by, topic_set_at, modes, mode_key, mode_limit) \
             SELECT ?2, ?3, founder, registered_at, topic_text, topic_set_by, topic_set_at, \
             modes, mode_key, mode_limit FROM channels WHERE key = ?1",
        )?
        .execute([from, to, name])?;
        conn.prepare_cached("UPDATE channel_lists SET channel = ?2 WHERE channel = ?1")?
            .execute([from, to])?;
        conn.prepare_cached("UPDATE channel_access SET channel = ?2 WHERE channel = ?1")?
            .execute([from, to])?;
        // Its metadata too, before the old row's trigger would drop it.
        conn.prepare_cached(
            "UPDATE OR REPLACE metadata SET target = 'c:' || ?2 WHERE target = 'c:' || ?1",
        )?
        .execute([from, to])?;
        conn.prepare_cached("DELETE FROM channels WHERE key = ?1")?
            .execute([from])?;
    }
    conn.prepare_cached("UPDATE history SET target = ?2 WHERE target = ?1")?
        .execute([from, to])?;
    // Where an account has a row for both keys, the later time stays (in the row of `to`).
    move_target(conn, "read_markers", "account", "time_ms", from, to)?;
    move_target(conn, "conversations", "owner", "last_ms", from, to)?;
    Ok(Ok(()))
}

/// Moves `table`'s rows of target `from` to `to`, one per `owner` (its key with `target`):
/// where an owner has rows for both, the later `time` stays, in the row of `to`. The names are
/// this module's own constants, never input.
fn move_target(
    conn: &Connection,
    table: &str,
    owner: &str,
    time: &str,
    from: &str,
    to: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "UPDATE {table} SET {time} = max({time}, \
         (SELECT o.{time} FROM {table} o WHERE o.{owner} = {table}.{owner} AND o.target = ?1)) \
         WHERE target = ?2 AND {owner} IN (SELECT {owner} FROM {table} WHERE target = ?1)"
    ))?
    .execute([from, to])?;
    conn.prepare_cached(&format!(
        "DELETE FROM {table} WHERE target = ?1 \
         AND {owner} IN (SELECT {owner} FROM {table} WHERE target = ?2)"
    ))?
    .execute([from, to])?;
    conn.prepare_cached(&format!("UPDATE {table} SET target = ?2 WHERE target = ?1"))?
        .execute([from, to])?;
    Ok(())
}

/// Applies one write. A `Conflict` may come after part of the write was done: the caller runs
/// each write that [`needs_savepoint`] in a savepoint and rolls it back then.
pub(super) fn apply_one(
    conn: &Connection,
    write: &Write,
) -> rusqlite::Result<Result<(), Conflict>> {
    Ok(match write {
        Write::CreateAccount(account) => {
            let scram = account.scram.as_ref();
            let changed = conn
                .prepare_cached(
                    "INSERT INTO accounts (key, name, password_hash, scram_salt, \
                     scram_iterations, scram_stored_key, scram_server_key, created_at, verified, \
                     email, always_on) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                     ON CONFLICT (key) DO NOTHING",
                )?
                .execute(params![
                    account.key,
                    account.name,
                    account.password_hash,
                    scram.map(|s| &s.salt),
                    scram.map(|s| s.iterations),
                    scram.map(|s| &s.stored_key),
                    scram.map(|s| &s.server_key),
                    account.created_at,
                    account.verified,
                    account.email,
                    account.always_on,
                ])?;
            if changed == 0 {
                Err(Conflict::Exists)
            } else {
                Ok(())
            }
        }
        Write::SetPassword {
            account,
            password_hash,
            scram,
        } => {
            let scram = scram.as_ref();
            found(
                conn.prepare_cached(
                    "UPDATE accounts SET password_hash = ?2, scram_salt = ?3, \
                     scram_iterations = ?4, scram_stored_key = ?5, scram_server_key = ?6 \
                     WHERE key = ?1",
                )?
                .execute(params![
                    account,
                    password_hash,
                    scram.map(|s| &s.salt),
                    scram.map(|s| s.iterations),
                    scram.map(|s| &s.stored_key),
                    scram.map(|s| &s.server_key),
                ])?,
            )
        }
        Write::SetPresence { account, presence } => {
            match presence {
                Some(p) => conn
                    .prepare_cached(
                        // Only for an account that exists (gone: nothing to bring back).
                        "INSERT INTO presences (account, nick, user, host, realname, channels) \
                         SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
                         WHERE EXISTS (SELECT 1 FROM accounts WHERE key = ?1) \
                         ON CONFLICT (account) DO UPDATE SET nick = ?2, user = ?3, host = ?4, \
                         realname = ?5, channels = ?6",
                    )?
                    .execute(params![
                        account,
                        p.nick,
                        p.user,
                        p.host,
                        p.realname,
                        p.channels.join("\n")
                    ])?,
                None => conn
                    .prepare_cached("DELETE FROM presences WHERE account = ?1")?
                    .execute([account])?,
            };
            Ok(())
        }
        Write::SetAlwaysOn { account, value } => found(
            conn.prepare_cached("UPDATE accounts SET always_on = ?2 WHERE key = ?1")?
                .execute(params![account, value])?,
        ),
        Write::SetVerified { account } => found(
            conn.prepare_cached("UPDATE accounts SET verified = 1 WHERE key = ?1")?
                .execute([account])?,
        ),
        // Certificates, access entries and founded channels go by ON DELETE CASCADE;
        // conversations and read markers (keyed by account, without a foreign key: a marker
        // may be written for an account the store has not seen) by hand.
        Write::DropAccount { account } => {
            let changed = conn
                .prepare_cached("DELETE FROM accounts WHERE key = ?1")?
                .execute([account])?;
            if changed == 0 {
                return Ok(Err(Conflict::NotFound));
            }
            conn.prepare_cached("DELETE FROM conversations WHERE owner = ?1")?
                .execute([account])?;
            conn.prepare_cached("DELETE FROM read_markers WHERE account = ?1")?
                .execute([account])?;
            Ok(())
        }
        Write::AddCert {
            account,
            fingerprint,
        } => {
            if exists(
                conn,
                "SELECT 1 FROM certs WHERE fingerprint = ?1",
                fingerprint,
            )? {
                Err(Conflict::Exists)
            } else if !account_exists(conn, account)? {
                Err(Conflict::NotFound)
            } else {
                conn.prepare_cached("INSERT INTO certs (fingerprint, account) VALUES (?1, ?2)")?
                    .execute([fingerprint, account])?;
                Ok(())
            }
        }
        Write::DelCert {
            account,
            fingerprint,
        } => found(
            conn.prepare_cached("DELETE FROM certs WHERE fingerprint = ?1 AND account = ?2")?
                .execute([fingerprint, account])?,
        ),
        Write::RegisterChannel(channel) => {
            if channel_exists(conn, &channel.key)? {
                return Ok(Err(Conflict::Exists));
            }
            if !account_exists(conn, &channel.founder)? {
                return Ok(Err(Conflict::NotFound));
            }
            let topic = channel.topic.as_ref();
            conn.prepare_cached(
                "INSERT INTO channels (key, name, founder, registered_at, topic_text, \
                 topic_set_by, topic_set_at, modes, mode_key, mode_limit) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                channel.key,
                channel.name,
                channel.founder,
                channel.registered_at,
                topic.map(|t| &t.text),
                topic.map(|t| &t.set_by),
                topic.map(|t| t.set_at),
                channel.modes,
                channel.mode_key,
                channel.mode_limit,
            ])?;
            insert_lists(conn, &channel.key, &channel.lists)?;
            for entry in &channel.access {
                if !account_exists(conn, &entry.account)? {
                    return Ok(Err(Conflict::NotFound));
                }
                upsert_access(conn, &channel.key, &entry.account, entry.level)?;
            }
            Ok(())
        }
        // Topic, lists and access entries go by ON DELETE CASCADE.
        Write::DropChannel { channel } => found(
            conn.prepare_cached("DELETE FROM channels WHERE key = ?1")?
                .execute([channel])?,
        ),
        Write::SetTopic { channel, topic } => {
            let topic = topic.as_ref();
            found(
                conn.prepare_cached(
                    "UPDATE channels SET topic_text = ?2, topic_set_by = ?3, topic_set_at = ?4 \
                     WHERE key = ?1",
                )?
                .execute(params![
                    channel,
                    topic.map(|t| &t.text),
                    topic.map(|t| &t.set_by),
                    topic.map(|t| t.set_at),
                ])?,
            )
        }
        Write::SetModes {
            channel,
            modes,
            key,
            limit,
        } => found(
            conn.prepare_cached(
                "UPDATE channels SET modes = ?2, mode_key = ?3, mode_limit = ?4 WHERE key = ?1",
            )?
            .execute(params![channel, modes, key, limit])?,
        ),
        Write::SetLists { channel, lists } => {
            if !channel_exists(conn, channel)? {
                return Ok(Err(Conflict::NotFound));
            }
            conn.prepare_cached("DELETE FROM channel_lists WHERE channel = ?1")?
                .execute([channel])?;
            insert_lists(conn, channel, lists)?;
            Ok(())
        }
        Write::SetAccess {
            channel,
            account,
            level,
        } => {
            if !channel_exists(conn, channel)? {
                return Ok(Err(Conflict::NotFound));
            }
            match level {
                Some(level) => {
                    if !account_exists(conn, account)? {
                        return Ok(Err(Conflict::NotFound));
                    }
                    upsert_access(conn, channel, account, *level)?;
                    Ok(())
                }
                None => found(
                    conn.prepare_cached(
                        "DELETE FROM channel_access WHERE channel = ?1 AND account = ?2",
                    )?
                    .execute([channel, account])?,
                ),
            }
        }
        Write::Append(record) => append(conn, record)?,
        Write::Redact { msgid, redaction } => redact(conn, msgid, redaction)?,
        Write::RenameChannel { from, to, name } => rename_channel(conn, from, to, name)?,
        Write::Converse {
            owner,
            peer,
            target,
            time_ms,
        } => {
            conn.prepare_cached(
                "INSERT INTO conversations (owner, target, peer, last_ms) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (owner, target) DO UPDATE SET peer = excluded.peer, \
                 last_ms = max(last_ms, excluded.last_ms)",
            )?
            .execute(params![owner, target, peer, time_ms])?;
            Ok(())
        }
        Write::SetReadMarker {
            account,
            target,
            time_ms,
        } => {
            conn.prepare_cached(
                "INSERT INTO read_markers (account, target, time_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (account, target) DO UPDATE SET time_ms = excluded.time_ms \
                 WHERE excluded.time_ms > time_ms",
            )?
            .execute(params![account, target, time_ms])?;
            Ok(())
        }
        Write::SetMetadata { target, key, value } => {
            match value {
                Some(value) => conn
                    .prepare_cached(
                        "INSERT INTO metadata (target, key, value) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (target, key) DO UPDATE SET value = excluded.value",
                    )?
                    .execute(params![target, key, value])?,
                None => conn
                    .prepare_cached("DELETE FROM metadata WHERE target = ?1 AND key = ?2")?
                    .execute(params![target, key])?,
            };
            Ok(())
        }
        Write::PruneHistory {
            target,
            kind,
            except,
            before_ms,
            keep_last,
        } => {
            if before_ms.is_some() || keep_last.is_some() {
                let targets = match target {
                    Some(target) => vec![target.clone()],
                    None => history_targets(conn)?
                        .into_iter()
                        .filter(|t| kind.covers(t) && !except.contains(t))
                        .collect(),
                };
                for target in &targets {
                    prune_target(conn, target, *before_ms, *keep_last)?;
                }
            }
            Ok(())
        }
        Write::AddFile(file) => {
            let changed = conn
                .prepare_cached(
                    "INSERT INTO files (id, owner, name, content_type, size, sha256, created_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![
                    file.id,
                    file.owner,
                    file.name,
                    file.content_type,
                    // A size past i64::MAX is no file anyone stores; saturate rather than wrap.
                    i64::try_from(file.size).unwrap_or(i64::MAX),
                    file.sha256,
                    file.created_ms,
                ])?;
            if changed == 0 {
                Err(Conflict::Exists)
            } else {
                Ok(())
            }
        }
        Write::DeleteFile { id } => found(
            conn.prepare_cached("DELETE FROM files WHERE id = ?1")?
                .execute([id])?,
        ),
    })
}
