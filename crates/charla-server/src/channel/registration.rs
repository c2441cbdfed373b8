//! A registered channel (ChanServ): its founder and access list, and how its state goes to
//! and comes from the store.
//!
//! A registered channel stays in the server's map when it empties, so its topic, modes, lists
//! and access live on. Every change to them is written to the store by the [`Channel`] method
//! that makes it, under the channel's lock, so the store receives the changes in the order the
//! members saw them.

use std::time::SystemTime;

use charla_proto::casemap::casefold;
use charla_store::{
    AccessLevel, AccessRecord, ChannelRecord, ListEntryRecord, StoreHandle, TopicRecord, Write,
};

use crate::channel::{Channel, ChannelModes, ChannelState, ListEntry, Topic};
use crate::timefmt::{from_unix_millis as from_millis, unix_millis as to_millis};

/// What a registered channel has beyond an ordinary one.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The founder's account key.
    pub founder: String,
    /// Who gets op or voice on join, by account key.
    pub access: Vec<AccessRecord>,
    /// When it was registered.
    pub registered_at: SystemTime,
    /// Where its changes go.
    pub store: StoreHandle,
}

impl Registration {
    /// The level `account` (a key) has here: the founder is an operator.
    pub fn level_of(&self, account: &str) -> Option<AccessLevel> {
        if account == self.founder {
            return Some(AccessLevel::Op);
        }
        self.access
            .iter()
            .find(|a| a.account == account)
            .map(|a| a.level)
    }
}

impl ChannelModes {
    /// The flag letters (`Cimnst` order), as MODE shows them and a record keeps them.
    pub(crate) fn flag_letters(&self) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.no_ctcp, 'C'),
            (self.invite_only, 'i'),
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.secret, 's'),
            (self.topic_lock, 't'),
        ] {
            if on {
                s.push(c);
            }
        }
        s
    }

    /// The modes of a record.
    fn from_record(flags: &str, key: Option<&str>, limit: Option<u32>) -> Self {
        ChannelModes {
            invite_only: flags.contains('i'),
            moderated: flags.contains('m'),
            no_external: flags.contains('n'),
            secret: flags.contains('s'),
            no_ctcp: flags.contains('C'),
            topic_lock: flags.contains('t'),
            key: key.map(str::to_owned),
            limit: limit.map(|l| l as usize),
        }
    }
}

impl ChannelState {
    /// Its list entries as records, `+b` then `+e` then `+I`.
    fn list_records(&self) -> Vec<ListEntryRecord> {
        [('b', &self.bans), ('e', &self.excepts), ('I', &self.invex)]
            .into_iter()
            .flat_map(|(mode, list)| {
                list.iter().map(move |e| ListEntryRecord {
                    mode,
                    mask: e.mask.clone(),
                    set_by: e.set_by.clone(),
                    set_at: to_millis(e.set_at),
                })
            })
            .collect()
    }

    /// The limit as a record keeps it.
    fn limit_record(&self) -> Option<u32> {
        self.modes.limit.and_then(|l| u32::try_from(l).ok())
    }

    /// Its topic as a record.
    fn topic_record(&self) -> Option<TopicRecord> {
        self.topic.as_ref().map(|t| TopicRecord {
            text: t.text.clone(),
            set_by: t.set_by.clone(),
            set_at: to_millis(t.set_at),
        })
    }

    /// Writes its modes and lists to the store, if it is registered.
    pub(crate) fn persist_modes(&self, key: &str) {
        if let Some(reg) = &self.registration {
            reg.store.write_later(Write::SetModes {
                channel: key.to_owned(),
                modes: self.modes.flag_letters(),
                key: self.modes.key.clone(),
                limit: self.limit_record(),
            });
            reg.store.write_later(Write::SetLists {
                channel: key.to_owned(),
                lists: self.list_records(),
            });
        }
    }

    /// Writes its topic to the store, if it is registered.
    pub(crate) fn persist_topic(&self, key: &str) {
        if let Some(reg) = &self.registration {
            reg.store.write_later(Write::SetTopic {
                channel: key.to_owned(),
                topic: self.topic_record(),
            });
        }
    }
}

impl Channel {
    /// The store's key of this channel.
    pub fn key(&self) -> String {
        casefold(&self.name.read()).into_owned()
    }

    /// A registered channel as the store kept it.
    pub fn from_record(record: ChannelRecord, store: &StoreHandle) -> Self {
        let ch = Channel::new(&record.name);
        {
            let mut st = ch.state.lock();
            st.modes = ChannelModes::from_record(
                &record.modes,
                record.mode_key.as_deref(),
                record.mode_limit,
            );
            st.topic = record.topic.map(|t| Topic {
                text: t.text,
                set_by: t.set_by,
                set_at: from_millis(t.set_at),
            });
            for e in record.lists {
                // A mask that no longer compiles (it was stored by an older rule) is left out.
                let Some(entry) = ListEntry::new(e.mode, &e.mask, &e.set_by, from_millis(e.set_at))
                else {
                    continue;
                };
                match e.mode {
                    'b' => st.bans.push(entry),
                    'e' => st.excepts.push(entry),
                    _ => st.invex.push(entry),
                }
            }
            st.registration = Some(Registration {
                founder: record.founder,
                access: record.access,
                registered_at: from_millis(record.registered_at),
                store: store.clone(),
            });
        }
        ch
    }

    /// The record that registers this channel now, founded by `founder` (an account key).
    pub fn to_record(&self, founder: &str) -> ChannelRecord {
        let st = self.state.lock();
        ChannelRecord {
            key: self.key(),
            name: self.name(),
            founder: founder.to_owned(),
            registered_at: to_millis(SystemTime::now()),
            topic: st.topic_record(),
            modes: st.modes.flag_letters(),
            mode_key: st.modes.key.clone(),
            mode_limit: st.limit_record(),
            lists: st.list_records(),
            access: Vec::new(),
        }
    }

    /// Marks the channel registered (after the store took its record).
    pub fn set_registration(&self, registration: Option<Registration>) {
        self.state.lock().registration = registration;
    }

    /// Its registration, if it is registered.
    pub fn registration(&self) -> Option<Registration> {
        self.state.lock().registration.clone()
    }

    /// Gives `account` (a key) `level` here (`None` takes it away), in memory and in the store.
    /// Returns whether the channel is registered.
    pub fn set_access(&self, account: &str, level: Option<AccessLevel>) -> bool {
        let mut st = self.state.lock();
        let key = self.key();
        let Some(reg) = st.registration.as_mut() else {
            return false;
        };
        reg.access.retain(|a| a.account != account);
        if let Some(level) = level {
            reg.access.push(AccessRecord {
                account: account.to_owned(),
                level,
            });
            reg.access.sort_by(|a, b| a.account.cmp(&b.account));
        }
        reg.store.write_later(Write::SetAccess {
            channel: key,
            account: account.to_owned(),
            level,
        });
        true
    }
}
