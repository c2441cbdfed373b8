//! After the restart: each channel's history read back with CHATHISTORY, and compared with what
//! every client received before the kill.
//!
//! A message is known by its msgid (kept as a 64-bit hash, so that millions of deliveries stay
//! small) and by the sender and counter written in its text (`crash SENDER:SEQ ...`), which
//! names it in the report and checks that history kept the right text under the right id.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use charla_proto::Message;
use tokio::io::AsyncWriteExt;

use crate::conn::{Client, Reply, classify};

/// The start of every message text the scenario sends.
pub const TEXT_MARK: &str = "crash";
/// How long one CHATHISTORY answer may take.
const PAGE_LIMIT: Duration = Duration::from_secs(30);

/// One message as a client received it, or as history holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The msgid's hash.
    pub id: u64,
    /// The sender's index and its counter (`sender << 32 | seq`), from the text; `u64::MAX`
    /// for a text that is not the scenario's.
    pub who: u64,
}

impl Seen {
    /// A `PRIVMSG`'s msgid and text.
    pub fn new(msgid: &str, text: &str) -> Seen {
        let mut h = DefaultHasher::new();
        msgid.hash(&mut h);
        Seen {
            id: h.finish(),
            who: who(text).unwrap_or(u64::MAX),
        }
    }

    /// `sender:seq`, for the report.
    pub fn name(self) -> String {
        if self.who == u64::MAX {
            "a message not of this run".to_owned()
        } else {
            format!("message {}:{}", self.who >> 32, self.who & 0xffff_ffff)
        }
    }
}

/// The text of message `seq` of sender `sender`, some in Spanish.
pub fn text(sender: usize, seq: u64) -> String {
    if seq.is_multiple_of(3) {
        format!("{TEXT_MARK} {sender}:{seq} ¿Qué tal, ñandú?")
    } else {
        format!("{TEXT_MARK} {sender}:{seq} la canción sigue")
    }
}

/// The sender and counter in a text that [`text`] wrote.
fn who(text: &str) -> Option<u64> {
    let mut words = text.split(' ');
    if words.next()? != TEXT_MARK {
        return None;
    }
    let (sender, seq) = words.next()?.split_once(':')?;
    let sender: u32 = sender.parse().ok()?;
    let seq: u32 = seq.parse().ok()?;
    Some(u64::from(sender) << 32 | u64::from(seq))
}

/// What one client received before the kill.
#[derive(Debug, Default)]
pub struct Received {
    /// Per channel (its index), the messages in the order they came.
    pub channels: HashMap<usize, Vec<Seen>>,
    /// Lines that should not have come (ERROR, FAIL, a PRIVMSG without msgid...), a few.
    pub problems: Vec<String>,
    /// Whether the connection ended before the kill.
    pub closed_early: bool,
}

/// The comparison of history with what the clients received.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// PRIVMSG lines received, all clients together.
    pub deliveries: u64,
    /// Distinct messages received by at least one client.
    pub received: u64,
    /// Messages in history.
    pub in_history: u64,
    /// Messages in history that no client received (committed just before the kill).
    pub nobody: u64,
    /// Distinct messages received but not in history.
    pub lost: u64,
    /// Received lines that came after one that history puts later.
    pub order_violations: u64,
    /// Messages a client did not receive although it received later ones of the same channel
    /// (every client was in its channels before anyone spoke, so each should have received the
    /// start of its channels' history).
    pub gaps: u64,
    /// Received messages whose text history holds otherwise under the same msgid.
    pub mismatches: u64,
    /// Msgids that history holds more than once.
    pub duplicates: u64,
    /// A few of the problems, described.
    pub examples: Vec<String>,
}

impl Comparison {
    fn example(&mut self, text: impl FnOnce() -> String) {
        if self.examples.len() < 8 {
            self.examples.push(text());
        }
    }
}

/// Compares `history` (per channel, oldest first) with what each client received (`clients`,
/// with their nicks).
pub fn compare(
    history: &[Vec<Seen>],
    clients: &[(String, Received)],
    channel_names: &[String],
) -> Comparison {
    let mut out = Comparison::default();
    let mut index: Vec<HashMap<u64, usize>> = Vec::with_capacity(history.len());
    for entries in history {
        let mut positions = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if positions.insert(e.id, i).is_some() {
                out.duplicates += 1;
            }
        }
        index.push(positions);
        out.in_history += entries.len() as u64;
    }
    let mut delivered: Vec<Vec<bool>> = history.iter().map(|h| vec![false; h.len()]).collect();
    let mut lost: HashSet<(usize, u64)> = HashSet::new();
    for (nick, got) in clients {
        for (&channel, lines) in &got.channels {
            let name = channel_names.get(channel).map_or("?", String::as_str);
            let (Some(positions), Some(entries)) = (index.get(channel), history.get(channel))
            else {
                continue;
            };
            let mut last: Option<usize> = None;
            let mut clean = true;
            for (k, seen) in lines.iter().enumerate() {
                out.deliveries += 1;
                let Some(&at) = positions.get(&seen.id) else {
                    clean = false;
                    if lost.insert((channel, seen.id)) {
                        out.example(|| {
                            format!(
                                "{nick} received {} in {name} (its line {} of {}), not in \
                                 history ({} lines)",
                                seen.name(),
                                k + 1,
                                lines.len(),
                                entries.len()
                            )
                        });
                    }
                    continue;
                };
                delivered[channel][at] = true;
                if entries[at].who != seen.who {
                    clean = false;
                    out.mismatches += 1;
                    out.example(|| {
                        format!(
                            "{nick} received {} in {name}; history has {} under its msgid",
                            seen.name(),
                            entries[at].name()
                        )
                    });
                }
                if let Some(before) = last
                    && at <= before
                {
                    clean = false;
                    out.order_violations += 1;
                    out.example(|| {
                        format!(
                            "{nick} in {name}: {} (history line {at}) came after {} (history \
                             line {before})",
                            seen.name(),
                            entries[before].name()
                        )
                    });
                }
                last = Some(at);
            }
            if let Some(end) = last
                && clean
                && end + 1 != lines.len()
            {
                out.gaps += (end + 1 - lines.len()) as u64;
                out.example(|| {
                    format!(
                        "{nick} in {name}: received {} messages, the last of them history line \
                         {end}",
                        lines.len()
                    )
                });
            }
        }
    }
    let reached: u64 = delivered
        .iter()
        .map(|d| d.iter().filter(|x| **x).count() as u64)
        .sum();
    out.lost = lost.len() as u64;
    out.received = reached + out.lost;
    out.nobody = out.in_history - reached;
    out
}

/// What reading the history back cost.
#[derive(Debug, Default)]
pub struct ReadBack {
    /// Per channel, oldest first.
    pub history: Vec<Vec<Seen>>,
    /// CHATHISTORY requests sent.
    pub requests: u64,
}

/// Joins each of `channels` and reads its whole history: `CHATHISTORY AFTER` from the year 2000,
/// then from the last message of each page, `page` lines at a time, until a page comes back
/// empty. `most` bounds the lines of one channel (history cannot hold more than was sent).
pub async fn read_history(
    client: &mut Client,
    channels: &[String],
    page: usize,
    most: u64,
) -> Result<ReadBack, String> {
    let mut out = ReadBack::default();
    for channel in channels {
        crate::conn::join(client, channel, Duration::from_secs(30))
            .await
            .map_err(|e| format!("join {channel}: {e}"))?;
        let mut entries = Vec::new();
        let mut anchor = "timestamp=2000-01-01T00:00:00.000Z".to_owned();
        loop {
            let request = format!("CHATHISTORY AFTER {channel} {anchor} {page}\r\n");
            out.requests += 1;
            let (lines, last) = tokio::time::timeout(PAGE_LIMIT, one_page(client, &request))
                .await
                .map_err(|_| format!("no answer to {} in time", request.trim_end()))??;
            let Some(last) = last else {
                break;
            };
            entries.extend(lines);
            if entries.len() as u64 > most {
                return Err(format!(
                    "{channel}: history holds more messages than were sent ({most})"
                ));
            }
            anchor = format!("msgid={last}");
        }
        out.history.push(entries);
    }
    Ok(out)
}

/// Sends one request and reads its batch: the messages and the last one's msgid.
async fn one_page(
    client: &mut Client,
    request: &str,
) -> Result<(Vec<Seen>, Option<String>), String> {
    client
        .writer
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    let mut last = None;
    let mut reference: Option<String> = None;
    loop {
        let line = client
            .reader
            .next_line()
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the verifier's connection closed")?;
        if let Reply::Ping(pong) = classify(&line) {
            client
                .writer
                .write_all(pong.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            continue;
        }
        let Ok(msg) = Message::parse(&line) else {
            continue;
        };
        match msg.command {
            "BATCH" => match (msg.param(0), &reference) {
                (Some(open), None) if open.starts_with('+') => {
                    reference = Some(open[1..].to_owned());
                }
                (Some(close), Some(r)) if close.strip_prefix('-') == Some(r.as_str()) => {
                    return Ok((lines, last));
                }
                _ => {}
            },
            "FAIL" | "ERROR" => return Err(line.clone()),
            "PRIVMSG" if reference.is_some() => {
                let (Some(id), Some(text)) = (msg.tag("msgid"), msg.param(1)) else {
                    return Err(format!("a history line without msgid: {line}"));
                };
                lines.push(Seen::new(&id, text));
                last = Some(id.into_owned());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: &str, sender: usize, seq: u64) -> Seen {
        Seen::new(id, &text(sender, seq))
    }

    fn client(nick: &str, channel: usize, lines: Vec<Seen>) -> (String, Received) {
        let mut r = Received::default();
        r.channels.insert(channel, lines);
        (nick.to_owned(), r)
    }

    #[test]
    fn texts_name_their_sender_and_counter() {
        let s = seen("a", 7, 12);
        assert_eq!(s.name(), "message 7:12");
        assert!(text(7, 12).contains("ñandú"));
        assert_eq!(Seen::new("a", "hola").name(), "a message not of this run");
    }

    #[test]
    fn prefixes_of_history_in_order_are_clean() {
        let h: Vec<Seen> = (0..5).map(|i| seen(&format!("m{i}"), 1, i)).collect();
        let clients = [
            client("a", 0, h[..5].to_vec()),
            client("b", 0, h[..3].to_vec()),
        ];
        let c = compare(&[h], &clients, &["#c".to_owned()]);
        assert_eq!(c.deliveries, 8);
        assert_eq!(c.received, 5);
        assert_eq!(c.in_history, 5);
        assert_eq!(c.nobody, 0);
        assert_eq!(
            (c.lost, c.order_violations, c.gaps, c.mismatches),
            (0, 0, 0, 0)
        );
        assert!(c.examples.is_empty());
    }

    #[test]
    fn losses_disorder_gaps_and_mismatches_are_counted() {
        let h: Vec<Seen> = (0..5).map(|i| seen(&format!("m{i}"), 1, i)).collect();
        let names = ["#c".to_owned()];
        // Received a message history does not hold, by two clients: one loss.
        let extra = seen("x", 2, 0);
        let lost = compare(
            std::slice::from_ref(&h),
            &[
                client("a", 0, vec![h[0], extra]),
                client("b", 0, vec![extra]),
            ],
            &names,
        );
        assert_eq!((lost.lost, lost.received, lost.nobody), (1, 2, 4));
        assert!(
            lost.examples[0].contains("message 2:0"),
            "{:?}",
            lost.examples
        );
        // Two messages the other way round.
        let swapped = compare(
            std::slice::from_ref(&h),
            &[client("a", 0, vec![h[1], h[0]])],
            &names,
        );
        assert_eq!(swapped.order_violations, 1);
        // One skipped in the middle.
        let gap = compare(
            std::slice::from_ref(&h),
            &[client("a", 0, vec![h[0], h[2]])],
            &names,
        );
        assert_eq!((gap.gaps, gap.nobody), (1, 3));
        // The right msgid, another text.
        let other = Seen { who: 99, ..h[0] };
        let wrong = compare(
            std::slice::from_ref(&h),
            &[client("a", 0, vec![other])],
            &names,
        );
        assert_eq!(wrong.mismatches, 1);
        // A msgid twice in history.
        let twice = compare(&[vec![h[0], h[0]]], &[], &names);
        assert_eq!(twice.duplicates, 1);
    }
}
