//! NICK (<https://modern.ircdocs.horse/#nick-message>): choosing a nick before registration and
//! changing it after. A change of case only (`alice` -> `Alice`) is allowed.

use charla_proto::LineBuilder;
use charla_proto::casemap::casefold;
use charla_proto::numeric::{
    ERR_BANNICKCHANGE, ERR_ERRONEUSNICKNAME, ERR_NICKNAMEINUSE, ERR_NONICKNAMEGIVEN,
};
use charla_proto::validate::check_nick;

use crate::account::{protect, services};
use crate::client::Client;
use crate::command::table::Args;
use crate::command::{Flow, registration, turns};
use crate::deliver::{self, Actor, Payload};
use crate::event::ServerEvent;
use crate::history::Event;
use crate::outbound::Outgoing;
use crate::session::Session;
use crate::state::State;

/// `NICK <nickname>`. A registered user's new nick goes to its channels in their turns
/// ([`turns::in_all_turns`]).
pub fn nick(s: &mut Session, p: Args<'_, 0>) -> Flow {
    let Some(wanted) = p.first().filter(|n| !n.is_empty()) else {
        s.num(ERR_NONICKNAMEGIVEN).t("No nickname given").send();
        return Flow::Continue;
    };
    if s.reg.done {
        let wanted = wanted.to_owned();
        return turns::in_all_turns(s, move |s| nick_to(s, &wanted));
    }
    nick_to(s, wanted)
}

/// NICK `wanted`, once the turns are taken.
fn nick_to(s: &mut Session, wanted: &str) -> Flow {
    if let Err(why) = check_nick(wanted) {
        s.num(ERR_ERRONEUSNICKNAME)
            .p(wanted)
            .t(&format!("Erroneous nickname: {why}"))
            .send();
        return Flow::Continue;
    }
    let (old_source, old_nick) = {
        let info = s.client.info.read();
        (info.source(&s.client.host), info.nick.clone())
    };
    if old_nick == wanted {
        return Flow::Continue;
    }
    if s.reg.done
        && let Some(channel) = banned_in(s, &old_source, wanted)
    {
        s.num(ERR_BANNICKCHANGE)
            .p(&channel)
            .t("Cannot change nickname while banned on channel")
            .send();
        return Flow::Continue;
    }
    if services::is_reserved(wanted) {
        s.num(ERR_ERRONEUSNICKNAME)
            .p(wanted)
            .t("Erroneous nickname: it is reserved for services")
            .send();
        return Flow::Continue;
    }
    if let Err(why) = s.state.claim_nick(&s.client, wanted) {
        if may_be_own_device(s, wanted) {
            // Settled when registration ends: attached to that user, or told then.
            s.state.release_nick(&s.client);
            s.client.info.write().nick = wanted.to_owned();
            s.reg.nick_deferred = true;
            s.reg.has_nick = true;
            return Flow::Continue;
        }
        s.num(ERR_NICKNAMEINUSE)
            .p(wanted)
            .t(&why.to_string())
            .send();
        return Flow::Continue;
    }
    if !s.reg.done {
        s.reg.has_nick = true;
        s.reg.nick_deferred = false;
        return registration::try_complete(s);
    }
    announce(
        &s.state,
        &s.client,
        &old_source,
        &old_nick,
        wanted,
        Some(s.actor()),
    );
    protect::check(&s.state, &s.client);
    Flow::Continue
}

/// Whether `nick`, held by someone else, may be this registering connection's own user on
/// another device: the holder is logged into an account, multiclient is on, and the
/// connection is still negotiating capabilities (it may yet log in with SASL).
fn may_be_own_device(s: &Session, nick: &str) -> bool {
    !s.reg.done
        && s.reg.cap_negotiating
        && s.state.config.accounts.multiclient
        && s.state
            .find_nick(nick)
            .is_some_and(|holder| holder.info.read().account.is_some())
}

/// Tells `client` and its peers that it changed its nick from `old_nick` (its source was
/// `old_source`) to `new`, which it already holds, and records the old one for WHOWAS.
pub fn announce(
    state: &State,
    client: &Client,
    old_source: &str,
    old_nick: &str,
    new: &str,
    actor: Option<Actor<'_>>,
) {
    state.remember_as(client, old_nick);
    if let Some(cluster) = state.cluster() {
        cluster.user_nick(client, new);
    }
    if casefold(old_nick) != casefold(new) {
        crate::monitor::tell_offline(state, old_nick);
        crate::monitor::tell_online(state, new, &client.source());
    }
    let mut line = LineBuilder::new();
    line.source(old_source).command("NICK").param(new);
    let event = Event::new(state, client, "NICK", vec![new.to_owned()])
        .map(|e| e.by(old_source).through_log(state));
    deliver::to_peers_recorded(
        client,
        &Payload::new(Outgoing::new(line)).may_wait(),
        event.as_ref(),
        true,
        actor,
        |_| true,
    );
    if let (Some(cluster), Some(event)) = (state.cluster(), &event) {
        cluster.events_held(event.take_all_held());
    }
    state.emit(ServerEvent::NickChanged {
        old: old_nick.to_owned(),
        new: new.to_owned(),
    });
}

/// The first channel the client is in where it may not speak because a ban matches it, as it
/// is (`old_source`) or as it would be with nick `wanted`: a new nick must not dodge a ban,
/// nor may a user take a nick banned where they are. Operators and voiced members may speak
/// whatever their nick, so they may change it.
fn banned_in(s: &Session, old_source: &str, wanted: &str) -> Option<String> {
    let (channels, new_source) = {
        let info = s.client.info.read();
        let new_source = format!("{wanted}!{}@{}", info.user, s.client.host);
        (info.channels.clone(), new_source)
    };
    channels.iter().find_map(|ch| {
        let banned = ch.read(|st| {
            let privileged = st.member(s.client.id).is_some_and(|m| m.op || m.voice);
            !privileged && (st.is_banned(old_source) || st.is_banned(&new_source))
        });
        banned.then(|| ch.name())
    })
}
