//! Lines on their way out, encoded once and shared.
//!
//! An [`Outgoing`] holds the body of a relayed line (`:source COMMAND params\r\n`) as [`Bytes`].
//! Recipients differ only in which tags they accept (`server-time`, `message-tags`), so there are
//! at most four variants; each is built the first time a recipient needs it and then shared by
//! refcount with every other recipient of that variant. A channel message to N members therefore
//! costs one encode (plus at most three tag variants) and N refcount increments.

use std::sync::OnceLock;
use std::time::SystemTime;

use bytes::Bytes;
use charla_proto::LineBuilder;
use charla_proto::tags;

use crate::caps::{Cap, CapSet};
use crate::timefmt;

/// One relayed line and its tag variants.
#[derive(Debug)]
pub struct Outgoing {
    body: Bytes,
    time: SystemTime,
    /// Client-only tags (`+key=value`), already escaped and joined with `;`; empty if none.
    client_tags: String,
    /// Index: bit 0 = with `time`, bit 1 = with client tags.
    variants: [OnceLock<Bytes>; 4],
}

impl Outgoing {
    /// A line from a finished builder (no tags in it).
    pub fn new(line: LineBuilder) -> Self {
        Self::from_bytes(Bytes::from(line.finish()))
    }

    /// A line from encoded bytes (ending in CR LF, no tags).
    pub fn from_bytes(body: Bytes) -> Self {
        Outgoing {
            body,
            time: SystemTime::now(),
            client_tags: String::new(),
            variants: Default::default(),
        }
    }

    /// Adds client-only tags to relay to `message-tags` clients.
    pub fn with_client_tags<'a>(mut self, tags: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut out = String::new();
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

    /// The bytes for a recipient with capabilities `caps`.
    pub fn for_caps(&self, caps: CapSet) -> Bytes {
        let mut idx = 0;
        if caps.has(Cap::ServerTime) {
            idx |= 1;
        }
        if caps.has(Cap::MessageTags) && !self.client_tags.is_empty() {
            idx |= 2;
        }
        if idx == 0 {
            return self.body.clone();
        }
        self.variants[idx]
            .get_or_init(|| {
                let mut buf = Vec::with_capacity(self.body.len() + 40 + self.client_tags.len());
                buf.push(b'@');
                if idx & 1 != 0 {
                    buf.extend_from_slice(b"time=");
                    buf.extend_from_slice(timefmt::iso8601(self.time).as_bytes());
                }
                if idx & 2 != 0 {
                    if idx & 1 != 0 {
                        buf.push(b';');
                    }
                    buf.extend_from_slice(self.client_tags.as_bytes());
                }
                buf.push(b' ');
                buf.extend_from_slice(&self.body);
                Bytes::from(buf)
            })
            .clone()
    }

    /// The untagged line.
    pub fn body(&self) -> &Bytes {
        &self.body
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
