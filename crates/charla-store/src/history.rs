//! Message history: the records a conversation's history is made of, and the queries on it.
//!
//! Plain data, like [`crate::record`]: a [`HistoryRecord`] is one message or event of one
//! conversation (a channel, or a private conversation whose key the caller builds); a
//! [`HistoryQuery`] is one of draft/chathistory's subcommands with its [`Anchor`]s; a
//! [`TargetRecord`] is one answer to `CHATHISTORY TARGETS`. The writes that add and remove
//! entries are [`crate::Write::Append`], [`crate::Write::Converse`],
//! [`crate::Write::SetReadMarker`], [`crate::Write::PruneHistory`] and
//! [`crate::Write::Redact`].
//!
//! History is ordered by [`HistoryRecord::seq`], the order in which the store committed the
//! entries, never by time: two entries of the same millisecond, or a clock that stepped back,
//! keep the order in which they were written.
//!
//! The crate-private half of this module turns a query into scans of one target, so that every
//! implementation reads the same entries for the same query and differs only in how it finds
//! them.

use std::cmp::Ordering;

/// One entry of a conversation's history: a message or an event (join, part, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// The store's order: assigned on append (give 0 when writing), strictly increasing in
    /// commit order over the whole store. History is ordered by it, never by time.
    pub seq: u64,
    /// The conversation's key (a channel key, or a key the caller builds for a private
    /// conversation); opaque to the store.
    pub target: String,
    /// The message id, unique in the whole store.
    pub msgid: String,
    /// Server time (Unix ms).
    pub time_ms: i64,
    /// The IRC command: PRIVMSG, NOTICE, TAGMSG, JOIN, PART, QUIT, KICK, NICK, TOPIC, MODE...
    pub command: String,
    /// `nick!user@host` of the sender.
    pub source: String,
    /// The sender's account, if logged in.
    pub account: Option<String>,
    /// Client-only tags as sent on the wire (escaped, joined with `;`), empty if none.
    pub tags: String,
    /// The IRC parameters (the target first); none contains CR, LF or NUL.
    pub params: Vec<String>,
}

/// Where a history query starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// The entry with this message id, which must belong to the queried target. Entries are
    /// before or after it by [`HistoryRecord::seq`].
    Msgid(String),
    /// A server time (Unix ms). Entries are before it when their `time_ms` is lower, after it
    /// when it is higher; an entry of exactly that millisecond is neither.
    Time(i64),
}

/// A history query (draft/chathistory's subcommands). Results are always in ascending `seq`
/// order.
///
/// "Closest" to an anchor is counted in the anchor's own terms: by `seq` from a
/// [`Anchor::Msgid`], by `time_ms` (then `seq`) from an [`Anchor::Time`]. The two agree
/// whenever times do not decrease along `seq`, which is the case unless the server's clock
/// stepped back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryQuery {
    /// The latest `limit` entries; with an anchor, only entries after it (exclusive).
    Latest(Option<Anchor>),
    /// The `limit` entries closest before the anchor (exclusive).
    Before(Anchor),
    /// The `limit` entries closest after the anchor (exclusive).
    After(Anchor),
    /// `limit / 2` entries before the anchor (exclusive) and the rest from the anchor on
    /// (inclusive: a msgid anchor's own entry is included).
    Around(Anchor),
    /// Entries strictly between the two anchors: when the first is earlier, the `limit`
    /// closest after the first; when the first is later, the `limit` closest before the first;
    /// ascending either way.
    ///
    /// Two msgid anchors are compared by `seq`; a msgid anchor and a time anchor by the msgid
    /// entry's `time_ms`. Anchors at the same place (the same entry, the same time, or a msgid
    /// entry at exactly the time of the other anchor) have nothing between them.
    Between(Anchor, Anchor),
}

/// Which entries a history query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kinds {
    /// Messages and events.
    #[default]
    All,
    /// Only messages: PRIVMSG, NOTICE and TAGMSG.
    Messages,
}

/// The commands that are messages (everything else in history is an event).
pub const MESSAGE_COMMANDS: [&str; 3] = ["PRIVMSG", "NOTICE", "TAGMSG"];

impl Kinds {
    /// Whether `entry` is of these kinds.
    pub fn holds(self, entry: &HistoryRecord) -> bool {
        self == Kinds::All || MESSAGE_COMMANDS.contains(&entry.command.as_str())
    }
}

/// A full-text search of messages ([`crate::Store::search`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The words to find: a message matches when its text holds every one of them as a whole
    /// word, compared without case or accents ("que" finds "¿Qué?").
    pub text: String,
    /// Only messages after this time (Unix ms, exclusive).
    pub after_ms: Option<i64>,
    /// Only messages before this time (Unix ms, exclusive).
    pub before_ms: Option<i64>,
    /// The most messages returned: the newest matches.
    pub limit: usize,
}

impl SearchQuery {
    /// The words of `text`, folded (lower case, Latin accents removed); none if it has no word.
    pub(crate) fn words(&self) -> Vec<String> {
        words(&self.text)
    }

    /// The text as an FTS5 query: every word quoted (so nothing in it is FTS syntax), all
    /// required.
    pub(crate) fn fts(&self) -> String {
        self.text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The words of `text` as the search index sees them: split at anything that is not a letter
/// or digit, lower case, with the accents of Latin letters removed.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.chars()
                .flat_map(char::to_lowercase)
                .map(unaccent)
                .collect()
        })
        .collect()
}

/// A Latin letter without its accent (the index's `remove_diacritics`; the letters Spanish,
/// Portuguese, French, Catalan and German write).
fn unaccent(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ñ' => 'n',
        'ç' => 'c',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

/// A conversation with recent activity (CHATHISTORY TARGETS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRecord {
    /// The conversation's key.
    pub target: String,
    /// What to show: the channel key for a channel, the peer name for a private conversation.
    pub name: String,
    /// The time of the conversation's latest activity (Unix ms).
    pub last_ms: i64,
}

/// An anchor once found in the queried target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    /// A msgid anchor: its entry's `seq` and `time_ms`.
    Entry {
        /// The entry's `seq`.
        seq: i64,
        /// The entry's `time_ms`.
        time_ms: i64,
    },
    /// A time anchor.
    Time(i64),
}

/// A column a [`Condition`] tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Seq,
    Time,
}

/// How a [`Condition`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Lt,
    Gt,
    Ge,
}

/// `column op value`, one condition on the entries a [`Scan`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Condition {
    pub column: Column,
    pub op: Op,
    pub value: i64,
    /// The time of the condition's place: its entry's `time_ms` for a `Seq` condition, `value`
    /// for a `Time` one. Along a target's `seq` its times never go back (see
    /// [`crate::Write::Append`]), so `seq op value` picks the same entries as
    /// `(time_ms, seq) op (time_ms, value)`: a store may then keep one index, by target and
    /// time, for both orders.
    pub time_ms: i64,
}

impl Condition {
    /// Whether `entry` passes.
    pub fn holds(&self, entry: &HistoryRecord) -> bool {
        let value = match self.column {
            Column::Seq => seq_value(entry.seq),
            Column::Time => entry.time_ms,
        };
        match self.op {
            Op::Lt => value < self.value,
            Op::Gt => value > self.value,
            Op::Ge => value >= self.value,
        }
    }
}

/// A `seq` as the signed integer SQLite keeps (a store never comes near `i64::MAX` entries).
pub(crate) fn seq_value(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// One read of a target's history: the entries that pass every condition, taken in the order of
/// `key` (ascending, or descending from the end), at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    pub conditions: Vec<Condition>,
    /// Which entries it reads.
    pub kinds: Kinds,
    pub key: Column,
    pub descending: bool,
    pub limit: usize,
}

impl Scan {
    /// The order of two entries in this scan's walk (the first taken first).
    pub fn order(&self, a: &HistoryRecord, b: &HistoryRecord) -> Ordering {
        let ascending = match self.key {
            Column::Seq => a.seq.cmp(&b.seq),
            Column::Time => (a.time_ms, a.seq).cmp(&(b.time_ms, b.seq)),
        };
        if self.descending {
            ascending.reverse()
        } else {
            ascending
        }
    }
}

impl Point {
    fn key(self) -> Column {
        match self {
            Point::Entry { .. } => Column::Seq,
            Point::Time(_) => Column::Time,
        }
    }

    fn condition(self, op: Op) -> Condition {
        let (column, value, time_ms) = match self {
            Point::Entry { seq, time_ms } => (Column::Seq, seq, time_ms),
            Point::Time(time_ms) => (Column::Time, time_ms, time_ms),
        };
        Condition {
            column,
            op,
            value,
            time_ms,
        }
    }

    /// Entries strictly before this point.
    fn before(self) -> Condition {
        self.condition(Op::Lt)
    }

    /// Entries strictly after this point.
    fn after(self) -> Condition {
        self.condition(Op::Gt)
    }

    /// Entries from this point on (a msgid anchor's own entry included).
    fn from(self) -> Condition {
        self.condition(Op::Ge)
    }

    /// Where `self` stands against `other` (see [`HistoryQuery::Between`]).
    fn compare(self, other: Point) -> Ordering {
        match (self, other) {
            (Point::Entry { seq: a, .. }, Point::Entry { seq: b, .. }) => a.cmp(&b),
            (Point::Entry { time_ms: a, .. } | Point::Time(a), Point::Time(b))
            | (Point::Time(a), Point::Entry { time_ms: b, .. }) => a.cmp(&b),
        }
    }
}

fn scan(conditions: Vec<Condition>, key: Column, descending: bool, limit: usize) -> Scan {
    Scan {
        conditions,
        kinds: Kinds::All,
        key,
        descending,
        limit,
    }
}

/// The scans that answer `query`, finding msgid anchors with `resolve` (the anchor's entry in
/// the queried target, or `None`). `Ok(None)` when an anchor is not an entry of the target.
/// The caller reads each scan, joins the entries and sorts them by `seq`.
pub(crate) fn plan<E>(
    query: &HistoryQuery,
    limit: usize,
    mut resolve: impl FnMut(&str) -> Result<Option<Point>, E>,
) -> Result<Option<Vec<Scan>>, E> {
    let mut point = |anchor: &Anchor| match anchor {
        Anchor::Msgid(msgid) => resolve(msgid),
        Anchor::Time(time_ms) => Ok(Some(Point::Time(*time_ms))),
    };
    // Every anchor is resolved first: an unknown msgid is `None` whatever the limit.
    let scans = match query {
        HistoryQuery::Latest(None) => vec![scan(Vec::new(), Column::Seq, true, limit)],
        HistoryQuery::Latest(Some(anchor)) => {
            let Some(a) = point(anchor)? else {
                return Ok(None);
            };
            vec![scan(vec![a.after()], a.key(), true, limit)]
        }
        HistoryQuery::Before(anchor) => {
            let Some(a) = point(anchor)? else {
                return Ok(None);
            };
            vec![scan(vec![a.before()], a.key(), true, limit)]
        }
        HistoryQuery::After(anchor) => {
            let Some(a) = point(anchor)? else {
                return Ok(None);
            };
            vec![scan(vec![a.after()], a.key(), false, limit)]
        }
        HistoryQuery::Around(anchor) => {
            let Some(a) = point(anchor)? else {
                return Ok(None);
            };
            let before = limit / 2;
            vec![
                scan(vec![a.before()], a.key(), true, before),
                scan(vec![a.from()], a.key(), false, limit - before),
            ]
        }
        HistoryQuery::Between(first, second) => {
            let (Some(a), Some(b)) = (point(first)?, point(second)?) else {
                return Ok(None);
            };
            match a.compare(b) {
                Ordering::Less => vec![scan(vec![a.after(), b.before()], a.key(), false, limit)],
                Ordering::Greater => {
                    vec![scan(vec![a.before(), b.after()], a.key(), true, limit)]
                }
                Ordering::Equal => Vec::new(),
            }
        }
    };
    Ok(Some(
        scans.into_iter().filter(|scan| scan.limit > 0).collect(),
    ))
}

/// Params as one text: each followed by `'\n'` (they never contain one), so that no params and
/// one empty param stay apart.
pub(crate) fn encode_params(params: &[String]) -> String {
    let mut text = String::with_capacity(params.iter().map(|p| p.len() + 1).sum());
    for param in params {
        text.push_str(param);
        text.push('\n');
    }
    text
}

/// The params [`encode_params`] wrote, or `None` if `text` is not such a text.
pub(crate) fn decode_params(text: &str) -> Option<Vec<String>> {
    if !text.is_empty() && !text.ends_with('\n') {
        return None;
    }
    Some(text.split_terminator('\n').map(str::to_owned).collect())
}

/// Whether a record keeps the promise its fields make (checked in debug builds only: the server
/// builds these records from parsed lines, where CR, LF and NUL cannot occur).
pub(crate) fn well_formed(record: &HistoryRecord) -> bool {
    record
        .params
        .iter()
        .all(|param| !param.contains(['\r', '\n', '\0']))
}

/// Sorts the `TARGETS` answer (by `last_ms`, then target) and keeps the first `limit`.
pub(crate) fn finish_targets(mut targets: Vec<TargetRecord>, limit: usize) -> Vec<TargetRecord> {
    targets.sort_by(|a, b| (a.last_ms, &a.target).cmp(&(b.last_ms, &b.target)));
    targets.truncate(limit);
    targets
}

/// Every shape of history query (each anchor kind in each place), with the scans that answer
/// it (each msgid anchor an entry of time 5, seq 1, 2...): what a store's query-plan test
/// explains.
#[cfg(test)]
pub(crate) fn every_query_planned() -> Vec<(HistoryQuery, Vec<Scan>)> {
    let msgid = || Anchor::Msgid("m".to_owned());
    let time = Anchor::Time;
    let queries = [
        HistoryQuery::Latest(None),
        HistoryQuery::Latest(Some(msgid())),
        HistoryQuery::Latest(Some(time(5))),
        HistoryQuery::Before(msgid()),
        HistoryQuery::Before(time(5)),
        HistoryQuery::After(msgid()),
        HistoryQuery::After(time(5)),
        HistoryQuery::Around(msgid()),
        HistoryQuery::Around(time(5)),
        HistoryQuery::Between(msgid(), msgid()),
        HistoryQuery::Between(time(1), time(9)),
        HistoryQuery::Between(time(9), time(1)),
        HistoryQuery::Between(msgid(), time(9)),
        HistoryQuery::Between(msgid(), time(1)),
        HistoryQuery::Between(time(9), msgid()),
        HistoryQuery::Between(time(1), msgid()),
    ];
    queries
        .into_iter()
        .map(|query| {
            // Two different entries for Between(msgid, msgid); time 5 for the mixed ones.
            let mut next = 0;
            let scans = plan(&query, 10, |_| {
                next += 1;
                Ok::<_, ()>(Some(Point::Entry {
                    seq: next,
                    time_ms: 5,
                }))
            })
            .expect("plan")
            .expect("anchors");
            (query, scans)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip_and_keep_empty_ones_apart() {
        for params in [
            vec![],
            vec![String::new()],
            vec!["#c".to_owned(), String::new()],
            vec!["#c".to_owned(), "¿Qué tal, ñandú?".to_owned()],
        ] {
            let text = encode_params(&params);
            assert_eq!(decode_params(&text), Some(params));
        }
        assert_eq!(decode_params("no terminator"), None);
    }

    #[test]
    fn anchors_at_the_same_place_have_nothing_between() {
        let none = |_: &str| {
            Ok::<_, ()>(Some(Point::Entry {
                seq: 3,
                time_ms: 10,
            }))
        };
        let query = HistoryQuery::Between(Anchor::Msgid("a".into()), Anchor::Time(10));
        assert_eq!(plan(&query, 10, none), Ok(Some(Vec::new())));
        let query = HistoryQuery::Between(Anchor::Time(10), Anchor::Time(10));
        assert_eq!(plan(&query, 10, none), Ok(Some(Vec::new())));
    }
}
