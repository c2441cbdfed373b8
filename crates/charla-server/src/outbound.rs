//! Lines on their way out, encoded once and shared.
//!
//! A [`Line`] is one encoded line as a connection queues it: a pointer-sized handle on bytes
//! that every recipient shares. An [`Outgoing`] holds the body of a relayed line
//! (`:source COMMAND params\r\n`).
//! Recipients differ only in which tags they accept (`server-time`, `message-tags`,
//! `account-tag`), so there are at most eight variants; each is built the first time a recipient needs it and then shared by
//! refcount with every other recipient of that variant. A channel message to N members therefore
//! costs one encode (plus at most three tag variants) and N refcount increments.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use charla_proto::LineBuilder;
use charla_proto::tags;

use crate::caps::{Cap, CapSet};
use crate::timefmt;

/// One encoded line (ending in CR LF), shared by refcount with every recipient.
///
/// Eight bytes in each recipient's queue: in a channel's fan-out every member's queue gets a
/// handle per line, and with the 32 bytes of a `Bytes` the cache misses on those queues' buffers
/// were the top user-space entry of the fan-out profile (docs/PROFILE.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line(Arc<Vec<u8>>);

/// What a queued line costs beyond its bytes: the shared allocation's header (two counts and
/// the `Vec`, 40 bytes, which the allocator rounds up), the allocator's own header of each of
/// the two allocations, and the handle's slot in the queue.
pub const LINE_OVERHEAD: usize = 48 + 2 * 16 + 8;

impl Line {
    /// A line from bytes that end in CR LF.
    pub fn new(bytes: Vec<u8>) -> Self {
        Line(Arc::new(bytes))
    }

    /// A line from bytes that end in CR LF, given back any room it was built with beyond a
    /// little: for a line that one client holds alone (a reply), where that room would be paid
    /// for by its send queue.
    pub fn exact(mut bytes: Vec<u8>) -> Self {
        if bytes.capacity() > bytes.len() + bytes.len() / 4 + 16 {
            bytes.shrink_to_fit();
        }
        Line::new(bytes)
    }

    /// The memory the line holds while it is queued: its allocation (not only its length) and
    /// [`LINE_OVERHEAD`]. A send queue counts this, so that its limit is a limit of real
    /// memory, however small the lines.
    pub fn cost(&self) -> usize {
        self.0.capacity() + LINE_OVERHEAD
    }
}

impl Deref for Line {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Line {
    fn from(bytes: Vec<u8>) -> Self {
        Line::new(bytes)
    }
}

impl From<String> for Line {
    fn from(text: String) -> Self {
        Line::new(text.into_bytes())
    }
}

impl From<&[u8]> for Line {
    fn from(bytes: &[u8]) -> Self {
        Line::new(bytes.to_vec())
    }
}

/// One relayed line and its tag variants.
#[derive(Debug, Clone)]
pub struct Outgoing {
    body: Line,
    time: SystemTime,
    /// Client-only tags (`+key=value`), already escaped and joined with `;`; empty if none.
    client_tags: String,
    /// The sender's account (`account-tag`), already escaped; `None` if not logged in.
    account: Option<Box<str>>,
    /// The message id (`msgid`, for `message-tags` clients), if the line has one.
    msgid: Option<Box<str>>,
    /// Index: bit 0 = with `time`, bit 1 = with `msgid` and client tags, bit 2 = with `account`.
    variants: [OnceLock<Line>; 8],
}

impl Outgoing {
    /// A line from a finished builder (no tags in it).
    pub fn new(line: LineBuilder) -> Self {
        Self::from_line(Line::new(line.finish()))
    }

    /// A line from encoded bytes (ending in CR LF, no tags).
    pub fn from_line(body: Line) -> Self {
        Outgoing {
            body,
            time: SystemTime::now(),
            client_tags: String::new(),
            account: None,
            msgid: None,
            variants: Default::default(),
        }
    }

    /// Adds the sender's account, for `account-tag` clients
    /// (<https://ircv3.net/specs/extensions/account-tag>).
    pub fn with_account(mut self, account: Option<&str>) -> Self {
        self.account = account.map(|a| tags::escape(a).into_boxed_str());
        self
    }

    /// Gives the line a message id (<https://ircv3.net/specs/extensions/message-ids>) and the
    /// time it was made at (the `time` tag and its history entry share it).
    pub fn with_msgid(mut self, msgid: String, time: SystemTime) -> Self {
        self.msgid = Some(msgid.into_boxed_str());
        self.time = time;
        self
    }

    /// Its message id, if it has one.
    pub fn msgid(&self) -> Option<&str> {
        self.msgid.as_deref()
    }

    /// Its server time.
    pub fn time(&self) -> SystemTime {
        self.time
    }

    /// Its client-only tags as relayed (escaped, joined with `;`; empty if none).
    pub fn client_tags(&self) -> &str {
        &self.client_tags
    }

    /// Marks the line as sent by a bot: the `bot` tag, for `message-tags` clients
    /// (<https://ircv3.net/specs/extensions/bot-mode>).
    pub fn from_bot(mut self, bot: bool) -> Self {
        if bot {
            if self.client_tags.is_empty() {
                self.client_tags = "bot".to_owned();
            } else {
                self.client_tags.insert_str(0, "bot;");
            }
        }
        self
    }

    /// Adds client-only tags to relay to `message-tags` clients (after any tag already there).
    pub fn with_client_tags<'a>(mut self, tags: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut out = std::mem::take(&mut self.client_tags);
        for (key, value) in tags {
            if !key.starts_with('+') {
                continue;
            }
            if !out.is_empty() {
                out.push(';');
            }
            out.push_str(key);
            if !value.is_empty() {
                out.push('=');
                out.push_str(&tags::escape(value));
            }
        }
        self.client_tags = out;
        self
    }

    /// Whether it carries client-only tags.
    pub fn has_client_tags(&self) -> bool {
        !self.client_tags.is_empty()
    }

    /// The bytes for a recipient with capabilities `caps`. Inlined: it runs once per recipient
    /// of every fan-out, and most recipients get the untagged body.
    #[inline(always)]
    pub fn for_caps(&self, caps: CapSet) -> Line {
        self.line_for(caps).clone()
    }

    /// [`for_caps`](Self::for_caps), borrowed.
    #[inline(always)]
    pub fn line_for(&self, caps: CapSet) -> &Line {
        let mut idx = 0;
        if caps.has(Cap::ServerTime) {
            idx |= 1;
        }
        if caps.has(Cap::MessageTags) && (!self.client_tags.is_empty() || self.msgid.is_some()) {
            idx |= 2;
        }
        if caps.has(Cap::AccountTag) && self.account.is_some() {
            idx |= 4;
        }
        if idx == 0 {
            return &self.body;
        }
        self.variant(idx)
    }

    /// The tagged variant `idx` (see `variants`), built by its first recipient.
    #[inline(never)]
    fn variant(&self, idx: usize) -> &Line {
        self.variants[idx].get_or_init(|| {
            let account = self.account.as_deref().unwrap_or("");
            let msgid = self.msgid.as_deref().unwrap_or("");
            let mut buf = Vec::with_capacity(
                self.body.len() + 40 + self.client_tags.len() + account.len() + msgid.len() + 16,
            );
            buf.push(b'@');
            let mut first = true;
            let mut sep = |buf: &mut Vec<u8>| {
                if !std::mem::take(&mut first) {
                    buf.push(b';');
                }
            };
            if idx & 1 != 0 {
                sep(&mut buf);
                buf.extend_from_slice(b"time=");
                buf.extend_from_slice(timefmt::iso8601(self.time).as_bytes());
            }
            if idx & 4 != 0 {
                sep(&mut buf);
                buf.extend_from_slice(b"account=");
                buf.extend_from_slice(account.as_bytes());
            }
            if idx & 2 != 0 && !msgid.is_empty() {
                sep(&mut buf);
                buf.extend_from_slice(b"msgid=");
                buf.extend_from_slice(msgid.as_bytes());
            }
            if idx & 2 != 0 && !self.client_tags.is_empty() {
                sep(&mut buf);
                buf.extend_from_slice(self.client_tags.as_bytes());
            }
            buf.push(b' ');
            buf.extend_from_slice(&self.body);
            Line::new(buf)
        })
    }

    /// The untagged line.
    pub fn body(&self) -> &Line {
        &self.body
    }

    /// What the line is made of, for another node ([`crate::cluster`]): its body, time,
    /// client-only tags, account and message id (the tags as already escaped).
    pub(crate) fn parts(&self) -> (&[u8], SystemTime, &str, Option<&str>, Option<&str>) {
        (
            &self.body,
            self.time,
            &self.client_tags,
            self.account.as_deref(),
            self.msgid.as_deref(),
        )
    }

    /// The line another node made of `parts` ([`Outgoing::parts`]).
    pub(crate) fn from_parts(
        body: Vec<u8>,
        time: SystemTime,
        client_tags: String,
        account: Option<String>,
        msgid: Option<String>,
    ) -> Self {
        Outgoing {
            body: Line::new(body),
            time,
            client_tags,
            account: account.map(String::into_boxed_str),
            msgid: msgid.map(String::into_boxed_str),
            variants: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_built_once_and_shared() {
        let mut b = LineBuilder::new();
        b.source("a!b@c")
            .command("PRIVMSG")
            .param("#x")
            .trailing("hola 🎉");
        let out =
            Outgoing::new(b).with_client_tags([("+typing", "active"), ("time", "x")].into_iter());
        let plain = out.for_caps(CapSet::default());
        assert_eq!(&plain[..], b":a!b@c PRIVMSG #x :hola \xf0\x9f\x8e\x89\r\n");
        let tagged = CapSet(Cap::MessageTags.bit());
        let one = out.for_caps(tagged);
        let two = out.for_caps(tagged);
        assert_eq!(one.as_ptr(), two.as_ptr(), "same allocation");
        assert!(one.starts_with(b"@+typing=active :a!b@c"));
        let both = out.for_caps(CapSet(Cap::MessageTags.bit() | Cap::ServerTime.bit()));
        assert!(both.starts_with(b"@time="));
        assert!(
            std::str::from_utf8(&both)
                .expect("utf8")
                .contains(";+typing=active :a!b@c")
        );
    }
}
