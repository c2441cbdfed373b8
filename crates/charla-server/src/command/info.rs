//! Server information: MOTD, LUSERS, VERSION, INFO, TIME, LINKS
//! (<https://modern.ircdocs.horse/#server-queries-and-commands>).

use std::time::SystemTime;

use charla_proto::numeric::{
    ERR_NOMOTD, ERR_NOSUCHSERVER, RPL_ENDOFINFO, RPL_ENDOFLINKS, RPL_ENDOFMOTD, RPL_GLOBALUSERS,
    RPL_INFO, RPL_LINKS, RPL_LOCALUSERS, RPL_LUSERCHANNELS, RPL_LUSERCLIENT, RPL_LUSERME,
    RPL_LUSEROP, RPL_LUSERUNKNOWN, RPL_MOTD, RPL_MOTDSTART, RPL_TIME, RPL_VERSION,
};

use crate::command::Flow;
use crate::command::registration::VERSION;
use crate::command::table::Args;
use crate::mask;
use crate::session::Session;
use crate::timefmt;

/// `MOTD`: 375, 372 per line, 376 — or 422 when there is none.
pub fn motd(s: &mut Session, _: Args<'_, 0>) -> Flow {
    send_motd(s)
}

/// The reply of MOTD, also part of the welcome burst.
pub fn send_motd(s: &Session) -> Flow {
    match &s.state.motd {
        Some(lines) => {
            s.num(RPL_MOTDSTART)
                .t(&format!("- {} Message of the day - ", s.state.name()))
                .send();
            for line in lines {
                s.num(RPL_MOTD).t(&format!("- {line}")).send();
            }
            s.num(RPL_ENDOFMOTD).t("End of /MOTD command.").send();
        }
        None => s.num(ERR_NOMOTD).t("MOTD File is missing").send(),
    }
    Flow::Continue
}

/// `LUSERS`: 251–255, 265, 266.
pub fn lusers(s: &mut Session, _: Args<'_, 0>) -> Flow {
    send_lusers(s)
}

/// The reply of LUSERS, also part of the welcome burst.
pub fn send_lusers(s: &Session) -> Flow {
    let (users, invisible, opers, unknown) = s.state.counts();
    let channels = s.state.channel_count();
    // In a cluster, the network's users: this node's and the other nodes' (as known here).
    let network = s
        .state
        .cluster()
        .map(|c| c.remote_counts())
        .unwrap_or_default();
    let (all_users, all_invisible) = (users + network.users, invisible + network.invisible);
    s.num(RPL_LUSERCLIENT)
        .t(&format!(
            "There are {} users and {all_invisible} invisible on {} servers",
            all_users - all_invisible,
            1 + network.nodes
        ))
        .send();
    s.num(RPL_LUSEROP)
        .p(&(opers + network.opers).to_string())
        .t("operator(s) online")
        .send();
    s.num(RPL_LUSERUNKNOWN)
        .p(&unknown.to_string())
        .t("unknown connection(s)")
        .send();
    s.num(RPL_LUSERCHANNELS)
        .p(&channels.to_string())
        .t("channels formed")
        .send();
    s.num(RPL_LUSERME)
        .t(&format!(
            "I have {users} clients and {} servers",
            network.nodes
        ))
        .send();
    // The most since the start, never less than now (the counters are read one by one).
    let max = s.state.max_users().max(users);
    let (n, m) = (users.to_string(), max.to_string());
    s.num(RPL_LOCALUSERS)
        .p(&n)
        .p(&m)
        .t(&format!("Current local users {users}, max {max}"))
        .send();
    let (g, gm) = (all_users, max.max(all_users));
    s.num(RPL_GLOBALUSERS)
        .p(&g.to_string())
        .p(&gm.to_string())
        .t(&format!("Current global users {g}, max {gm}"))
        .send();
    Flow::Continue
}

/// `VERSION`: 351 and the ISUPPORT tokens again.
pub fn version(s: &mut Session, _: Args<'_, 0>) -> Flow {
    s.num(RPL_VERSION)
        .p(VERSION)
        .p(s.state.name())
        .t("Charla IRC server")
        .send();
    s.send_isupport();
    Flow::Continue
}

/// `INFO` (<https://modern.ircdocs.horse/#info-message>): 371 lines about the server, then 374.
pub fn info(s: &mut Session, _: Args<'_, 0>) -> Flow {
    let started = format!("Up since {}", timefmt::readable(s.state.created));
    let lines = [
        VERSION,
        "Charla: a self-hosted chat server that speaks IRC and IRCv3.",
        "Written in Rust, on tokio and rustls.",
        "License: MIT OR Apache-2.0.",
        &started,
    ];
    for line in lines {
        s.num(RPL_INFO).t(line).send();
    }
    s.num(RPL_ENDOFINFO).t("End of INFO list").send();
    Flow::Continue
}

/// `TIME`: 391 with the server's time.
pub fn time(s: &mut Session, _: Args<'_, 0>) -> Flow {
    let now = SystemTime::now();
    s.num(RPL_TIME)
        .p(s.state.name())
        .p(&timefmt::unix(now).to_string())
        .p("0")
        .t(&timefmt::readable(now))
        .send();
    Flow::Continue
}

/// `LINKS [[<remote server>] <server mask>]` (<https://modern.ircdocs.horse/#links-message>):
/// the servers of the network. A Charla network is this one server (nodes share one name
/// space, not a tree of links), so the list is 364 for it when the mask matches, then 365.
/// A remote server other than this one gets ERR_NOSUCHSERVER.
pub fn links(s: &mut Session, p: Args<'_, 0>) -> Flow {
    let name = s.state.name();
    let (remote, mask) = match p.all() {
        [] => (None, None),
        [mask] => (None, Some(*mask)),
        [remote, mask, ..] => (Some(*remote), Some(*mask)),
    };
    if let Some(remote) = remote.filter(|r| !mask::matches(r, name)) {
        s.num(ERR_NOSUCHSERVER).p(remote).t("No such server").send();
        return Flow::Continue;
    }
    let mask = mask.filter(|m| !m.is_empty() && !m.starts_with(':'));
    if mask.is_none_or(|m| mask::matches(m, name)) {
        s.num(RPL_LINKS)
            .p(mask.unwrap_or("*"))
            .p(name)
            .t("0 Charla IRC server")
            .send();
    }
    s.num(RPL_ENDOFLINKS)
        .p(mask.unwrap_or("*"))
        .t("End of /LINKS list")
        .send();
    Flow::Continue
}
