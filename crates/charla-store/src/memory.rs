//! [`MemoryStore`]: the [`Store`] contract in maps behind one mutex, for tests.
//!
//! It behaves like [`crate::SqliteStore`] in every outcome and ordering (the shared suite in
//! `tests/suite.rs` checks both), but keeps nothing across a restart. Its
//! [`backup`](Store::backup) writes a real SQLite file: the records are copied into a fresh
//! [`SqliteStore`] at the destination, so a test can turn a memory store into a database file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::Store;
use crate::error::{Conflict, StoreError};
use crate::record::{AccessRecord, AccountRecord, ChannelRecord, Write};
use crate::sqlite::{SqliteStore, write_new_file};

/// The store in memory. See the [module documentation](self).
#[derive(Debug, Default)]
pub struct MemoryStore {
    // A std mutex: held only for map operations, never across I/O or an await.
    data: Mutex<Data>,
}

#[derive(Debug, Default, Clone)]
struct Data {
    accounts: BTreeMap<String, AccountRecord>,
    /// Fingerprint → account key.
    certs: BTreeMap<String, String>,
    /// Each channel's `access` is kept sorted by account, one entry per account.
    channels: BTreeMap<String, ChannelRecord>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // Every write checks before it changes anything, so a panic cannot leave half a write.
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Data {
    /// Applies one write, checking everything before changing anything, so that a conflict
    /// leaves the data as it was.
    fn apply(&mut self, write: &Write) -> Result<(), Conflict> {
        match write {
            Write::CreateAccount(account) => {
                if self.accounts.contains_key(&account.key) {
                    return Err(Conflict::Exists);
                }
                self.accounts.insert(account.key.clone(), account.clone());
            }
            Write::SetPassword {
                account,
                password_hash,
                scram,
            } => {
                let account = self.accounts.get_mut(account).ok_or(Conflict::NotFound)?;
                account.password_hash.clone_from(password_hash);
                account.scram.clone_from(scram);
            }
            Write::SetVerified { account } => {
                self.accounts
                    .get_mut(account)
                    .ok_or(Conflict::NotFound)?
                    .verified = true;
            }
            Write::DropAccount { account } => {
                self.accounts.remove(account).ok_or(Conflict::NotFound)?;
                self.certs.retain(|_, owner| owner != account);
                self.channels
                    .retain(|_, channel| &channel.founder != account);
                for channel in self.channels.values_mut() {
                    channel.access.retain(|entry| &entry.account != account);
                }
            }
            Write::AddCert {
                account,
                fingerprint,
            } => {
                if self.certs.contains_key(fingerprint) {
                    return Err(Conflict::Exists);
                }
                if !self.accounts.contains_key(account) {
                    return Err(Conflict::NotFound);
                }
                self.certs.insert(fingerprint.clone(), account.clone());
            }
            Write::DelCert {
                account,
                fingerprint,
            } => {
                if self.certs.get(fingerprint) != Some(account) {
                    return Err(Conflict::NotFound);
                }
                self.certs.remove(fingerprint);
            }
            Write::RegisterChannel(channel) => {
                if self.channels.contains_key(&channel.key) {
                    return Err(Conflict::Exists);
                }
                let known = |account: &String| self.accounts.contains_key(account);
                if !known(&channel.founder) || !channel.access.iter().all(|e| known(&e.account)) {
                    return Err(Conflict::NotFound);
                }
                // One entry per account, the last given winning, ordered by account.
                let access: BTreeMap<_, _> = channel
                    .access
                    .iter()
                    .map(|entry| (entry.account.clone(), entry.level))
                    .collect();
                let mut channel = channel.clone();
                channel.access = access
                    .into_iter()
                    .map(|(account, level)| AccessRecord { account, level })
                    .collect();
                self.channels.insert(channel.key.clone(), channel);
            }
            Write::DropChannel { channel } => {
                self.channels.remove(channel).ok_or(Conflict::NotFound)?;
            }
            Write::SetTopic { channel, topic } => {
                self.channel_mut(channel)?.topic.clone_from(topic);
            }
            Write::SetModes {
                channel,
                modes,
                key,
                limit,
            } => {
                let channel = self.channel_mut(channel)?;
                channel.modes.clone_from(modes);
                channel.mode_key.clone_from(key);
                channel.mode_limit = *limit;
            }
            Write::SetLists { channel, lists } => {
                self.channel_mut(channel)?.lists.clone_from(lists);
            }
            Write::SetAccess {
                channel,
                account,
                level,
            } => {
                let account_known = self.accounts.contains_key(account);
                let access = &mut self.channel_mut(channel)?.access;
                let position = access.binary_search_by(|entry| entry.account.cmp(account));
                match (level, position) {
                    (Some(_), _) if !account_known => return Err(Conflict::NotFound),
                    (Some(level), Ok(at)) => access[at].level = *level,
                    (Some(level), Err(at)) => access.insert(
                        at,
                        AccessRecord {
                            account: account.clone(),
                            level: *level,
                        },
                    ),
                    (None, Ok(at)) => {
                        access.remove(at);
                    }
                    (None, Err(_)) => return Err(Conflict::NotFound),
                }
            }
        }
        Ok(())
    }

    fn channel_mut(&mut self, key: &str) -> Result<&mut ChannelRecord, Conflict> {
        self.channels.get_mut(key).ok_or(Conflict::NotFound)
    }
}

impl Store for MemoryStore {
    fn account(&self, key: &str) -> Result<Option<AccountRecord>, StoreError> {
        Ok(self.data().accounts.get(key).cloned())
    }

    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<AccountRecord>, StoreError> {
        let data = self.data();
        Ok(data
            .certs
            .get(fingerprint)
            .and_then(|account| data.accounts.get(account))
            .cloned())
    }

    fn certs(&self, account: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .data()
            .certs
            .iter()
            .filter(|(_, owner)| *owner == account)
            .map(|(fingerprint, _)| fingerprint.clone())
            .collect())
    }

    fn account_count(&self) -> Result<u64, StoreError> {
        Ok(self.data().accounts.len() as u64)
    }

    fn channel(&self, key: &str) -> Result<Option<ChannelRecord>, StoreError> {
        Ok(self.data().channels.get(key).cloned())
    }

    fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        Ok(self.data().channels.values().cloned().collect())
    }

    fn channels_of(&self, founder: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .data()
            .channels
            .values()
            .filter(|channel| channel.founder == founder)
            .map(|channel| channel.key.clone())
            .collect())
    }

    fn apply(&self, writes: &[Write]) -> Result<Vec<Result<(), Conflict>>, StoreError> {
        let mut data = self.data();
        Ok(writes.iter().map(|write| data.apply(write)).collect())
    }

    /// Copies the records into a fresh SQLite database at `dest` (see the module documentation).
    fn backup(&self, dest: &Path) -> Result<(), StoreError> {
        // Copy under the lock, write without it.
        let data = self.data().clone();
        let mut writes: Vec<Write> = data
            .accounts
            .into_values()
            .map(Write::CreateAccount)
            .collect();
        writes.extend(
            data.certs
                .into_iter()
                .map(|(fingerprint, account)| Write::AddCert {
                    account,
                    fingerprint,
                }),
        );
        writes.extend(data.channels.into_values().map(Write::RegisterChannel));
        write_new_file(dest, |partial| {
            let store = SqliteStore::open(partial)?;
            let outcomes = store.apply(&writes)?;
            if let Some((write, conflict)) = writes
                .iter()
                .zip(outcomes)
                .find_map(|(write, outcome)| outcome.err().map(|conflict| (write, conflict)))
            {
                return Err(StoreError::Corrupt(format!(
                    "the in-memory store is inconsistent, its backup was not written: \
                     {write:?}: {conflict}"
                )));
            }
            Ok(())
        })
    }
}
