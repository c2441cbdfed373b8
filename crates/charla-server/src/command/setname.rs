//! SETNAME (<https://ircv3.net/specs/extensions/setname>): change the real name; the client and
//! its peers with the `setname` capability are told.

use charla_proto::LineBuilder;

use crate::caps::Cap;
use crate::command::table::Args;
use crate::command::{Flow, turns};
use crate::deliver::{self, Payload};
use crate::session::Session;

/// Longest real name, in bytes.
pub const REALNAME_LEN: usize = 128;

/// `SETNAME :<realname>`. The new name goes to the user's channels in their turns
/// ([`turns::in_all_turns`]).
pub fn setname(s: &mut Session, p: Args<'_, 1>) -> Flow {
    let name = p.req[0];
    if name.is_empty() || name.len() > REALNAME_LEN {
        s.fail("SETNAME", "INVALID_REALNAME", "Realname is not valid");
        return Flow::Continue;
    }
    let name = name.to_owned();
    turns::in_all_turns(s, move |s| set(s, &name))
}

/// The user's real name is now `name`: it and its peers that follow real names are told.
fn set(s: &mut Session, name: &str) -> Flow {
    let source = {
        let mut info = s.client.info.write();
        info.realname = name.to_owned();
        info.source(&s.client.host)
    };
    let mut line = LineBuilder::new();
    line.source(&source).command("SETNAME").trailing(name);
    let payload = Payload::only_with(Cap::Setname, s.outgoing(line)).may_wait();
    deliver::to_peers_and_watchers(&s.state, &s.client, &payload, true, Some(s.actor()));
    Flow::Continue
}
