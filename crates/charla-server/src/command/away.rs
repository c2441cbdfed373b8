//! AWAY (<https://modern.ircdocs.horse/#away-message>) with `away-notify`
//! (<https://ircv3.net/specs/extensions/away-notify>).

use charla_proto::LineBuilder;
use charla_proto::numeric::{ERR_NOTREGISTERED, RPL_NOWAWAY, RPL_UNAWAY};
use charla_proto::validate::AWAYLEN;

use crate::caps::Cap;
use crate::client::Client;
use crate::command::table::Args;
use crate::command::topic::truncate;
use crate::command::{Flow, turns};
use crate::deliver::{self, Actor, Payload};
use crate::session::Session;
use crate::state::State;

/// `AWAY [<text>]`: with text, away; without (or empty), back. `AWAY *` (draft/pre-away) is
/// "not here, for no particular reason", kept and shown as `*`. Before registration only with
/// `draft/pre-away`; then nobody else can see the client yet, so only its own reply goes out.
pub fn away(s: &mut Session, p: Args<'_, 0>) -> Flow {
    if !s.reg.done && !s.conn.has_cap(Cap::PreAway) {
        s.num(ERR_NOTREGISTERED).t("You have not registered").send();
        return Flow::Continue;
    }
    let text = p
        .first()
        .filter(|t| !t.is_empty())
        .map(|t| truncate(t, AWAYLEN).to_owned());
    if !s.reg.done {
        s.client.info.write().away = text.clone();
        replied(s, text.is_some());
        return Flow::Continue;
    }
    // It goes to the user's channels in their turns.
    turns::in_all_turns(s, move |s| {
        replied(s, text.is_some());
        set(&s.state, &s.client, text, Some(s.actor()));
        Flow::Continue
    })
}

/// RPL_NOWAWAY or RPL_UNAWAY.
fn replied(s: &Session, away: bool) {
    if away {
        s.num(RPL_NOWAWAY)
            .t("You have been marked as being away")
            .send();
    } else {
        s.num(RPL_UNAWAY)
            .t("You are no longer marked as being away")
            .send();
    }
}

/// Marks `user` away with `text` (or back, with `None`) and tells the peers and watchers that
/// follow away states.
pub fn set(state: &State, user: &Client, text: Option<String>, actor: Option<Actor<'_>>) {
    let source = {
        let mut info = user.info.write();
        info.away = text.clone();
        info.source(&user.host)
    };
    let mut line = LineBuilder::new();
    line.source(&source).command("AWAY");
    if let Some(t) = &text {
        line.trailing(t);
    }
    let payload = Payload::only_with(
        Cap::AwayNotify,
        user.tagged(crate::outbound::Outgoing::new(line)),
    )
    .may_wait();
    deliver::to_peers_and_watchers(state, user, &payload, false, actor);
}
