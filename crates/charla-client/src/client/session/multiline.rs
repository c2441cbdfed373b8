//! `draft/multiline` (<https://ircv3.net/specs/extensions/multiline>): a paste or a long text
//! goes out as one batch, and batches that come in become one message.
//!
//! Incoming batches are collected before anything else looks at the lines, so that one nested
//! in a `chathistory` batch arrives there as one message too (the opening line carries the outer
//! batch's tag, and so does the message made of it).

use std::collections::HashMap;

use charla_proto::{LineBuilder, OwnedMessage};

use super::Session;
use crate::client::text::split_joinable;

/// The capability.
pub(super) const CAP: &str = "draft/multiline";
const CONCAT: &str = "draft/multiline-concat";

/// Batches coming in, by reference.
#[derive(Debug, Default)]
pub(super) struct Multilines {
    open: HashMap<String, Open>,
    /// The last reference we gave a batch of ours.
    sent: u64,
}

#[derive(Debug)]
struct Open {
    /// The opening `BATCH`: its tags and source are the message's.
    first: OwnedMessage,
    command: Option<String>,
    text: String,
    lines: usize,
}

/// The most batches collected at once (a server never has more than a few open).
const MAX_OPEN: usize = 16;
/// The most text kept of one batch, whatever the server says.
const MAX_TEXT: usize = 64 * 1024;

/// The server's limits for a batch: `max-bytes` and `max-lines` from the capability's value.
fn limits(value: &str) -> Option<(usize, usize)> {
    let mut bytes = None;
    let mut lines = usize::MAX;
    for item in value.split(',') {
        match item.split_once('=') {
            Some(("max-bytes", v)) => bytes = v.parse().ok(),
            Some(("max-lines", v)) => lines = v.parse().unwrap_or(usize::MAX),
            _ => {}
        }
    }
    Some((bytes?, lines))
}

/// The lines to send for `text` (each cut to `budget` bytes): each line of the text, blank ones
/// inside kept, a long one cut into pieces that continue each other.
pub(super) fn parts(text: &str, budget: usize) -> Vec<(&str, bool)> {
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let first = lines.iter().position(|l| !l.is_empty()).unwrap_or(0);
    let last = lines.iter().rposition(|l| !l.is_empty()).unwrap_or(0);
    let mut out = Vec::new();
    for line in lines.get(first..=last).unwrap_or_default() {
        for (i, piece) in split_joinable(line, budget).into_iter().enumerate() {
            out.push((piece, i > 0));
        }
    }
    out
}

/// The size of `parts` as the spec counts it.
fn size(parts: &[(&str, bool)]) -> usize {
    parts
        .iter()
        .enumerate()
        .map(|(i, (text, concat))| text.len() + usize::from(i > 0 && !concat))
        .sum()
}

impl Session {
    /// Whether the server takes multiline batches from us, and its limits.
    fn multiline_limits(&self, task: &super::Task) -> Option<(usize, usize)> {
        if !task.state.has_cap(CAP) || !task.state.has_cap("batch") {
            return None;
        }
        limits(self.reg.offered.get(CAP)?)
    }

    /// Sends `text` to `target` as one multiline batch if the server takes it and it is more
    /// than one line; returns whether it did.
    pub(super) fn say_multiline(
        &mut self,
        task: &super::Task,
        verb: &str,
        target: &str,
        text: &str,
        budget: usize,
    ) -> bool {
        let Some((max_bytes, max_lines)) = self.multiline_limits(task) else {
            return false;
        };
        let parts = parts(text, budget);
        if parts.len() < 2 || parts.len() > max_lines || size(&parts) > max_bytes {
            return false;
        }
        self.multilines.sent += 1;
        let reference = format!("ml{}", self.multilines.sent);
        self.send_msg("BATCH", &[&format!("+{reference}"), CAP, target]);
        for (piece, concat) in parts {
            let mut line = LineBuilder::new();
            line.tag("batch", Some(&reference));
            if concat {
                line.tag(CONCAT, None);
            }
            line.command(verb).param(target).trailing(piece);
            self.send(line.finish_string());
        }
        self.send_msg("BATCH", &[&format!("-{reference}")]);
        true
    }

    /// Collects incoming multiline batches; gives back any other line, and each batch, when it
    /// closes, as one message.
    pub(super) fn multiline_inbound(&mut self, msg: OwnedMessage) -> Option<OwnedMessage> {
        if let Some(reference) = msg.tag("batch")
            && let Some(open) = self.multilines.open.get_mut(reference)
        {
            if open.lines > 0 && msg.tag(CONCAT).is_none() {
                open.text.push('\n');
            }
            if open.text.len() < MAX_TEXT {
                open.text.push_str(msg.param(1).unwrap_or(""));
            }
            open.lines += 1;
            open.command.get_or_insert_with(|| msg.command.clone());
            return None;
        }
        if !msg.command.eq_ignore_ascii_case("BATCH") {
            return Some(msg);
        }
        let reference = msg.param(0).unwrap_or("");
        if let Some(id) = reference.strip_prefix('+') {
            if msg.param(1) != Some(CAP) || self.multilines.open.len() >= MAX_OPEN {
                return Some(msg);
            }
            self.multilines.open.insert(
                id.to_owned(),
                Open {
                    first: msg,
                    command: None,
                    text: String::new(),
                    lines: 0,
                },
            );
            return None;
        }
        let Some(open) = reference
            .strip_prefix('-')
            .and_then(|id| self.multilines.open.remove(id))
        else {
            return Some(msg);
        };
        let target = open.first.param(2).unwrap_or("").to_owned();
        Some(OwnedMessage {
            tags: open.first.tags,
            source: open.first.source,
            command: open.command.unwrap_or_else(|| "PRIVMSG".to_owned()),
            params: vec![target, open.text],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_the_capability_value() {
        assert_eq!(limits("max-bytes=4096,max-lines=24"), Some((4096, 24)));
        assert_eq!(limits("max-bytes=100"), Some((100, usize::MAX)));
        assert_eq!(limits("max-lines=3"), None);
    }

    #[test]
    fn a_paste_keeps_inner_blank_lines_and_cuts_long_ones() {
        let text = "\nuno\n\ndos tres cuatro\r\n\n";
        assert_eq!(
            parts(text, 8),
            [
                ("uno", false),
                ("", false),
                ("dos ", false),
                ("tres ", true),
                ("cuatro", true)
            ]
        );
        assert_eq!(size(&parts(text, 8)), "uno\n\ndos tres cuatro".len());
    }
}
