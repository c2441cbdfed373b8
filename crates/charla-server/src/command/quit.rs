//! Leaving: the QUIT line to everyone who shares a channel, and removal from every channel.
//! QUIT itself is answered in the connection's exit path, which calls [`leave_everything`]
//! for every way a session can end (QUIT, error, KILL, SendQ, timeout, shutdown).

use charla_proto::LineBuilder;

use crate::client::Client;
use crate::deliver::{self, Payload};
use crate::history::Event;
use crate::state::State;

/// Tells every peer `user` quit with `reason` and takes it out of all its channels.
pub fn leave_everything(state: &State, user: &Client, reason: &str) {
    let (channels, source) = {
        let mut info = user.info.write();
        let source = info.source(&user.host);
        (std::mem::take(&mut info.channels), source)
    };
    if channels.is_empty() {
        return;
    }
    let mut line = LineBuilder::new();
    line.source(&source).command("QUIT").trailing(reason);
    let event =
        Event::new(state, user, "QUIT", vec![reason.to_owned()]).map(|e| e.through_log(state));
    deliver::to_peers_leaving(
        user,
        &channels,
        &Payload::new(user.tagged(crate::outbound::Outgoing::new(line))).may_wait(),
        event.as_ref(),
    );
    if let (Some(cluster), Some(event)) = (state.cluster(), &event) {
        cluster.events_held(event.take_all_held());
    }
    for ch in &channels {
        state.drop_channel_if_empty(ch);
    }
}
