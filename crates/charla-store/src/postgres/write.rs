//! Applying one [`Write`]: the statements, and the checks that decide its [`Conflict`].
//!
//! No statement here may fail on the data it meets (a failed statement aborts the whole
//! PostgreSQL transaction): a key that may be taken is inserted with `ON CONFLICT DO NOTHING`
//! and the conflict read from the count of rows, or checked for first.

use super::{Failure, Tx};
use crate::error::Conflict;
use crate::history::{self, HistoryRecord};
use crate::record::{AccessLevel, ListEntryRecord, Write};

fn exists(tx: &mut Tx<'_>, sql: &str, key: &str) -> Result<bool, Failure> {
    Ok(tx.query_opt(sql, &[&key])?.is_some())
}

fn account_exists(tx: &mut Tx<'_>, key: &str) -> Result<bool, Failure> {
    exists(tx, "SELECT 1 FROM accounts WHERE key = $1", key)
}

fn channel_exists(tx: &mut Tx<'_>, key: &str) -> Result<bool, Failure> {
    exists(tx, "SELECT 1 FROM channels WHERE key = $1", key)
}

/// `Ok` when a statement touched a row, `NotFound` when it touched none.
fn found(changed: u64) -> Result<(), Conflict> {
    if changed == 0 {
        Err(Conflict::NotFound)
    } else {
        Ok(())
    }
}

/// `Ok` when an insert added its row, `Exists` when its key was taken.
fn inserted(changed: u64) -> Result<(), Conflict> {
    if changed == 0 {
        Err(Conflict::Exists)
    } else {
        Ok(())
    }
}

fn insert_lists(tx: &mut Tx<'_>, channel: &str, lists: &[ListEntryRecord]) -> Result<(), Failure> {
    for (seq, entry) in lists.iter().enumerate() {
        let seq = i32::try_from(seq).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO channel_lists (channel, seq, mode, mask, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &channel,
                &seq,
                &entry.mode.to_string(),
                &entry.mask,
                &entry.set_by,
                &entry.set_at,
            ],
        )?;
    }
    Ok(())
}

fn upsert_access(
    tx: &mut Tx<'_>,
    channel: &str,
    account: &str,
    level: AccessLevel,
) -> Result<(), Failure> {
    tx.execute(
        "INSERT INTO channel_access (channel, account, level) VALUES ($1, $2, $3) \
         ON CONFLICT (channel, account) DO UPDATE SET level = excluded.level",
        &[&channel, &account, &level.as_str()],
    )?;
    Ok(())
}

/// Whether `write` must run in a savepoint of its own: those that may find their conflict
/// after changing something. The others are one statement that applies whole or reports its
/// conflict having changed nothing (`Append`, `AddFile`), or cannot conflict at all; skipping
/// the savepoint (a round trip each way) matters for appends, which come by thousands.
pub(super) fn needs_savepoint(write: &Write) -> bool {
    matches!(
        write,
        Write::RegisterChannel(_) | Write::Redact { .. } | Write::RenameChannel { .. }
    )
}

/// The words search matches in an entry: those of a PRIVMSG's or NOTICE's text (its params
/// after the target), folded as [`crate::SearchQuery`] folds the query, each once; `None` for
/// any other entry.
fn search_words(record: &HistoryRecord) -> Option<Vec<String>> {
    if !matches!(record.command.as_str(), "PRIVMSG" | "NOTICE") {
        return None;
    }
    let text = record.params.get(1..).unwrap_or_default().join("\n");
    let mut words = history::words(&text);
    words.sort();
    words.dedup();
    Some(words)
}

/// Appends a history entry; `Exists` (and nothing written) if its msgid is taken.
fn append(tx: &mut Tx<'_>, record: &HistoryRecord) -> Result<Result<(), Conflict>, Failure> {
    debug_assert!(history::well_formed(record), "{record:?}");
    let changed = tx.execute(
        // Never earlier than the target's newest entry (see `Write::Append`): one descent of
        // `history_by_time`.
        "INSERT INTO history (target, msgid, time_ms, command, source, account, tags, params, \
         words) VALUES ($1, $2, \
         greatest($3, (SELECT max(time_ms) FROM history WHERE target = $1)), \
         $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (msgid) DO NOTHING",
        &[
            &record.target,
            &record.msgid,
            &record.time_ms,
            &record.command,
            &record.source,
            &record.account,
            &record.tags,
            &record.params,
            &search_words(record),
        ],
    )?;
    Ok(inserted(changed))
}

/// Deletes the message `msgid` of the redaction's target (with its search words) and appends
/// the redaction. Runs in a savepoint: the append's conflict comes after the delete.
fn redact(
    tx: &mut Tx<'_>,
    msgid: &str,
    redaction: &HistoryRecord,
) -> Result<Result<(), Conflict>, Failure> {
    let deleted = tx.execute(
        "DELETE FROM history WHERE msgid = $1 AND target = $2 \
         AND command IN ('PRIVMSG', 'NOTICE', 'TAGMSG')",
        &[&msgid, &redaction.target],
    )?;
    if deleted == 0 {
        return Ok(Err(Conflict::NotFound));
    }
    append(tx, redaction)
}

/// Every target that has history, in byte order: one index search per target (a loose index
/// scan) rather than a walk over every entry.
fn history_targets(tx: &mut Tx<'_>) -> Result<Vec<String>, Failure> {
    tx.query(
        "WITH RECURSIVE t (target) AS ( \
             SELECT min(target) FROM history \
             UNION ALL \
             SELECT (SELECT min(h.target) FROM history h WHERE h.target > t.target) FROM t \
             WHERE t.target IS NOT NULL \
         ) SELECT target FROM t WHERE target IS NOT NULL",
        &[],
    )?
    .iter()
    .map(|row| Ok(row.try_get(0)?))
    .collect()
}

/// Removes a target's entries older than `before_ms` or not among its newest `keep_last`.
fn prune_target(
    tx: &mut Tx<'_>,
    target: &str,
    before_ms: Option<i64>,
    keep_last: Option<u64>,
) -> Result<(), Failure> {
    if let Some(keep) = keep_last {
        if keep == 0 {
            tx.execute("DELETE FROM history WHERE target = $1", &[&target])?;
        } else {
            // The oldest message kept: every older entry goes.
            let offset = i64::try_from(keep - 1).unwrap_or(i64::MAX);
            let oldest_kept = tx.query_opt(
                "SELECT seq FROM history WHERE target = $1 \
                 AND command IN ('PRIVMSG', 'NOTICE', 'TAGMSG') \
                 ORDER BY seq DESC LIMIT 1 OFFSET $2",
                &[&target, &offset],
            )?;
            if let Some(row) = oldest_kept {
                let oldest_kept: i64 = row.try_get(0)?;
                tx.execute(
                    "DELETE FROM history WHERE target = $1 AND seq < $2",
                    &[&target, &oldest_kept],
                )?;
            }
        }
    }
    if let Some(before_ms) = before_ms {
        tx.execute(
            "DELETE FROM history WHERE target = $1 AND time_ms < $2",
            &[&target, &before_ms],
        )?;
    }
    Ok(())
}

/// Moves what is kept under channel key `from` to `to` ([`Write::RenameChannel`]).
fn rename_channel(
    tx: &mut Tx<'_>,
    from: &str,
    to: &str,
    name: &str,
) -> Result<Result<(), Conflict>, Failure> {
    if from == to {
        tx.execute(
            "UPDATE channels SET name = $2 WHERE key = $1",
            &[&from, &name],
        )?;
        return Ok(Ok(()));
    }
    if channel_exists(tx, from)? {
        if channel_exists(tx, to)? {
            return Ok(Err(Conflict::Exists));
        }
        // Its metadata first (whatever an unregistered `to` had gives way), then the key:
        // lists and access entries follow by ON UPDATE CASCADE.
        tx.execute(
            "DELETE FROM metadata WHERE target = 'c:' || $2 \
             AND key IN (SELECT key FROM metadata WHERE target = 'c:' || $1)",
            &[&from, &to],
        )?;
        tx.execute(
            "UPDATE metadata SET target = 'c:' || $2 WHERE target = 'c:' || $1",
            &[&from, &to],
        )?;
        tx.execute(
            "UPDATE channels SET key = $2, name = $3 WHERE key = $1",
            &[&from, &to, &name],
        )?;
    }
    tx.execute(
        "UPDATE history SET target = $2 WHERE target = $1",
        &[&from, &to],
    )?;
    // Where an account has a row for both keys, the later time stays (in the row of `to`).
    move_target(tx, "read_markers", "account", "time_ms", from, to)?;
    move_target(tx, "conversations", "owner", "last_ms", from, to)?;
    Ok(Ok(()))
}

/// Moves `table`'s rows of target `from` to `to`, one per `owner` (its key with `target`):
/// where an owner has rows for both, the later `time` stays, in the row of `to`. The names are
/// this module's own constants, never input.
fn move_target(
    tx: &mut Tx<'_>,
    table: &str,
    owner: &str,
    time: &str,
    from: &str,
    to: &str,
) -> Result<(), Failure> {
    tx.execute(
        &format!(
            "UPDATE {table} t SET {time} = greatest(t.{time}, o.{time}) FROM {table} o \
             WHERE t.target = $2 AND o.target = $1 AND o.{owner} = t.{owner}"
        ),
        &[&from, &to],
    )?;
    tx.execute(
        &format!(
            "DELETE FROM {table} o USING {table} t \
             WHERE o.target = $1 AND t.target = $2 AND t.{owner} = o.{owner}"
        ),
        &[&from, &to],
    )?;
    tx.execute(
        &format!("UPDATE {table} SET target = $2 WHERE target = $1"),
        &[&from, &to],
    )?;
    Ok(())
}

/// Applies one write. A `Conflict` may come after part of the write was done: the caller runs
/// each write that [`needs_savepoint`] in a savepoint and rolls it back then.
pub(super) fn apply_one(tx: &mut Tx<'_>, write: &Write) -> Result<Result<(), Conflict>, Failure> {
    Ok(match write {
        Write::CreateAccount(account) => {
            let scram = account.scram.as_ref();
            let changed = tx.execute(
                "INSERT INTO accounts (key, name, password_hash, scram_salt, scram_iterations, \
                 scram_stored_key, scram_server_key, created_at, verified, email, always_on) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (key) DO NOTHING",
                &[
                    &account.key,
                    &account.name,
                    &account.password_hash,
                    &scram.map(|s| &s.salt),
                    &scram.map(|s| i64::from(s.iterations)),
                    &scram.map(|s| &s.stored_key),
                    &scram.map(|s| &s.server_key),
                    &account.created_at,
                    &account.verified,
                    &account.email,
                    &account.always_on,
                ],
            )?;
            inserted(changed)
        }
        Write::SetPassword {
            account,
            password_hash,
            scram,
        } => {
            let scram = scram.as_ref();
            found(tx.execute(
                "UPDATE accounts SET password_hash = $2, scram_salt = $3, \
                 scram_iterations = $4, scram_stored_key = $5, scram_server_key = $6 \
                 WHERE key = $1",
                &[
                    account,
                    password_hash,
                    &scram.map(|s| &s.salt),
                    &scram.map(|s| i64::from(s.iterations)),
                    &scram.map(|s| &s.stored_key),
                    &scram.map(|s| &s.server_key),
                ],
            )?)
        }
        Write::SetPresence { account, presence } => {
            match presence {
                Some(p) => tx.execute(
                    // Only for an account that exists (gone: nothing to bring back).
                    "INSERT INTO presences (account, nick, user_name, host, realname, channels) \
                     SELECT $1, $2, $3, $4, $5, $6 \
                     WHERE EXISTS (SELECT 1 FROM accounts WHERE key = $1) \
                     ON CONFLICT (account) DO UPDATE SET nick = excluded.nick, \
                     user_name = excluded.user_name, host = excluded.host, \
                     realname = excluded.realname, channels = excluded.channels",
                    &[account, &p.nick, &p.user, &p.host, &p.realname, &p.channels],
                )?,
                None => tx.execute("DELETE FROM presences WHERE account = $1", &[account])?,
            };
            Ok(())
        }
        Write::SetAlwaysOn { account, value } => found(tx.execute(
            "UPDATE accounts SET always_on = $2 WHERE key = $1",
            &[account, value],
        )?),
        Write::SetVerified { account } => found(tx.execute(
            "UPDATE accounts SET verified = TRUE WHERE key = $1",
            &[account],
        )?),
        // Certificates, access entries, founded channels and metadata go by ON DELETE CASCADE
        // and triggers; conversations and read markers (keyed by account, without a foreign
        // key: a marker may be written for an account the store has not seen) by hand.
        Write::DropAccount { account } => {
            let changed = tx.execute("DELETE FROM accounts WHERE key = $1", &[account])?;
            if changed == 0 {
                return Ok(Err(Conflict::NotFound));
            }
            tx.execute("DELETE FROM conversations WHERE owner = $1", &[account])?;
            tx.execute("DELETE FROM read_markers WHERE account = $1", &[account])?;
            Ok(())
        }
        Write::AddCert {
            account,
            fingerprint,
        } => {
            if exists(
                tx,
                "SELECT 1 FROM certs WHERE fingerprint = $1",
                fingerprint,
            )? {
                Err(Conflict::Exists)
            } else if !account_exists(tx, account)? {
                Err(Conflict::NotFound)
            } else {
                tx.execute(
                    "INSERT INTO certs (fingerprint, account) VALUES ($1, $2)",
                    &[fingerprint, account],
                )?;
                Ok(())
            }
        }
        Write::DelCert {
            account,
            fingerprint,
        } => found(tx.execute(
            "DELETE FROM certs WHERE fingerprint = $1 AND account = $2",
            &[fingerprint, account],
        )?),
        Write::RegisterChannel(channel) => {
            if channel_exists(tx, &channel.key)? {
                return Ok(Err(Conflict::Exists));
            }
            if !account_exists(tx, &channel.founder)? {
                return Ok(Err(Conflict::NotFound));
            }
            let topic = channel.topic.as_ref();
            tx.execute(
                "INSERT INTO channels (key, name, founder, registered_at, topic_text, \
                 topic_set_by, topic_set_at, modes, mode_key, mode_limit) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &channel.key,
                    &channel.name,
                    &channel.founder,
                    &channel.registered_at,
                    &topic.map(|t| &t.text),
                    &topic.map(|t| &t.set_by),
                    &topic.map(|t| t.set_at),
                    &channel.modes,
                    &channel.mode_key,
                    &channel.mode_limit.map(i64::from),
                ],
            )?;
            insert_lists(tx, &channel.key, &channel.lists)?;
            for entry in &channel.access {
                if !account_exists(tx, &entry.account)? {
                    return Ok(Err(Conflict::NotFound));
                }
                upsert_access(tx, &channel.key, &entry.account, entry.level)?;
            }
            Ok(())
        }
        // Topic, lists, access entries and metadata go by ON DELETE CASCADE and a trigger.
        Write::DropChannel { channel } => {
            found(tx.execute("DELETE FROM channels WHERE key = $1", &[channel])?)
        }
        Write::SetTopic { channel, topic } => {
            let topic = topic.as_ref();
            found(tx.execute(
                "UPDATE channels SET topic_text = $2, topic_set_by = $3, topic_set_at = $4 \
                 WHERE key = $1",
                &[
                    channel,
                    &topic.map(|t| &t.text),
                    &topic.map(|t| &t.set_by),
                    &topic.map(|t| t.set_at),
                ],
            )?)
        }
        Write::SetModes {
            channel,
            modes,
            key,
            limit,
        } => found(tx.execute(
            "UPDATE channels SET modes = $2, mode_key = $3, mode_limit = $4 WHERE key = $1",
            &[channel, modes, key, &limit.map(i64::from)],
        )?),
        Write::SetLists { channel, lists } => {
            if !channel_exists(tx, channel)? {
                return Ok(Err(Conflict::NotFound));
            }
            tx.execute("DELETE FROM channel_lists WHERE channel = $1", &[channel])?;
            insert_lists(tx, channel, lists)?;
            Ok(())
        }
        Write::SetAccess {
            channel,
            account,
            level,
        } => {
            if !channel_exists(tx, channel)? {
                return Ok(Err(Conflict::NotFound));
            }
            match level {
                Some(level) => {
                    if !account_exists(tx, account)? {
                        return Ok(Err(Conflict::NotFound));
                    }
                    upsert_access(tx, channel, account, *level)?;
                    Ok(())
                }
                None => found(tx.execute(
                    "DELETE FROM channel_access WHERE channel = $1 AND account = $2",
                    &[channel, account],
                )?),
            }
        }
        Write::Append(record) => append(tx, record)?,
        Write::Redact { msgid, redaction } => redact(tx, msgid, redaction)?,
        Write::RenameChannel { from, to, name } => rename_channel(tx, from, to, name)?,
        Write::Converse {
            owner,
            peer,
            target,
            time_ms,
        } => {
            tx.execute(
                "INSERT INTO conversations AS c (owner, target, peer, last_ms) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (owner, target) DO UPDATE SET peer = excluded.peer, \
                 last_ms = greatest(c.last_ms, excluded.last_ms)",
                &[owner, target, peer, time_ms],
            )?;
            Ok(())
        }
        Write::SetReadMarker {
            account,
            target,
            time_ms,
        } => {
            tx.execute(
                "INSERT INTO read_markers AS r (account, target, time_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (account, target) DO UPDATE SET time_ms = excluded.time_ms \
                 WHERE excluded.time_ms > r.time_ms",
                &[account, target, time_ms],
            )?;
            Ok(())
        }
        Write::SetMetadata { target, key, value } => {
            match value {
                Some(value) => tx.execute(
                    "INSERT INTO metadata (target, key, value) VALUES ($1, $2, $3) \
                     ON CONFLICT (target, key) DO UPDATE SET value = excluded.value",
                    &[target, key, value],
                )?,
                None => tx.execute(
                    "DELETE FROM metadata WHERE target = $1 AND key = $2",
                    &[target, key],
                )?,
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
                    None => history_targets(tx)?
                        .into_iter()
                        .filter(|t| kind.covers(t) && !except.contains(t))
                        .collect(),
                };
                for target in &targets {
                    prune_target(tx, target, *before_ms, *keep_last)?;
                }
            }
            Ok(())
        }
        Write::AddFile(file) => {
            let changed = tx.execute(
                "INSERT INTO files (id, owner, name, content_type, size, sha256, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                &[
                    &file.id,
                    &file.owner,
                    &file.name,
                    &file.content_type,
                    // A size past i64::MAX is no file anyone stores; saturate rather than wrap.
                    &i64::try_from(file.size).unwrap_or(i64::MAX),
                    &file.sha256,
                    &file.created_ms,
                ],
            )?;
            inserted(changed)
        }
        Write::DeleteFile { id } => found(tx.execute("DELETE FROM files WHERE id = $1", &[id])?),
    })
}
