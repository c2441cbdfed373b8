//! Building outgoing lines.
//!
//! [`LineBuilder`] writes tags, source, command and parameters straight into one buffer, so that
//! a server encodes a line once and shares the bytes with every recipient. Text is cut at the
//! first CR, LF or NUL so that nobody can inject a second command, and the body (everything after
//! the tags) is cut to [`MAX_LINE`] bytes at a character boundary.

use crate::limits::MAX_LINE;
use crate::tags;

/// Writes one IRC line.
#[derive(Debug, Clone, Default)]
pub struct LineBuilder {
    buf: Vec<u8>,
    /// Where the body (source or command) starts, after the tags.
    body_start: usize,
    /// The body has begun (a source or command was written); `body_start` is fixed.
    body_started: bool,
    has_tags: bool,
    has_command: bool,
    /// A trailing parameter was written; nothing may follow it.
    closed: bool,
}

/// The part of `s` before its first CR, LF or NUL.
fn safe(s: &str) -> &str {
    match s.find(['\r', '\n', '\0']) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// Appends `s` without the bytes in `drop` (all ASCII), without allocating.
fn push_without(buf: &mut Vec<u8>, s: &str, drop: &[u8]) {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|b| drop.contains(b)) {
        buf.extend_from_slice(bytes);
        return;
    }
    // Only ASCII bytes are removed, so what is left is still UTF-8.
    buf.extend(bytes.iter().filter(|b| !drop.contains(b)));
}

impl LineBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        // Room for a typical tagged line (server-time, msgid, account) without regrowing.
        Self::with_capacity(256)
    }

    /// An empty builder with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> Self {
        LineBuilder {
            buf: Vec::with_capacity(cap),
            ..Default::default()
        }
    }

    /// Adds a tag; `None` writes the key alone. Must come before the source and command.
    pub fn tag(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        debug_assert!(!self.has_command, "tags go before the command");
        self.buf.push(if self.has_tags { b';' } else { b'@' });
        self.has_tags = true;
        push_without(&mut self.buf, safe(key), b" ;=");
        if let Some(v) = value {
            self.buf.push(b'=');
            tags::escape_into(v, &mut self.buf);
        }
        self
    }

    fn start_body(&mut self) {
        if self.body_started {
            return;
        }
        if self.has_tags {
            self.buf.push(b' ');
        }
        self.body_start = self.buf.len();
        self.body_started = true;
    }

    /// Sets the source (`nick!user@host` or a server name).
    pub fn source(&mut self, source: &str) -> &mut Self {
        self.start_body();
        self.buf.push(b':');
        push_without(&mut self.buf, safe(source), b" ");
        self.buf.push(b' ');
        self
    }

    /// Sets the command or numeric (a numeric is written with three digits).
    pub fn command(&mut self, command: &str) -> &mut Self {
        self.start_body();
        push_without(&mut self.buf, safe(command), b" ");
        self.has_command = true;
        self
    }

    /// Sets a numeric reply as the command, zero-padded to three digits.
    pub fn numeric(&mut self, numeric: u16) -> &mut Self {
        self.start_body();
        let digits = [
            b'0' + (numeric / 100 % 10) as u8,
            b'0' + (numeric / 10 % 10) as u8,
            b'0' + (numeric % 10) as u8,
        ];
        self.buf.extend_from_slice(&digits);
        self.has_command = true;
        self
    }

    /// Adds a parameter. One that is empty, holds a space or starts with `:` is written as the
    /// trailing parameter, after which further parameters are ignored.
    pub fn param(&mut self, p: &str) -> &mut Self {
        let p = safe(p);
        if p.is_empty() || p.starts_with(':') || p.contains(' ') {
            return self.trailing(p);
        }
        if self.closed {
            return self;
        }
        self.buf.push(b' ');
        self.buf.extend_from_slice(p.as_bytes());
        self
    }

    /// Adds the trailing parameter, always written with a `:`.
    pub fn trailing(&mut self, p: &str) -> &mut Self {
        if self.closed {
            return self;
        }
        self.buf.extend_from_slice(b" :");
        self.buf.extend_from_slice(safe(p).as_bytes());
        self.closed = true;
        self
    }

    /// Cuts the body to the protocol limit at a character boundary.
    fn clamp(&mut self) {
        let max = self.body_start + MAX_LINE - 2;
        if self.buf.len() > max {
            let mut end = max;
            // Step back to a UTF-8 character boundary (continuation bytes are 0b10xx_xxxx).
            while end > self.body_start && (self.buf[end] & 0xC0) == 0x80 {
                end -= 1;
            }
            self.buf.truncate(end);
        }
    }

    /// The finished line with CR LF, ready for a socket.
    pub fn finish(mut self) -> Vec<u8> {
        self.clamp();
        self.buf.extend_from_slice(b"\r\n");
        self.buf
    }

    /// The finished line without CR LF.
    pub fn finish_string(mut self) -> String {
        self.clamp();
        // Every piece written was a &str or ASCII, and clamp cut at a boundary.
        String::from_utf8(self.buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    #[test]
    fn writes_a_full_line() {
        let mut b = LineBuilder::new();
        b.tag("time", Some("2024-01-01T00:00:00.000Z"))
            .tag("+x", None)
            .source("ana!a@host")
            .command("PRIVMSG")
            .param("#canal")
            .trailing("¿qué tal?");
        assert_eq!(
            b.finish(),
            b"@time=2024-01-01T00:00:00.000Z;+x :ana!a@host PRIVMSG #canal :\xc2\xbfqu\xc3\xa9 tal?\r\n"
        );
    }

    #[test]
    fn spaces_and_separators_are_dropped_from_keys_sources_and_commands() {
        let mut b = LineBuilder::new();
        b.tag("a b;c=d", Some("v"))
            .source("n ick!u@h")
            .command("PRIV MSG")
            .param("x");
        assert_eq!(b.finish_string(), "@abcd=v :nick!u@h PRIVMSG x");
    }

    #[test]
    fn numerics_and_injection() {
        let mut b = LineBuilder::new();
        b.source("srv")
            .numeric(1)
            .param("nick")
            .param("Welcome\r\nQUIT");
        assert_eq!(b.finish_string(), ":srv 001 nick Welcome");
    }

    #[test]
    fn odd_params_become_trailing() {
        for (p, want) in [
            ("", "CMD :"),
            (":x", "CMD ::x"),
            ("a b", "CMD :a b"),
            ("ab", "CMD ab"),
        ] {
            let mut b = LineBuilder::new();
            b.command("CMD").param(p);
            assert_eq!(b.finish_string(), want);
        }
    }

    #[test]
    fn the_source_counts_toward_the_limit_without_tags() {
        let text = "ñ".repeat(300);
        let mut b = LineBuilder::new();
        b.source("alice_larga!~alice@127.0.0.1")
            .command("PRIVMSG")
            .param("#c")
            .trailing(&text);
        let line = b.finish();
        assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
        assert!(std::str::from_utf8(&line).is_ok());
    }

    #[test]
    fn long_lines_are_cut_at_a_char_boundary() {
        let text = "ñ".repeat(400);
        let mut b = LineBuilder::new();
        b.tag("a", Some("b"))
            .source("n!u@h")
            .command("PRIVMSG")
            .param("#c")
            .trailing(&text);
        let line = b.finish_string();
        let body = line.split_once(' ').unwrap().1;
        assert!(body.len() <= MAX_LINE - 2);
        assert!(Message::parse(&line).is_ok());
    }
}
