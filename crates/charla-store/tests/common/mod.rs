//! Small builders shared by the test files: records that read like the test's story.

#![allow(dead_code)] // each test file uses a different part of this module

use charla_store::{
    AccessLevel, AccessRecord, AccountRecord, ChannelRecord, HistoryRecord, ListEntryRecord,
    ScramRecord, TopicRecord,
};

/// An account whose key is `name` folded to lowercase (as the server would fold ASCII names).
pub fn account(name: &str) -> AccountRecord {
    AccountRecord {
        key: name.to_lowercase(),
        name: name.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash-of-{name}"),
        scram: None,
        created_at: 1_700_000_000_000,
        verified: false,
        email: Some(format!("{}@example.org", name.to_lowercase())),
        always_on: None,
    }
}

pub fn scram(seed: u8) -> ScramRecord {
    ScramRecord {
        salt: vec![seed; 16],
        iterations: 4096,
        stored_key: vec![seed.wrapping_add(1); 32],
        server_key: vec![seed.wrapping_add(2); 32],
    }
}

/// A registered channel with no topic, modes "nt", no lists and no access entries.
pub fn channel(name: &str, founder: &str) -> ChannelRecord {
    ChannelRecord {
        key: name.to_lowercase(),
        name: name.to_owned(),
        founder: founder.to_owned(),
        registered_at: 1_700_000_000_500,
        topic: None,
        modes: "nt".to_owned(),
        mode_key: None,
        mode_limit: None,
        lists: Vec::new(),
        access: Vec::new(),
    }
}

pub fn topic(text: &str, set_by: &str) -> TopicRecord {
    TopicRecord {
        text: text.to_owned(),
        set_by: set_by.to_owned(),
        set_at: 1_700_000_001_000,
    }
}

pub fn ban(mask: &str) -> ListEntryRecord {
    list_entry('b', mask)
}

pub fn list_entry(mode: char, mask: &str) -> ListEntryRecord {
    ListEntryRecord {
        mode,
        mask: mask.to_owned(),
        set_by: "alice".to_owned(),
        set_at: 1_700_000_002_000,
    }
}

pub fn access(account: &str, level: AccessLevel) -> AccessRecord {
    AccessRecord {
        account: account.to_owned(),
        level,
    }
}

/// A lowercase hex SHA-256-looking fingerprint made from a seed.
pub fn fingerprint(seed: u8) -> String {
    format!("{seed:02x}").repeat(32)
}

/// A PRIVMSG to `target` with this msgid and time, from alice, whose text names the msgid. Its
/// `seq` is 0, as a write gives it.
pub fn message(target: &str, msgid: &str, time_ms: i64) -> HistoryRecord {
    HistoryRecord {
        seq: 0,
        target: target.to_owned(),
        msgid: msgid.to_owned(),
        time_ms,
        command: "PRIVMSG".to_owned(),
        source: "alice!a@example.org".to_owned(),
        account: Some("alice".to_owned()),
        tags: String::new(),
        params: vec![target.to_owned(), format!("message {msgid}")],
    }
}
