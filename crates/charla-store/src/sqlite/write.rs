//! Applying one [`Write`]: the statements, and the checks that decide its [`Conflict`].

use rusqlite::{Connection, params};

use crate::error::Conflict;
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

/// Applies one write. A `Conflict` may come after part of the write was done: the caller runs
/// each write in a savepoint and rolls it back then.
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
                     email) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
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
        Write::SetVerified { account } => found(
            conn.prepare_cached("UPDATE accounts SET verified = 1 WHERE key = ?1")?
                .execute([account])?,
        ),
        // Certificates, access entries and founded channels go by ON DELETE CASCADE.
        Write::DropAccount { account } => found(
            conn.prepare_cached("DELETE FROM accounts WHERE key = ?1")?
                .execute([account])?,
        ),
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
    })
}
