//! ISON and USERHOST (<https://modern.ircdocs.horse/#ison-message>,
//! <https://modern.ircdocs.horse/#userhost-message>).

use charla_proto::numeric::{RPL_ISON, RPL_USERHOST};

use crate::command::Flow;
use crate::command::table::Args;
use crate::session::Session;

/// The nicks of the parameters: each parameter may hold several, separated by spaces.
fn nicks<'a>(p: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
    p.iter()
        .flat_map(|x| x.split(' '))
        .filter(|n| !n.is_empty())
}

/// The most nicks one ISON looks at (ISUPPORT `TARGMAX` says so); the rest are ignored.
pub const MAX_ISON: usize = 64;

/// `ISON <nick>{ <nick>}`: which of them are online.
pub fn ison(s: &mut Session, p: Args<'_, 1>) -> Flow {
    let online: Vec<String> = nicks(p.all())
        .take(MAX_ISON)
        .filter_map(|n| s.state.find_nick(n))
        .filter(|c| c.info.read().registered)
        .map(|c| c.nick())
        .collect();
    s.num(RPL_ISON).t(&online.join(" ")).send();
    Flow::Continue
}

/// `USERHOST <nick>{ <nick>}` (at most 5): `nick[*]=<+|->user@host`.
pub fn userhost(s: &mut Session, p: Args<'_, 1>) -> Flow {
    let replies: Vec<String> = nicks(p.all())
        .take(5)
        .filter_map(|n| s.state.find_nick(n))
        .filter_map(|c| {
            let info = c.info.read();
            info.registered.then(|| {
                format!(
                    "{}{}={}{}@{}",
                    info.nick,
                    if info.modes.oper { "*" } else { "" },
                    if info.away.is_some() { '-' } else { '+' },
                    info.user,
                    c.host
                )
            })
        })
        .collect();
    s.num(RPL_USERHOST).t(&replies.join(" ")).send();
    Flow::Continue
}
