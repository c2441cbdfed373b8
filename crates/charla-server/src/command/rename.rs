//! RENAME (<https://ircv3.net/specs/extensions/channel-rename>, `draft/channel-rename`):
//! channel operators (and IRC operators) give a channel a new name, keeping its members,
//! modes, topic, lists, registration and history.
//!
//! The order of a rename: the checks; the new name reserved in the state
//! ([`State::begin_rename`](crate::state::State::begin_rename)), so that no one creates it
//! meanwhile; the store's [`Write::RenameChannel`] committed (durable before anyone is told);
//! then the switch under the channel map's lock, where the members learn of it
//! ([`State::finish_rename`](crate::state::State::finish_rename)).
//!
//! Refusals: ERR_NOSUCHCHANNEL (no such channel), ERR_NOTONCHANNEL and ERR_CHANOPRIVSNEEDED
//! (not a member, not an operator), ERR_BADCHANNAME (a new name that is not a channel name, as
//! JOIN answers it), `FAIL RENAME CHANNEL_NAME_IN_USE` (another channel has the name, or one
//! that looks like it), `FAIL RENAME CANNOT_RENAME` (the same name, a rename already under way,
//! a store that cannot record it). The old name is free afterwards: a JOIN of it creates a new,
//! empty channel (no redirection, which the spec leaves optional).
//!
//! In a cluster the new name must be free on every node (asked as for NAMES), and the other
//! nodes learn of the rename from the channel's log, where it is the last event under the old
//! name ([`crate::cluster::Cluster::renamed`]).

use charla_proto::LineBuilder;
use charla_proto::casemap::casefold;
use charla_proto::numeric::{ERR_BADCHANNAME, ERR_NOSUCHCHANNEL};
use charla_proto::validate::{KICKLEN, check_channel};
use std::sync::Arc;

use charla_store::{Conflict, Receipt, Write};

use crate::channel::{Channel, Renamed};
use crate::command::Flow;
use crate::command::table::Owned;
use crate::command::topic::truncate;
use crate::event::ServerEvent;
use crate::session::Session;
use crate::state::{RenameRefused, State};

/// The FAIL code for a name another channel holds.
const CHANNEL_NAME_IN_USE: &str = "CHANNEL_NAME_IN_USE";
/// The FAIL code for any other refusal.
const CANNOT_RENAME: &str = "CANNOT_RENAME";

/// `RENAME <channel> <new name> [:<reason>]`.
pub async fn rename(s: &mut Session, p: Owned<2>) -> Flow {
    let [asked, new] = &p.req;
    let reason = truncate(p.get(2).unwrap_or_default(), KICKLEN).to_owned();
    let Some(ch) = s.state.channel(asked) else {
        s.num(ERR_NOSUCHCHANNEL)
            .p(asked)
            .t("No such channel")
            .send();
        return Flow::Continue;
    };
    let old = ch.name();
    if let Err(why) = check_channel(new) {
        s.num(ERR_BADCHANNAME)
            .p(new)
            .t(&format!("Illegal channel name: {why}"))
            .send();
        return Flow::Continue;
    }
    if *new == old {
        fail(
            s,
            CANNOT_RENAME,
            &old,
            new,
            "The channel already has that name",
        );
        return Flow::Continue;
    }
    if !s.client.is_oper() {
        match ch.read(|st| st.member(s.client.id).map(|m| m.op)) {
            None => {
                s.err_not_on_channel(&old);
                return Flow::Continue;
            }
            Some(false) => {
                s.err_chanop_needed(&old);
                return Flow::Continue;
            }
            Some(true) => {}
        }
    }
    // In a cluster the new name must be free on every node, not only here.
    let elsewhere = match s.state.cluster().cloned() {
        Some(cluster) => cluster.view(&casefold(new)).await.is_some(),
        None => false,
    };
    let reserved = if elsewhere {
        Err(RenameRefused::InUse)
    } else {
        s.state.begin_rename(&ch, new)
    };
    match reserved {
        Ok(()) => {}
        Err(RenameRefused::NoSuchChannel) => {
            s.num(ERR_NOSUCHCHANNEL).p(&old).t("No such channel").send();
            return Flow::Continue;
        }
        Err(RenameRefused::InUse) => {
            fail(
                s,
                CHANNEL_NAME_IN_USE,
                &old,
                new,
                "The channel name is already taken",
            );
            return Flow::Continue;
        }
        Err(RenameRefused::Busy) => {
            fail(s, CANNOT_RENAME, &old, new, "The channel is being renamed");
            return Flow::Continue;
        }
    }
    let mut line = LineBuilder::new();
    line.source(&s.client.source())
        .command("RENAME")
        .param(&old)
        .param(new)
        .trailing(&reason);
    let renamed = Renamed {
        old: old.clone(),
        new: new.clone(),
        reason,
        line: s.outgoing(line),
        server: s.state.name().to_owned(),
    };
    // Durable before anyone is told: a restart finds the channel (its registration, history
    // and read markers) under its new name, or wholly under its old one.
    let write = Write::RenameChannel {
        from: ch.key(),
        to: casefold(new).into_owned(),
        name: new.clone(),
    };
    let receipt = match s.state.store.append(write) {
        Ok(receipt) => receipt,
        Err(error) => {
            s.state.cancel_rename(&ch);
            tracing::warn!(channel = %crate::logtext::Escaped(&old), %error,
                "a rename was refused: the store cannot take it");
            fail(
                s,
                CANNOT_RENAME,
                &old,
                new,
                "The rename could not be recorded",
            );
            return Flow::Continue;
        }
    };
    let mut guard = Committing {
        state: s.state.clone(),
        channel: ch.clone(),
        receipt: receipt.clone(),
        renamed: Some(renamed),
    };
    let written = receipt.wait().await;
    let Some(renamed) = guard.renamed.take() else {
        return Flow::Continue;
    };
    let (old_key, line, reason) = (ch.key(), renamed.line.clone(), renamed.reason.clone());
    match written {
        Ok(Ok(())) => {
            if s.state.finish_rename(&ch, renamed, Some(s.actor())) {
                // The other nodes learn it from the old name's log.
                if let Some(cluster) = s.state.cluster() {
                    cluster.renamed(&old_key, &ch, &reason, &line);
                }
                s.state.emit(ServerEvent::Renamed {
                    old,
                    new: new.clone(),
                    by: s.nick(),
                });
            } else {
                s.num(ERR_NOSUCHCHANNEL).p(&old).t("No such channel").send();
            }
        }
        Ok(Err(Conflict::Exists)) => {
            s.state.cancel_rename(&ch);
            fail(
                s,
                CHANNEL_NAME_IN_USE,
                &old,
                new,
                "The channel name is registered",
            );
        }
        Ok(Err(_)) | Err(_) => {
            s.state.cancel_rename(&ch);
            tracing::warn!(channel = %crate::logtext::Escaped(&old),
                "a rename was refused: the store could not record it");
            fail(
                s,
                CANNOT_RENAME,
                &old,
                new,
                "The rename could not be recorded",
            );
        }
    }
    Flow::Continue
}

/// A rename whose store write is queued. Should the command's future be dropped before the
/// commit is known (its connection ends), the rename still ends as the store decides: a task
/// waits for the commit and then switches the channel (or drops the reservation), so the
/// state never stays apart from the store nor the new name reserved forever.
struct Committing {
    state: Arc<State>,
    channel: Arc<Channel>,
    receipt: Receipt,
    /// `None` once the command itself finished the rename.
    renamed: Option<Renamed>,
}

impl Drop for Committing {
    fn drop(&mut self) {
        let Some(renamed) = self.renamed.take() else {
            return;
        };
        let (state, channel, receipt) = (
            self.state.clone(),
            self.channel.clone(),
            self.receipt.clone(),
        );
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    match receipt.wait().await {
                        Ok(Ok(())) => {
                            let (old_key, line) = (channel.key(), renamed.line.clone());
                            let reason = renamed.reason.clone();
                            if state.finish_rename(&channel, renamed, None)
                                && let Some(cluster) = state.cluster()
                            {
                                cluster.renamed(&old_key, &channel, &reason, &line);
                            }
                        }
                        _ => state.cancel_rename(&channel),
                    }
                });
            }
            Err(_) => state.cancel_rename(&channel),
        }
    }
}

/// `FAIL RENAME <code> <old> <new> :<text>`.
fn fail(s: &Session, code: &str, old: &str, new: &str, text: &str) {
    let mut line = s.server_line("FAIL");
    line.param("RENAME")
        .param(code)
        .param(old)
        .param(new)
        .trailing(text);
    s.send_line(line);
}
