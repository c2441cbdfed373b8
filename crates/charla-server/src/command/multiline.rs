//! `draft/multiline` (<https://ircv3.net/specs/extensions/multiline>): a client sends a message
//! of several lines (a paste, a long text) as one batch, and its recipients get it as one.
//!
//! ```text
//! BATCH +r draft/multiline #sala
//! @batch=r PRIVMSG #sala :first line
//! @batch=r;draft/multiline-concat PRIVMSG #sala :, still the first line
//! BATCH -r
//! ```
//!
//! The lines are collected in the session ([`Batch`], bounded by `max-bytes` and `max-lines`)
//! and nothing is delivered until the batch closes; then the message goes out through the
//! ordinary PRIVMSG path (history first, one id) as one payload with two forms: the batch for
//! recipients with the capability, the lines one by one for the others (blank lines left out,
//! the id and tags on the first). A broken batch is refused whole with `FAIL BATCH`, and the
//! rest of its lines are dropped.

use charla_proto::Message;
use charla_proto::casemap::casefold;
use charla_proto::line::LineBuilder;
use charla_store::HistoryRecord;

use crate::account::services::Service;
use crate::caps::Cap;
use crate::command::Flow;
use crate::command::privmsg::{self, Body, Kind};
use crate::command::table::Args;
use crate::deliver::batch_ref;
use crate::outbound::{Line, Outgoing};
use crate::session::Session;

/// The batch type.
pub const BATCH_TYPE: &str = "draft/multiline";
/// The tag of a line that continues the one before without a line break.
pub const CONCAT: &str = "draft/multiline-concat";

/// One line of a multiline message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Its text (may be empty: a blank line).
    pub text: String,
    /// It continues the line before it, with no line break between them.
    pub concat: bool,
}

/// A batch the client is sending.
#[derive(Debug)]
pub struct Batch {
    reference: String,
    target: String,
    /// The label of the opening `BATCH`: the answer (the echo, or an error) carries it.
    label: Option<String>,
    /// Client-only tags of the opening `BATCH`: they belong to the whole message.
    client_tags: Vec<(String, String)>,
    parts: Vec<Part>,
    /// The message's size as the spec counts it (text and the line breaks between lines).
    bytes: usize,
    /// The batch was refused (the client was told): its remaining lines are dropped.
    failed: bool,
}

/// `FAIL BATCH <code> [<params>] :<text>`.
fn fail(s: &Session, code: &str, params: &[&str], text: &str) {
    let mut line = s.server_line("FAIL");
    line.param("BATCH").param(code);
    for p in params {
        line.param(p);
    }
    line.trailing(text);
    s.send_line(line);
}

/// `BATCH +<ref> draft/multiline <target>` opens a batch; `BATCH -<ref>` sends it.
pub fn batch(s: &mut Session, p: Args<'_, 1>) -> Flow {
    let reference = p.req[0];
    if let Some(r) = reference.strip_prefix('+').filter(|r| !r.is_empty()) {
        open(s, r, &p);
        Flow::Continue
    } else if let Some(r) = reference.strip_prefix('-').filter(|r| !r.is_empty()) {
        close(s, r)
    } else {
        fail(
            s,
            "MULTILINE_INVALID",
            &[],
            "A batch reference starts with + or -",
        );
        Flow::Continue
    }
}

fn open(s: &mut Session, reference: &str, p: &Args<'_, 1>) {
    if !s.conn.has_cap(Cap::Multiline) {
        fail(
            s,
            "MULTILINE_INVALID",
            &[],
            "Client batches need the draft/multiline capability",
        );
        return;
    }
    if p.get(1) != Some(BATCH_TYPE) {
        fail(
            s,
            "MULTILINE_INVALID",
            &[],
            "The only batch a client may open is draft/multiline",
        );
        return;
    }
    let target = p.get(2).unwrap_or("");
    if target.is_empty() || target.contains(',') {
        fail(
            s,
            "MULTILINE_INVALID",
            &[],
            "A multiline batch has exactly one target",
        );
        return;
    }
    if s.multiline.take().is_some_and(|open| !open.failed) {
        fail(
            s,
            "MULTILINE_INVALID",
            &[],
            "A multiline batch was still open: it was dropped",
        );
    }
    let mut label = None;
    let mut client_tags = Vec::new();
    for tag in p.tags() {
        if tag.key == "label" {
            label = Some(tag.value.into_owned());
        } else if tag.key.starts_with('+') {
            client_tags.push((tag.key.to_owned(), tag.value.into_owned()));
        }
    }
    // The opening line is not answered: the message is, when the batch closes.
    if label.is_some() {
        s.replies.cancel_label();
    }
    s.multiline = Some(Box::new(Batch {
        reference: reference.to_owned(),
        target: target.to_owned(),
        label,
        client_tags,
        parts: Vec::new(),
        bytes: 0,
        failed: false,
    }));
}

/// Takes a line that belongs to a client batch (it has a `batch` tag) into the open batch;
/// `None` for a line outside any batch, which runs as usual.
pub fn intercept(s: &mut Session, msg: &Message<'_>) -> Option<Flow> {
    if msg.raw_tags.is_empty() {
        return None;
    }
    let mut reference = None;
    let mut concat = false;
    for tag in msg.tags() {
        match tag.key {
            "batch" => reference = Some(tag.value),
            CONCAT => concat = true,
            _ => {}
        }
    }
    let reference = reference?;
    let Some(batch) = s.multiline.as_mut().filter(|b| b.reference == *reference) else {
        fail(
            s,
            "MULTILINE_INVALID",
            &[],
            "That line names a batch that is not open",
        );
        return Some(Flow::Continue);
    };
    if batch.failed {
        return Some(Flow::Continue);
    }
    if let Err((code, params, text)) = add(
        batch,
        msg,
        concat,
        &s.state.config.limits.multiline_max_bytes,
        &s.state.config.limits.multiline_max_lines,
    ) {
        batch.failed = true;
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        fail(s, code, &params, text);
    }
    Some(Flow::Continue)
}

/// Why a line could not join its batch: the FAIL code, its parameters and text.
type Refusal = (&'static str, Vec<String>, &'static str);

/// Adds one line to `batch`, within the limits.
fn add(
    batch: &mut Batch,
    msg: &Message<'_>,
    concat: bool,
    max_bytes: &usize,
    max_lines: &usize,
) -> Result<(), Refusal> {
    if !msg.command.eq_ignore_ascii_case("PRIVMSG") {
        return Err((
            "MULTILINE_INVALID",
            Vec::new(),
            "A multiline batch holds only PRIVMSG lines",
        ));
    }
    let target = msg.params.first().copied().unwrap_or("");
    if casefold(target) != casefold(&batch.target) {
        return Err((
            "MULTILINE_INVALID_TARGET",
            vec![batch.target.clone(), target.to_owned()],
            "Invalid multiline target",
        ));
    }
    let text = msg.params.get(1).copied().unwrap_or("");
    if concat && text.is_empty() {
        return Err((
            "MULTILINE_INVALID",
            Vec::new(),
            "A blank line cannot continue the one before",
        ));
    }
    if batch.parts.len() >= *max_lines {
        return Err((
            "MULTILINE_MAX_LINES",
            vec![max_lines.to_string()],
            "Multiline batch max-lines exceeded",
        ));
    }
    let newline = usize::from(!batch.parts.is_empty() && !concat);
    if batch.bytes + newline + text.len() > *max_bytes {
        return Err((
            "MULTILINE_MAX_BYTES",
            vec![max_bytes.to_string()],
            "Multiline batch max-bytes exceeded",
        ));
    }
    batch.bytes += newline + text.len();
    batch.parts.push(Part {
        text: text.to_owned(),
        concat,
    });
    Ok(())
}

fn close(s: &mut Session, reference: &str) -> Flow {
    let Some(batch) = s
        .multiline
        .take_if(|b| b.reference == reference)
        .map(|b| *b)
    else {
        fail(s, "MULTILINE_INVALID", &[], "No such batch is open");
        return Flow::Continue;
    };
    if let Some(label) = &batch.label
        && s.conn.has_cap(Cap::LabeledResponse)
    {
        s.replies
            .start_label(label, s.conn.has_cap(Cap::Batch), s.state.name());
    }
    if batch.failed {
        return Flow::Continue;
    }
    if batch.parts.iter().all(|p| p.text.is_empty()) {
        fail(
            s,
            "MULTILINE_INVALID",
            &[],
            "A multiline message needs some text",
        );
        return Flow::Continue;
    }
    if Service::named(&batch.target).is_some() {
        fail(
            s,
            "MULTILINE_INVALID_TARGET",
            &[&batch.target, &batch.target],
            "Services take one line at a time",
        );
        return Flow::Continue;
    }
    privmsg::send(
        s,
        &batch.target,
        &batch.client_tags,
        Kind::Privmsg,
        Body::Lines(&batch.parts),
    )
}

/// The whole text of a multiline message: its lines joined with line feeds, but for those
/// that continue the line before.
pub fn joined(parts: &[Part]) -> String {
    let mut text = String::with_capacity(parts.iter().map(|p| p.text.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 && !part.concat {
            text.push('\n');
        }
        text.push_str(&part.text);
    }
    text
}

/// The two forms of a multiline message from `source` to `shown`: the batch (for clients with
/// `draft/multiline`) and its lines one by one without blank lines (for the others). Tags added
/// to either go on its first line, as the spec asks.
pub fn encode(source: &str, command: &str, shown: &str, parts: &[Part]) -> (Outgoing, Outgoing) {
    let reference = batch_ref();
    let line = |text: &str| {
        let mut line = LineBuilder::new();
        line.source(source)
            .command(command)
            .param(shown)
            .trailing(text);
        line.finish()
    };
    let mut batch = {
        let mut open = LineBuilder::new();
        open.source(source)
            .command("BATCH")
            .param(&format!("+{reference}"))
            .param(BATCH_TYPE)
            .param(shown);
        open.finish()
    };
    let mut fallback = Vec::new();
    for part in parts {
        batch.extend_from_slice(b"@batch=");
        batch.extend_from_slice(reference.as_bytes());
        if part.concat {
            batch.push(b';');
            batch.extend_from_slice(CONCAT.as_bytes());
        }
        batch.push(b' ');
        let encoded = line(&part.text);
        batch.extend_from_slice(&encoded);
        if !part.text.is_empty() {
            fallback.extend_from_slice(&encoded);
        }
    }
    let mut end = LineBuilder::new();
    end.source(source)
        .command("BATCH")
        .param(&format!("-{reference}"));
    batch.extend_from_slice(&end.finish());
    (
        Outgoing::from_line(Line::new(batch)),
        Outgoing::from_line(Line::new(fallback)),
    )
}

/// Marks a history entry as a multiline message: its parameters after the target are the lines;
/// which of them continue the one before is kept in the entry's tags (never relayed as such).
pub fn mark_entry(entry: &mut HistoryRecord, parts: &[Part]) {
    let concat: Vec<String> = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.concat)
        .map(|(i, _)| i.to_string())
        .collect();
    let mut marker = format!("{BATCH_TYPE}=");
    marker.push_str(&concat.join(","));
    if entry.tags.is_empty() {
        entry.tags = marker;
    } else {
        entry.tags = format!("{marker};{}", entry.tags);
    }
}

/// The lines of a multiline history entry (from [`mark_entry`]), and its other tags; `None`
/// for any other entry.
pub fn from_entry(entry: &HistoryRecord) -> Option<(Vec<Part>, String)> {
    let rest = entry.tags.strip_prefix(BATCH_TYPE)?.strip_prefix('=')?;
    let (concat, tags) = rest.split_once(';').unwrap_or((rest, ""));
    let concat: Vec<usize> = concat.split(',').filter_map(|i| i.parse().ok()).collect();
    let parts = entry
        .params
        .iter()
        .skip(1)
        .enumerate()
        .map(|(i, text)| Part {
            text: text.clone(),
            concat: concat.contains(&i),
        })
        .collect();
    Some((parts, tags.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(text: &str, concat: bool) -> Part {
        Part {
            text: text.to_owned(),
            concat,
        }
    }

    #[test]
    fn lines_join_with_line_feeds_except_where_they_continue() {
        let parts = [part("hola", false), part("qué ", false), part("tal", true)];
        assert_eq!(joined(&parts), "hola\nqué tal");
    }

    #[test]
    fn both_forms_keep_the_lines_and_only_the_batch_keeps_blank_ones() {
        let parts = [part("uno", false), part("", false), part("dos", true)];
        let (batch, fallback) = encode("a!b@c", "PRIVMSG", "#x", &parts);
        let batch = String::from_utf8(batch.body().to_vec()).expect("utf8");
        let lines: Vec<&str> = batch.split("\r\n").collect();
        assert!(lines[0].starts_with(":a!b@c BATCH +"), "{batch}");
        assert!(lines[0].ends_with(" draft/multiline #x"), "{batch}");
        let reference = &lines[0][":a!b@c BATCH +".len()..lines[0].len() - 19];
        assert_eq!(
            lines[1],
            format!("@batch={reference} :a!b@c PRIVMSG #x :uno")
        );
        assert_eq!(lines[2], format!("@batch={reference} :a!b@c PRIVMSG #x :"));
        assert_eq!(
            lines[3],
            format!("@batch={reference};draft/multiline-concat :a!b@c PRIVMSG #x :dos")
        );
        assert_eq!(lines[4], format!(":a!b@c BATCH -{reference}"));
        assert_eq!(
            &fallback.body()[..],
            b":a!b@c PRIVMSG #x :uno\r\n:a!b@c PRIVMSG #x :dos\r\n"
        );
    }

    #[test]
    fn history_entries_keep_which_lines_continue() {
        let parts = vec![part("uno", false), part("dos", true), part("tres", false)];
        let mut entry = HistoryRecord {
            seq: 0,
            target: "#x".to_owned(),
            msgid: "m".to_owned(),
            time_ms: 0,
            command: "PRIVMSG".to_owned(),
            source: "a!b@c".to_owned(),
            account: None,
            tags: "+draft/reply=z".to_owned(),
            params: vec![
                "#x".to_owned(),
                "uno".to_owned(),
                "dos".to_owned(),
                "tres".to_owned(),
            ],
        };
        mark_entry(&mut entry, &parts);
        let (back, tags) = from_entry(&entry).expect("multiline");
        assert_eq!(back, parts);
        assert_eq!(tags, "+draft/reply=z");
        entry.tags = "+draft/reply=z".to_owned();
        assert!(from_entry(&entry).is_none());
    }
}
