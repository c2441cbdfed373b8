//! Several connections of one account as one user (multiclient), and users kept present with
//! none (always-on), the way ergo's multiclient and bouncers such as soju do it.
//!
//! A connection that finishes registering logged into an account whose user is already here
//! *attaches* to that user ([`attach`]): it takes the user's nick, gets the JOIN, topic and
//! names of the user's channels, and from then on its commands act as the user
//! ([`Session::client`]) while its replies go to its own queue ([`Session::conn`]). Every
//! delivery to the user reaches each of its connections in the variant that connection's
//! capabilities ask for ([`crate::deliver`]); what one device does (a message, a JOIN, a nick
//! change) is seen by the others.
//!
//! The user is the `Client` of its first connection; the others are listed in its
//! [`Devices`](crate::client::Devices). When a connection ends ([`depart`]), the user leaves
//! (QUIT to its peers) only with its last connection, and not even then when its account is
//! always-on: it stays in its channels and keeps its nick, marked away, and history (channel and
//! private) keeps filling until a device comes back. KILL and GHOST end every connection and
//! the user with them ([`kill`]).

use std::sync::Arc;

use charla_proto::LineBuilder;
use charla_proto::numeric::{RPL_NOWAWAY, RPL_UNAWAY};
use tracing::info;

use crate::caps::Cap;
use crate::channel::Channel;
use crate::client::Client;
use charla_store::{PresenceRecord, Write};

use crate::command::table::Wait;
use crate::command::{Flow, Pending, away, join, markread, topic, turns};
use crate::deliver::Payload;

use crate::logtext::Escaped;
use crate::outbound::{Line, Outgoing};
use crate::sendq::CloseReason;
use crate::session::Session;
use crate::state::State;

/// The away message of a user kept present with no connection (always-on).
pub const AUTO_AWAY: &str = "Not connected right now (always-on)";

/// Relays the session's connection to the node where its account's user lives, if that is
/// another node of the cluster and multiclient allows it ([`crate::cluster::relay`]): called
/// when the connection finishes registering, after [`attach`] found no user here. The
/// connection leaves this node's maps (its user is the other node's), and its lines go there.
pub fn relay(s: &mut Session) -> Option<Flow> {
    let state = s.state.clone();
    let cluster = state.cluster()?;
    if !state.config.accounts.multiclient {
        return None;
    }
    let account = s.conn.info.read().account.clone()?;
    let nick = s.conn.nick();
    let home = cluster.home_of(&account, &nick)?;
    let open = {
        let info = s.conn.info.read();
        crate::cluster::relay::Open {
            account,
            nick,
            user: info.user.clone(),
            realname: info.realname.clone(),
            addr: s.conn.addr,
            secure: s.conn.transport.is_secure(),
            certfp: s.conn.transport.certfp().map(str::to_owned),
            caps: crate::caps::Cap::ALL
                .into_iter()
                .filter(|c| s.conn.has_cap(*c))
                .map(|c| c.name().to_owned())
                .collect(),
        }
    };
    if !state.absorb_device(&s.conn) {
        s.conn.queue.close(CloseReason::Shutdown);
        return Some(Flow::Continue);
    }
    info!(conn_id = %s.conn.id, peer = %s.conn.addr, home = %Escaped(&home),
        "a device relayed to its user's node");
    cluster.relay_open(&home, &s.conn, &open);
    s.reg.relayed = true;
    Some(Flow::Continue)
}

/// Attaches the session's connection to the user already present on its account, if
/// multiclient allows it: called when the connection finishes registering. Returns whether it
/// did, with what the session does next; then it acts as that user, and its welcome and the
/// user's channels have been queued.
pub fn attach(s: &mut Session) -> Option<Flow> {
    let state = s.state.clone();
    if !state.config.accounts.multiclient {
        return None;
    }
    let account = s.conn.info.read().account.clone()?;
    let user = state.present(&account)?;
    if Arc::ptr_eq(&user, &s.conn) {
        return None;
    }
    let max = state.config.accounts.max_devices.max(1);
    let attached = user.with_devices(|d| {
        let live = d.others.len() + usize::from(!d.first_gone);
        if d.leaving || live >= max {
            return false;
        }
        d.others.push(s.conn.clone());
        true
    });
    if !attached {
        return None;
    }
    if !state.absorb_device(&s.conn) {
        s.conn.queue.close(CloseReason::Shutdown);
    }
    s.client = user;
    let (nick, away, channels) = {
        let info = s.client.info.read();
        (info.nick.clone(), info.away.clone(), info.channels.clone())
    };
    info!(conn_id = %s.conn.id, peer = %s.conn.addr, user_id = %s.client.id,
        nick = %Escaped(&nick), "a device attached to its account's user");
    let back_from_auto_away = away.as_deref() == Some(AUTO_AWAY);
    if back_from_auto_away {
        away::set(&state, &s.client, None, None);
    }
    crate::command::registration::welcome(s);
    if let Some(text) = away.filter(|_| !back_from_auto_away) {
        s.num(RPL_NOWAWAY)
            .t(&format!("You have been marked as being away: {text}"))
            .send();
    } else if back_from_auto_away {
        s.num(RPL_UNAWAY)
            .t("You are no longer marked as being away")
            .send();
    }
    if s.conn.has_cap(Cap::Metadata) {
        crate::command::metadata::on_enabled(s);
    }
    let flow = show_joined(s, channels, true);
    Some(flow)
}

/// What a connection of the user is shown of channels the user is in, as if it had just
/// joined them: the JOIN (`with_join`: a device that saw the JOIN delivered needs only the
/// rest), the topic, then the read marker, the names and the channel's metadata.
pub fn show_joined(s: &mut Session, channels: Vec<Arc<Channel>>, with_join: bool) -> Flow {
    let defer = markread::wanted(s);
    for ch in &channels {
        if with_join {
            let line = join_line(s, ch);
            s.send_bytes(line);
        }
        topic::send_topic(s, ch, false);
        if !defer {
            join::after_topic(s, ch);
        }
    }
    if defer {
        // The markers are read from the store: the session waits for them, then the names.
        markread::after_join(s, channels)
    } else {
        Flow::Continue
    }
}

/// The user's JOIN of `ch` in the form the session's connection asks for.
fn join_line(s: &Session, ch: &Channel) -> Line {
    let (source, realname, account) = {
        let info = s.client.info.read();
        (
            info.source(&s.client.host),
            info.realname.clone(),
            info.account.clone(),
        )
    };
    let mut line = LineBuilder::new();
    line.source(&source).command("JOIN").param(&ch.name());
    if s.conn.has_cap(Cap::ExtendedJoin) {
        // extended-join: `JOIN <channel> <account> :<realname>`.
        line.param(account.as_deref().unwrap_or("*"))
            .trailing(&realname);
    }
    s.outgoing(line).for_caps(s.conn.caps())
}

/// Asks each of the user's other connections to show `ch`, which the connection acting in `s`
/// joined, as joined: topic, names and what follows, each in its own session and pace.
pub fn tell_other_devices_joined(s: &Session, ch: &Arc<Channel>) {
    if !s.client.is_linked() {
        return;
    }
    for conn in s.client.connections() {
        if conn.id == s.conn.id {
            continue;
        }
        let ch = ch.clone();
        s.client.post(
            &conn,
            Box::new(move |s: &mut Session| show_joined(s, vec![ch], false)),
        );
    }
}

/// Runs the work other devices left for this connection (between its own commands). The
/// first that must wait is returned, with the rest put back for later.
pub fn run_mail(s: &mut Session) -> Flow {
    let mut mail = s.client.take_mail(s.conn.id).into_iter();
    for m in mail.by_ref() {
        let flow = m(s);
        if !matches!(flow, Flow::Continue) {
            for rest in mail {
                s.client.post(&s.conn.clone(), rest);
            }
            return flow;
        }
    }
    Flow::Continue
}

/// What the end of a connection means for its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// The user leaves with it: QUIT to its peers, out of its channels and the nick map.
    User,
    /// Only this connection goes: the user stays with its other connections, or kept present
    /// by always-on.
    Connection,
    /// Only this connection goes, and it was the user's last: the user stays, kept present by
    /// always-on (marked away).
    Kept,
}

/// Records that the session's connection ends and says what that means for its user.
pub fn depart(s: &Session) -> Departure {
    let first = Arc::ptr_eq(&s.client, &s.conn);
    let kept = always_on(&s.state, &s.client);
    if first && !s.client.is_linked() && !kept {
        // One connection, nothing keeps it: the common case takes no lock.
        s.client.with_devices(|d| d.leaving = true);
        return Departure::User;
    }
    s.client.with_devices(|d| {
        if first {
            d.first_gone = true;
        } else {
            d.others.retain(|c| c.id != s.conn.id);
        }
        d.mail.retain(|(id, _)| *id != s.conn.id);
        let live = !d.others.is_empty() || !d.first_gone;
        if live {
            Departure::Connection
        } else if d.leaving || !kept {
            d.leaving = true;
            Departure::User
        } else {
            Departure::Kept
        }
    })
}

/// Whether `user` stays present without connections: logged in, registered, and its account
/// always-on.
fn always_on(state: &State, user: &Client) -> bool {
    let info = user.info.read();
    info.registered
        && info.account.is_some()
        && info.always_on.unwrap_or(state.config.accounts.always_on)
}

/// After the user's first connection ended with others (or always-on) keeping the user: the
/// first connection's queue is closed for good and emptied, so that deliveries to the user
/// skip it and it holds no memory.
pub fn retire_first(user: &Client) {
    user.queue.close(CloseReason::WriteFailed);
    user.queue.clear();
}

/// Marks a user kept present with no connection as away (unless it already is), and tells
/// its peers with `away-notify`.
pub fn mark_auto_away(state: &State, user: &Client) {
    if user.info.read().away.is_none() {
        away::set(state, user, Some(AUTO_AWAY.to_owned()), None);
    }
}

/// Ends the user `target` and all its connections for `reason` (KILL, GHOST, the console).
/// A user kept present with no connection has no session to leave for it: it leaves here.
pub fn kill(state: &State, target: &Client, reason: String) {
    if let Some(remote) = &target.remote {
        // A user of another node: its node ends it, and tells everyone.
        remote.kill(&reason);
        return;
    }
    target.close_all(CloseReason::Killed(reason.clone()));
    let nobody = target
        .devices_state()
        .is_some_and(|(others, first_gone, _)| others == 0 && first_gone);
    if nobody {
        leave(state, target, &reason);
    }
}

/// The user leaves: QUIT to everyone who shares a channel with it, out of all its channels,
/// out of the nick and client maps; an always-on presence it had is forgotten.
pub fn leave(state: &State, user: &Client, reason: &str) {
    let (account, may_be_kept) = {
        let info = user.info.read();
        let may_be_kept = info.always_on.is_some() || state.config.accounts.always_on;
        (info.account.clone(), may_be_kept)
    };
    if let Some(account) = account.filter(|_| may_be_kept) {
        forget_presence(state, &account);
    }
    if let Some(cluster) = state.cluster()
        && user.info.read().registered
    {
        cluster.user_down(user, reason);
    }
    crate::command::quit::leave_everything(state, user, reason);
    state.remove_client(user);
}

/// [`leave`], its QUIT going to each of its channels in the channel's turn, as a PART would
/// ([`turns::take_all`]): a worker does not block on a channel's lock while another fans out
/// there, and a storm of QUITs from a big channel lets the others run.
pub async fn leave_in_turns(state: &State, user: &Client, reason: &str) {
    let channels = user.info.read().channels.clone();
    let _turns = turns::take_all(state, &channels).await;
    leave(state, user, reason);
}

/// Keeps `user`'s presence in the store, so that a restarted server brings it back
/// (always-on): its nick, user and host, real name and channels.
pub fn keep_presence(state: &State, user: &Client) {
    let (account, nick, name, realname, channels) = {
        let info = user.info.read();
        let Some(account) = info.account.as_deref() else {
            return;
        };
        (
            crate::account::key(account),
            info.nick.clone(),
            info.user.clone(),
            info.realname.clone(),
            info.channels.clone(),
        )
    };
    let presence = PresenceRecord {
        account: account.clone(),
        nick,
        user: name,
        host: user.host.clone(),
        realname,
        channels: channels.iter().map(|c| c.name()).collect(),
    };
    state.store.write_later(Write::SetPresence {
        account,
        presence: Some(presence),
    });
}

/// Forgets the kept presence of `account` (its user left, or logged out).
pub fn forget_presence(state: &State, account: &str) {
    state.store.write_later(Write::SetPresence {
        account: crate::account::key(account),
        presence: None,
    });
}

/// In a cluster, a logged-in user that registered with no user of its account anywhere: if the
/// store kept a presence for the account (an always-on user whose node restarted, which does
/// not bring it back: [`restore`] is for one server), the user takes back the channels it was
/// kept in, joining them as the client would (modes checked, the other nodes told).
pub fn rejoin_kept(account: String) -> Flow {
    Flow::Wait(Box::new(Pending::later(Box::new(
        move |s: &mut Session| -> Wait<'_> {
            Box::pin(async move {
                let key = crate::account::key(&account);
                let Ok(Some(presence)) = s.state.store.presence(&key).await else {
                    return Flow::Continue;
                };
                // In lines of a usual size (a JOIN line of the client's own would be).
                let mut lines: Vec<String> = Vec::new();
                for name in presence.channels {
                    match lines.last_mut() {
                        Some(line) if line.len() + name.len() < 400 => {
                            line.push(',');
                            line.push_str(&name);
                        }
                        _ => lines.push(format!("JOIN {name}")),
                    }
                }
                for line in lines {
                    let mut flow = crate::connection::handle_line(s, &line);
                    if let Flow::Wait(then) = flow {
                        flow = then.run(s).await;
                    }
                    if !matches!(flow, Flow::Continue) {
                        return flow;
                    }
                }
                Flow::Continue
            })
        },
    ))))
}

/// Brings back the always-on users the store kept (at start, before anyone connects): each
/// takes its nick and its channels again, away, until a device logs in. An account no longer
/// always-on, or a nick already taken, is skipped (and its presence forgotten).
pub async fn restore(state: &Arc<State>) {
    let presences = match state.store.presences().await {
        Ok(presences) => presences,
        Err(error) => {
            tracing::warn!(%error, "the always-on users could not be read");
            return;
        }
    };
    let services = crate::account::services::source(state, "ChanServ");
    let mut restored = 0_usize;
    for presence in presences {
        let record = match state.store.account(&presence.account).await {
            Ok(Some(record)) => record,
            _ => continue,
        };
        let on = record.always_on.unwrap_or(state.config.accounts.always_on);
        let user = on
            .then(|| state.add_kept_user(&presence, &record.name, record.always_on))
            .flatten();
        let Some(user) = user else {
            forget_presence(state, &presence.account);
            continue;
        };
        let source = user.source();
        for name in &presence.channels {
            let Ok((ch, _)) = state.channel_or_create(name) else {
                continue;
            };
            let mut line = LineBuilder::new();
            line.source(&source).command("JOIN").param(&ch.name());
            let joiner = crate::channel::Joiner {
                client: &user,
                source: &source,
                key: None,
                check_modes: false,
                services_source: &services,
                event: None,
            };
            let _ = ch.join(
                &joiner,
                &Payload::new(user.tagged(Outgoing::new(line))),
                None,
                None,
            );
        }
        restored += 1;
    }
    if restored > 0 {
        info!(users = restored, "always-on users brought back");
    }
}
