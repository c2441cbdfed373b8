//! [`MemoryStore`]: the [`Store`] contract in maps behind one mutex, for tests.
//!
//! It behaves like [`crate::SqliteStore`] in every outcome and ordering (the shared suite in
//! `tests/suite.rs` checks both), but keeps nothing across a restart. Its
//! [`backup`](Store::backup) writes a real SQLite file: the records are copied into a fresh
//! [`SqliteStore`] at the destination, so a test can turn a memory store into a database file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::Store;
use crate::error::{Conflict, StoreError};
use crate::history::{
    self, HistoryQuery, HistoryRecord, Point, TargetRecord, finish_targets, seq_value,
};
use crate::record::{AccessRecord, AccountRecord, ChannelRecord, PresenceRecord, Write};
use crate::sqlite::{SqliteStore, write_new_file};
use crate::{FileRecord, Kinds, SearchQuery};

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
    /// Target → its entries in `seq` order (appends only ever push at the end).
    history: BTreeMap<String, Vec<HistoryRecord>>,
    /// Msgid → (target, seq) of its entry.
    msgids: HashMap<String, (String, u64)>,
    /// The last `seq` given; never goes back, even when the entries are pruned.
    last_seq: u64,
    /// (owner, target) → (peer, last_ms).
    conversations: BTreeMap<(String, String), (String, i64)>,
    /// (account, target) → time_ms.
    read_markers: BTreeMap<(String, String), i64>,
    /// (target, key) -> value ([`Write::SetMetadata`]).
    metadata: BTreeMap<(String, String), String>,
    /// Account → its kept presence ([`Write::SetPresence`]).
    presences: BTreeMap<String, PresenceRecord>,
    /// File id → its record.
    files: BTreeMap<String, FileRecord>,
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
            Write::SetAlwaysOn { account, value } => {
                self.accounts
                    .get_mut(account)
                    .ok_or(Conflict::NotFound)?
                    .always_on = *value;
            }
            Write::SetPresence { account, presence } => match presence {
                Some(presence) => {
                    if self.accounts.contains_key(account) {
                        self.presences.insert(account.clone(), presence.clone());
                    }
                }
                None => {
                    self.presences.remove(account);
                }
            },
            Write::DropAccount { account } => {
                self.accounts.remove(account).ok_or(Conflict::NotFound)?;
                self.certs.retain(|_, owner| owner != account);
                self.presences.remove(account);
                self.conversations.retain(|(owner, _), _| owner != account);
                self.read_markers.retain(|(reader, _), _| reader != account);
                let mut gone = vec![format!("a:{account}")];
                self.channels.retain(|key, channel| {
                    let keep = &channel.founder != account;
                    if !keep {
                        gone.push(format!("c:{key}"));
                    }
                    keep
                });
                self.metadata
                    .retain(|(target, _), _| !gone.contains(target));
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
                let gone = format!("c:{channel}");
                self.metadata.retain(|(target, _), _| *target != gone);
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
            Write::Append(record) => {
                debug_assert!(history::well_formed(record), "{record:?}");
                if self.msgids.contains_key(&record.msgid) {
                    return Err(Conflict::Exists);
                }
                self.last_seq += 1;
                let mut record = record.clone();
                record.seq = self.last_seq;
                self.msgids
                    .insert(record.msgid.clone(), (record.target.clone(), record.seq));
                let entries = self.history.entry(record.target.clone()).or_default();
                // Never earlier than the target's newest entry (see `Write::Append`).
                if let Some(last) = entries.last() {
                    record.time_ms = record.time_ms.max(last.time_ms);
                }
                entries.push(record);
            }
            Write::Redact { msgid, redaction } => {
                debug_assert!(history::well_formed(redaction), "{redaction:?}");
                if self.msgids.contains_key(&redaction.msgid) {
                    return Err(Conflict::Exists);
                }
                let entries = self
                    .history
                    .get_mut(&redaction.target)
                    .ok_or(Conflict::NotFound)?;
                let at = entries
                    .iter()
                    .position(|e| &e.msgid == msgid && Kinds::Messages.holds(e))
                    .ok_or(Conflict::NotFound)?;
                entries.remove(at);
                self.msgids.remove(msgid);
                // The target has the redaction now, so it is never left empty.
                self.apply(&Write::Append(redaction.clone()))?;
            }
            Write::Converse {
                owner,
                peer,
                target,
                time_ms,
            } => {
                let (stored_peer, last_ms) = self
                    .conversations
                    .entry((owner.clone(), target.clone()))
                    .or_insert_with(|| (peer.clone(), *time_ms));
                stored_peer.clone_from(peer);
                *last_ms = (*last_ms).max(*time_ms);
            }
            Write::SetReadMarker {
                account,
                target,
                time_ms,
            } => {
                let marker = self
                    .read_markers
                    .entry((account.clone(), target.clone()))
                    .or_insert(*time_ms);
                *marker = (*marker).max(*time_ms);
            }
            Write::SetMetadata { target, key, value } => {
                let entry = (target.clone(), key.clone());
                match value {
                    Some(value) => {
                        self.metadata.insert(entry, value.clone());
                    }
                    None => {
                        self.metadata.remove(&entry);
                    }
                }
            }
            Write::RenameChannel { from, to, name } => self.rename_channel(from, to, name)?,
            Write::AddFile(file) => {
                if self.files.contains_key(&file.id) {
                    return Err(Conflict::Exists);
                }
                self.files.insert(file.id.clone(), file.clone());
            }
            Write::DeleteFile { id } => {
                self.files.remove(id).ok_or(Conflict::NotFound)?;
            }
            Write::PruneHistory {
                target,
                kind,
                except,
                before_ms,
                keep_last,
            } => {
                let targets: Vec<String> = match target {
                    Some(target) => vec![target.clone()],
                    None => self
                        .history
                        .keys()
                        .filter(|t| kind.covers(t) && !except.contains(t))
                        .cloned()
                        .collect(),
                };
                for target in targets {
                    self.prune(&target, *before_ms, *keep_last);
                }
            }
        }
        Ok(())
    }

    /// Moves what is kept under channel key `from` to `to` ([`Write::RenameChannel`]).
    fn rename_channel(&mut self, from: &str, to: &str, name: &str) -> Result<(), Conflict> {
        if from == to {
            if let Some(channel) = self.channels.get_mut(from) {
                name.clone_into(&mut channel.name);
            }
            return Ok(());
        }
        if self.channels.contains_key(from) && self.channels.contains_key(to) {
            return Err(Conflict::Exists);
        }
        if let Some(mut channel) = self.channels.remove(from) {
            to.clone_into(&mut channel.key);
            name.clone_into(&mut channel.name);
            self.channels.insert(to.to_owned(), channel);
            let (old, new) = (format!("c:{from}"), format!("c:{to}"));
            let moved: Vec<_> = self
                .metadata
                .keys()
                .filter(|(target, _)| *target == old)
                .cloned()
                .collect();
            for key in moved {
                if let Some(value) = self.metadata.remove(&key) {
                    self.metadata.insert((new.clone(), key.1), value);
                }
            }
        }
        if let Some(moved) = self.history.remove(from) {
            for entry in &moved {
                if let Some(at) = self.msgids.get_mut(&entry.msgid) {
                    to.clone_into(&mut at.0);
                }
            }
            let held = self.history.remove(to).unwrap_or_default();
            let mut merged: Vec<HistoryRecord> = held
                .into_iter()
                .chain(moved.into_iter().map(|mut entry| {
                    to.clone_into(&mut entry.target);
                    entry
                }))
                .collect();
            merged.sort_by_key(|entry| entry.seq);
            self.history.insert(to.to_owned(), merged);
        }
        let markers: Vec<_> = self
            .read_markers
            .keys()
            .filter(|(_, target)| target == from)
            .cloned()
            .collect();
        for key in markers {
            if let Some(time_ms) = self.read_markers.remove(&key) {
                let kept = self
                    .read_markers
                    .entry((key.0, to.to_owned()))
                    .or_insert(time_ms);
                *kept = (*kept).max(time_ms);
            }
        }
        let conversations: Vec<_> = self
            .conversations
            .keys()
            .filter(|(_, target)| target == from)
            .cloned()
            .collect();
        for key in conversations {
            if let Some((peer, last_ms)) = self.conversations.remove(&key) {
                let kept = self
                    .conversations
                    .entry((key.0, to.to_owned()))
                    .or_insert((peer, last_ms));
                kept.1 = kept.1.max(last_ms);
            }
        }
        Ok(())
    }

    /// Removes a target's entries older than `before_ms` or than its newest `keep_last`
    /// messages.
    fn prune(&mut self, target: &str, before_ms: Option<i64>, keep_last: Option<u64>) {
        let Some(entries) = self.history.get_mut(target) else {
            return;
        };
        // The entries before index `cut` are older than the newest `keep_last` messages: the
        // cut is at the oldest message kept (everything goes when none is kept).
        let cut = keep_last.map_or(0, |keep| match usize::try_from(keep) {
            Ok(0) => entries.len(),
            Ok(keep) => entries
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, e)| Kinds::Messages.holds(e))
                .nth(keep - 1)
                .map_or(0, |(i, _)| i),
            Err(_) => 0,
        });
        let mut index = 0;
        entries.retain(|entry| {
            let keep = index >= cut && before_ms.is_none_or(|before| entry.time_ms >= before);
            index += 1;
            if !keep {
                self.msgids.remove(&entry.msgid);
            }
            keep
        });
        if entries.is_empty() {
            self.history.remove(target);
        }
    }

    /// The entry of `target` with this msgid, as a query anchor.
    fn anchor(&self, target: &str, msgid: &str) -> Option<Point> {
        let (entry_target, seq) = self.msgids.get(msgid)?;
        if entry_target != target {
            return None;
        }
        let entries = self.history.get(target)?;
        let at = entries.binary_search_by_key(seq, |entry| entry.seq).ok()?;
        Some(Point::Entry {
            seq: seq_value(*seq),
            time_ms: entries[at].time_ms,
        })
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

    fn presences(&self) -> Result<Vec<PresenceRecord>, StoreError> {
        Ok(self.data().presences.values().cloned().collect())
    }

    fn presence(&self, account: &str) -> Result<Option<PresenceRecord>, StoreError> {
        Ok(self.data().presences.get(account).cloned())
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

    fn history_of(
        &self,
        target: &str,
        query: &HistoryQuery,
        limit: usize,
        kinds: Kinds,
    ) -> Result<Option<Vec<HistoryRecord>>, StoreError> {
        let data = self.data();
        let plan = history::plan(query, limit, |msgid| {
            Ok::<_, StoreError>(data.anchor(target, msgid))
        })?;
        let Some(scans) = plan else {
            return Ok(None);
        };
        let entries = data.history.get(target).map_or(&[][..], Vec::as_slice);
        let mut found = Vec::new();
        for scan in scans {
            let mut matching: Vec<&HistoryRecord> = entries
                .iter()
                .filter(|entry| kinds.holds(entry))
                .filter(|entry| scan.conditions.iter().all(|c| c.holds(entry)))
                .collect();
            matching.sort_by(|a, b| scan.order(a, b));
            found.extend(matching.into_iter().take(scan.limit).cloned());
        }
        found.sort_by_key(|entry| entry.seq);
        Ok(Some(found))
    }

    fn history_targets(
        &self,
        owner: &str,
        channels: &[String],
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<TargetRecord>, StoreError> {
        let (low, high) = (from_ms.min(to_ms), from_ms.max(to_ms));
        let data = self.data();
        let mut channels: Vec<&String> = channels.iter().collect();
        channels.sort();
        channels.dedup();
        let mut targets: Vec<TargetRecord> = channels
            .into_iter()
            .filter_map(|channel| {
                let last_ms = data.history.get(channel)?.iter().map(|e| e.time_ms).max()?;
                Some(TargetRecord {
                    target: channel.clone(),
                    name: channel.clone(),
                    last_ms,
                })
            })
            .collect();
        targets.extend(
            data.conversations
                .iter()
                .filter(|((key, _), _)| key == owner)
                .map(|((_, target), (peer, last_ms))| TargetRecord {
                    target: target.clone(),
                    name: peer.clone(),
                    last_ms: *last_ms,
                }),
        );
        targets.retain(|target| (low..=high).contains(&target.last_ms));
        Ok(finish_targets(targets, limit))
    }

    fn read_marker(&self, account: &str, target: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .data()
            .read_markers
            .get(&(account.to_owned(), target.to_owned()))
            .copied())
    }

    fn metadata(&self, target: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .data()
            .metadata
            .iter()
            .filter(|((t, _), _)| t == target)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect())
    }

    fn history_count(&self) -> Result<u64, StoreError> {
        Ok(self.data().msgids.len() as u64)
    }

    fn search(
        &self,
        owner: &str,
        targets: &[String],
        query: &SearchQuery,
    ) -> Result<Vec<HistoryRecord>, StoreError> {
        let wanted = query.words();
        if wanted.is_empty() || query.limit == 0 {
            return Ok(Vec::new());
        }
        let data = self.data();
        let mut keys: Vec<&String> = targets.iter().collect();
        if !owner.is_empty() {
            keys.extend(
                data.conversations
                    .iter()
                    .filter(|((o, _), _)| o == owner)
                    .map(|((_, target), _)| target),
            );
        }
        keys.sort();
        keys.dedup();
        let mut found: Vec<HistoryRecord> = keys
            .into_iter()
            .filter_map(|key| data.history.get(key))
            .flatten()
            .filter(|e| matches!(e.command.as_str(), "PRIVMSG" | "NOTICE"))
            .filter(|e| query.after_ms.is_none_or(|t| e.time_ms > t))
            .filter(|e| query.before_ms.is_none_or(|t| e.time_ms < t))
            .filter(|e| {
                let text = e.params.get(1..).map(|p| p.join("\n")).unwrap_or_default();
                let have = history::words(&text);
                wanted.iter().all(|w| have.contains(w))
            })
            .cloned()
            .collect();
        found.sort_by_key(|e| e.seq);
        let skip = found.len().saturating_sub(query.limit);
        Ok(found.split_off(skip))
    }

    fn file(&self, id: &str) -> Result<Option<FileRecord>, StoreError> {
        Ok(self.data().files.get(id).cloned())
    }

    fn files_of(&self, owner: &str) -> Result<Vec<FileRecord>, StoreError> {
        let mut files: Vec<FileRecord> = self
            .data()
            .files
            .values()
            .filter(|file| file.owner == owner)
            .cloned()
            .collect();
        files.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(files)
    }

    fn files_size(&self, owner: &str) -> Result<u64, StoreError> {
        Ok(self
            .data()
            .files
            .values()
            .filter(|file| file.owner == owner)
            .fold(0u64, |total, file| total.saturating_add(file.size)))
    }

    fn files_before(&self, before_ms: i64, limit: usize) -> Result<Vec<FileRecord>, StoreError> {
        let mut files: Vec<FileRecord> = self
            .data()
            .files
            .values()
            .filter(|file| file.created_ms < before_ms)
            .cloned()
            .collect();
        files.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        files.truncate(limit);
        Ok(files)
    }

    fn file_hash_used(&self, sha256: &str) -> Result<bool, StoreError> {
        Ok(self.data().files.values().any(|file| file.sha256 == sha256))
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
        // History in `seq` order, so the copy keeps the order (its `seq`s are its own).
        let mut entries: Vec<HistoryRecord> = data.history.into_values().flatten().collect();
        entries.sort_by_key(|entry| entry.seq);
        writes.extend(entries.into_iter().map(Write::Append));
        writes.extend(
            data.conversations
                .into_iter()
                .map(|((owner, target), (peer, time_ms))| Write::Converse {
                    owner,
                    peer,
                    target,
                    time_ms,
                }),
        );
        writes.extend(
            data.read_markers
                .into_iter()
                .map(|((account, target), time_ms)| Write::SetReadMarker {
                    account,
                    target,
                    time_ms,
                }),
        );
        writes.extend(
            data.metadata
                .into_iter()
                .map(|((target, key), value)| Write::SetMetadata {
                    target,
                    key,
                    value: Some(value),
                }),
        );
        writes.extend(data.files.into_values().map(Write::AddFile));
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
