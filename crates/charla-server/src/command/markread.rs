//! MARKREAD (<https://ircv3.net/specs/extensions/read-marker>): where an account has read a
//! conversation up to, kept in the store, so that every client of the account (a laptop and a
//! phone) shows the same conversations as read.
//!
//! `MARKREAD <target> timestamp=<time>` moves the marker forward (never back: an older time
//! changes nothing) and tells every client of the account that has `draft/read-marker`;
//! `MARKREAD <target>` asks for it (`*` when there is none). Joining a channel sends its marker.
//! Markers belong to accounts: without one, `FAIL MARKREAD ACCOUNT_REQUIRED`.

use charla_proto::casemap::casefold;
use charla_proto::validate::is_channel_name;
use charla_store::Write;

use std::sync::Arc;

use crate::caps::Cap;
use crate::channel::Channel;
use crate::command::chathistory::conversation;
use crate::command::table::{Owned, Wait};
use crate::command::{Flow, Pending, join};
use crate::outbound::Line;
use crate::session::Session;
use crate::timefmt;

/// `MARKREAD <target> [timestamp=<time>]`.
pub async fn markread(s: &mut Session, p: Owned<1>) -> Flow {
    let target = p.req[0].clone();
    let Some(account) = s.client.info.read().account.clone() else {
        fail(
            s,
            "ACCOUNT_REQUIRED",
            &target,
            "Log in to keep read markers",
        );
        return Flow::Continue;
    };
    let account = casefold(&account).into_owned();
    let Some(key) = marker_key(s, &target) else {
        fail(s, "INVALID_PARAMS", &target, "No such conversation");
        return Flow::Continue;
    };
    let mut moved_to = None;
    if let Some(stamp) = p.get(1) {
        let Some(time_ms) = stamp
            .strip_prefix("timestamp=")
            .and_then(timefmt::parse_iso8601)
        else {
            fail(
                s,
                "INVALID_PARAMS",
                &target,
                "Give timestamp=<YYYY-MM-DDThh:mm:ss.sssZ>",
            );
            return Flow::Continue;
        };
        let write = Write::SetReadMarker {
            account: account.clone(),
            target: key.clone(),
            time_ms,
        };
        if let Err(error) = s.state.store.write(write).await {
            tracing::warn!(%error, "MARKREAD could not write the store");
            fail(
                s,
                "INTERNAL_ERROR",
                &target,
                "The marker could not be kept; try again later",
            );
            return Flow::Continue;
        }
        moved_to = Some(time_ms);
    }
    let stored = match s.state.store.read_marker(&account, &key).await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::warn!(%error, "MARKREAD could not read the store");
            fail(
                s,
                "INTERNAL_ERROR",
                &target,
                "The marker cannot be read right now",
            );
            return Flow::Continue;
        }
    };
    let line = marker_line(s, &target, stored);
    if moved_to.is_some() && stored == moved_to {
        // The account's other clients learn the new marker: its devices, and other users
        // logged into it.
        for user in s.state.all_clients() {
            let same =
                user.info.read().account.as_deref().map(casefold).as_deref() == Some(&account);
            if !same {
                continue;
            }
            for c in user.connections() {
                if c.has_cap(Cap::ReadMarker) && c.id != s.conn.id {
                    let _ = c.queue.push(line.clone());
                }
            }
        }
    }
    s.send_bytes(line);
    Flow::Continue
}

/// Where the marker of `target` is kept: the channel's key, or the private conversation's.
fn marker_key(s: &Session, target: &str) -> Option<String> {
    if is_channel_name(target) {
        Some(casefold(target).into_owned())
    } else {
        conversation(s, target)
    }
}

/// `:server MARKREAD <target> timestamp=<time>` (or `*`).
fn marker_line(s: &Session, target: &str, stored: Option<i64>) -> Line {
    let mut line = s.server_line("MARKREAD");
    line.param(target);
    match stored {
        Some(ms) => line.param(&format!(
            "timestamp={}",
            timefmt::iso8601(timefmt::from_unix_millis(ms))
        )),
        None => line.param("*"),
    };
    Line::new(line.finish())
}

/// `FAIL MARKREAD <code> <target> :<text>`.
fn fail(s: &Session, code: &str, target: &str, text: &str) {
    let mut line = s.server_line("FAIL");
    line.param("MARKREAD")
        .param(code)
        .param(target)
        .trailing(text);
    s.send_line(line);
}

/// Whether a JOIN of this client is followed by read markers: it is logged in and has
/// `draft/read-marker`.
pub fn wanted(s: &Session) -> bool {
    s.conn.has_cap(Cap::ReadMarker) && s.client.info.read().account.is_some()
}

/// After the JOINs of a client that [`wanted`] markers: each channel's marker, then its NAMES
/// (the spec wants the marker before the end of NAMES).
pub fn after_join(s: &Session, channels: Vec<Arc<Channel>>) -> Flow {
    if channels.is_empty() {
        return Flow::Continue;
    }
    let account = s
        .client
        .info
        .read()
        .account
        .as_deref()
        .map(|a| casefold(a).into_owned())
        .unwrap_or_default();
    Flow::Wait(Box::new(Pending::later(Box::new(
        move |s: &mut Session| -> Wait<'_> {
            Box::pin(async move {
                for ch in channels {
                    match s.state.store.read_marker(&account, &ch.key()).await {
                        Ok(stored) => s.send_bytes(marker_line(s, &ch.name(), stored)),
                        Err(error) => {
                            tracing::warn!(%error, "the read marker of a joined channel could not be read");
                        }
                    }
                    join::after_topic(s, &ch);
                }
                Flow::Continue
            })
        },
    ))))
}
