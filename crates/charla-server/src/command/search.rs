//! SEARCH (`soju.im/search`, as soju and its clients use it): find past messages by their
//! words, in one conversation or in every conversation the asker can read.
//!
//! `SEARCH text=<words>[;in=<target>][;after=<time>][;before=<time>][;limit=<n>]` — the
//! attributes in message-tag syntax. Words match whole words without case or accents ("que"
//! finds "¿Qué?"), every word must be there, and the newest matches come back (at most
//! [`history::request_limit`]) in a `soju.im/search` batch, oldest first. What the asker may
//! search is what CHATHISTORY lets them read: their channels (from their join in unregistered
//! ones, by default) and their account's private conversations.

use std::collections::HashMap;

use charla_proto::casemap::casefold;
use charla_proto::message::parse_tags;
use charla_store::SearchQuery;

use crate::command::Flow;
use crate::command::chathistory::{access, limit, send_entries};
use crate::command::table::Owned;
use crate::history;
use crate::session::Session;
use crate::timefmt;

/// `SEARCH <attributes>`.
pub async fn search(s: &mut Session, p: Owned<1>) -> Flow {
    if !s.state.config.history.enabled {
        fail(s, "MESSAGE_ERROR", "This server keeps no history");
        return Flow::Continue;
    }
    let mut text = None;
    let mut target = None;
    let (mut after_ms, mut before_ms, mut wanted) = (None, None, None);
    for attr in parse_tags(&p.req[0]) {
        let value = attr.value.into_owned();
        let time = |v: &str| timefmt::parse_iso8601(v);
        match attr.key {
            "text" => text = Some(value),
            "in" => target = Some(value),
            "after" => after_ms = Some(time(&value)),
            "before" => before_ms = Some(time(&value)),
            "limit" => wanted = Some(value),
            other => {
                fail(s, "INVALID_PARAMS", &format!("Unknown attribute {other}"));
                return Flow::Continue;
            }
        }
    }
    let Some(text) = text.filter(|t| t.chars().any(char::is_alphanumeric)) else {
        fail(s, "INVALID_PARAMS", "Give the words to find: text=<words>");
        return Flow::Continue;
    };
    // `Some(None)`: the attribute was there, and not a time.
    if after_ms == Some(None) || before_ms == Some(None) {
        fail(
            s,
            "INVALID_PARAMS",
            "Times are YYYY-MM-DDThh:mm:ss.sssZ (after=, before=)",
        );
        return Flow::Continue;
    }
    let (after_ms, before_ms) = (after_ms.flatten(), before_ms.flatten());
    let max = history::request_limit(&s.state.config);
    let limit = match wanted {
        None => max,
        Some(n) => match limit(s, Some(&n)) {
            Some(n) => n,
            None => {
                fail(s, "INVALID_PARAMS", "Invalid limit: give a number above 0");
                return Flow::Continue;
            }
        },
    };
    // Where to look, and from when the asker may read each place.
    let mut since: HashMap<String, Option<i64>> = HashMap::new();
    let mut owner = String::new();
    match &target {
        Some(target) => {
            let Some(found) = access(s, target) else {
                fail(s, "INVALID_PARAMS", "No history you can read there");
                return Flow::Continue;
            };
            since.insert(found.key, found.since);
        }
        None => {
            let names: Vec<String> = s
                .client
                .info
                .read()
                .channels
                .iter()
                .map(|c| c.name())
                .collect();
            for name in names {
                if let Some(found) = access(s, &name) {
                    since.insert(found.key, found.since);
                }
            }
            if let Some(account) = s.client.info.read().account.as_deref() {
                owner = casefold(account).into_owned();
            }
        }
    }
    let query = SearchQuery {
        text,
        after_ms,
        before_ms,
        limit,
    };
    let targets = since.keys().cloned().collect();
    match s.state.store.search(&owner, targets, query).await {
        Ok(mut found) => {
            found.retain(|e| match since.get(&e.target) {
                Some(Some(from)) => e.time_ms >= *from,
                _ => true,
            });
            send_entries(s, &["soju.im/search"], &found);
        }
        Err(error) => {
            tracing::warn!(%error, "SEARCH could not read the store");
            fail(
                s,
                "MESSAGE_ERROR",
                "History cannot be searched right now; try again later",
            );
        }
    }
    Flow::Continue
}

/// `FAIL SEARCH <code> :<text>`.
fn fail(s: &Session, code: &str, text: &str) {
    let mut line = s.server_line("FAIL");
    line.param("SEARCH").param(code).trailing(text);
    s.send_line(line);
}
