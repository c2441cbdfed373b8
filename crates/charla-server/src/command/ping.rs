//! PING from a client (<https://modern.ircdocs.horse/#ping-message>). The server's own PINGs to
//! idle clients live in the connection loop; PONG only counts as activity there.

use crate::command::Flow;
use crate::command::table::Args;
use crate::session::Session;

/// `PING <token>` -> `:server PONG server :<token>`.
pub fn ping(s: &mut Session, p: Args<'_, 1>) -> Flow {
    let mut line = s.server_line("PONG");
    line.param(s.state.name()).trailing(p.req[0]);
    s.send_line(line);
    Flow::Continue
}

/// `PONG [<server>] <token>`: only activity, which the connection notes for every line.
pub fn pong(_: &mut Session, _: Args<'_, 0>) -> Flow {
    Flow::Continue
}
