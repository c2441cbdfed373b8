//! PASS and USER, and the end of registration: the welcome burst 001–005, LUSERS and MOTD
//! (<https://modern.ircdocs.horse/#connection-registration>).

use charla_proto::numeric::{
    ERR_ALREADYREGISTERED, ERR_NEEDMOREPARAMS, ERR_NICKNAMEINUSE, ERR_PASSWDMISMATCH, RPL_CREATED,
    RPL_MYINFO, RPL_WELCOME, RPL_YOURHOST,
};
use charla_proto::validate::USERLEN;
use tracing::debug;

use crate::account::password::Password;
use crate::account::{login, protect};
use crate::command::table::Args;
use crate::command::{Flow, info as info_cmd};
use crate::event::ServerEvent;
use crate::isupport::{CHANNEL_MODES, USER_MODES};
use crate::logtext::Escaped;
use crate::session::Session;
use crate::state::Counter;
use crate::timefmt;

/// The version string (RPL_YOURHOST, RPL_MYINFO, VERSION).
pub const VERSION: &str = concat!("charla-", env!("CARGO_PKG_VERSION"));

/// `PASS <password>`: remembered until registration completes.
pub fn pass(s: &mut Session, p: Args<'_, 1>) -> Flow {
    if s.reg.done {
        s.num(ERR_ALREADYREGISTERED)
            .t("You may not reregister")
            .send();
        return Flow::Continue;
    }
    s.reg.pass = Some(Password::new(p.req[0]));
    Flow::Continue
}

/// `QUIT [<reason>]`: the session ends; the connection's exit path tells the others.
pub fn quit(_: &mut Session, p: Args<'_, 0>) -> Flow {
    Flow::Quit(p.first().unwrap_or("").to_owned())
}

/// `USER <username> <mode> <unused> <realname>`.
pub fn user(s: &mut Session, p: Args<'_, 4>) -> Flow {
    if s.reg.done || s.reg.has_user {
        s.num(ERR_ALREADYREGISTERED)
            .t("You may not reregister")
            .send();
        return Flow::Continue;
    }
    // No ident lookup: the user name is marked with `~` as other servers do, and cut to USERLEN.
    let name: String = p.req[0]
        .chars()
        .filter(|c| !matches!(c, ' ' | '@' | '!' | ':' | ',' | '*' | '?') && !c.is_control())
        .take(USERLEN - 1)
        .collect();
    // An empty user name or real name is a missing parameter (modern.ircdocs.horse, USER).
    if name.is_empty() || p.req[3].is_empty() {
        s.num(ERR_NEEDMOREPARAMS)
            .p("USER")
            .t("Not enough parameters")
            .send();
        return Flow::Continue;
    }
    {
        let mut info = s.client.info.write();
        info.user = format!("~{name}");
        info.realname = p.req[3].to_owned();
    }
    s.reg.has_user = true;
    try_complete(s)
}

/// Finishes registration once NICK and USER are in and CAP negotiation (if any) ended.
pub fn try_complete(s: &mut Session) -> Flow {
    if s.reg.done || !s.reg.has_nick || !s.reg.has_user || s.reg.cap_negotiating {
        return Flow::Continue;
    }
    if let Some(expected) = &s.state.config.password
        && s.reg.pass.as_ref().map(Password::expose) != Some(expected.as_str())
    {
        s.num(ERR_PASSWDMISMATCH).t("Password incorrect").send();
        return Flow::Close("Bad password".to_owned());
    }
    s.reg.done = true;
    s.reg.pass = None;
    // A device of an account whose user is here becomes that user.
    if let Some(flow) = crate::devices::attach(s) {
        return flow;
    }
    // In a cluster, one whose user lives on another node becomes a device there.
    if let Some(flow) = crate::devices::relay(s) {
        return flow;
    }
    if s.reg.nick_deferred {
        // The nick's holder turned out not to be this connection's user.
        s.reg.nick_deferred = false;
        let nick = s.client.nick();
        if let Err(why) = s.state.claim_nick(&s.client, &nick) {
            s.reg.done = false;
            s.num(ERR_NICKNAMEINUSE).p(&nick).t(&why.to_string()).send();
            s.reg.has_nick = false;
            s.client.info.write().nick = "*".to_owned();
            return Flow::Continue;
        }
    }
    let (nick, user, account) = {
        let mut info = s.client.info.write();
        info.registered = true;
        // Logged in (SASL) before registering: the account vouches for the user name.
        if let Some(account) = &info.account {
            info.user = login::user_for(account);
        }
        (info.nick.clone(), info.user.clone(), info.account.clone())
    };
    s.state.count(Counter::Users, true);
    if let Some(account) = &account {
        s.state.set_present(account, &s.client);
    }
    if let Some(cluster) = s.state.cluster() {
        cluster.user_up(&s.client);
    }
    welcome(s);
    if s.conn.has_cap(crate::caps::Cap::Metadata) {
        crate::command::metadata::on_enabled(s);
    }
    crate::monitor::tell_online(&s.state, &nick, &format!("{nick}!{user}@{}", s.client.host));
    debug!(conn_id = %s.conn.id, peer = %s.conn.addr, nick = %Escaped(&nick), "registered");
    s.state.metrics.registrations.inc();
    s.state.emit(ServerEvent::Registered {
        id: s.client.id,
        nick,
        user,
        addr: s.conn.addr,
    });
    protect::check(&s.state, &s.client);
    // In a cluster an always-on user is not brought back by its node's restart: its next
    // device, on whichever node, takes back its channels.
    if let Some(account) = account.filter(|_| s.state.cluster().is_some()) {
        return crate::devices::rejoin_kept(account);
    }
    Flow::Continue
}

/// The welcome burst: 001–005, then LUSERS and MOTD as other servers send them.
pub fn welcome(s: &Session) {
    let (nick, user) = {
        let info = s.client.info.read();
        (info.nick.clone(), info.user.clone())
    };
    let state = &s.state;
    let name = state.name();
    s.num(RPL_WELCOME)
        .t(&format!(
            "Welcome to the {} IRC Network, {nick}!{user}@{}",
            state.config.network, s.client.host
        ))
        .send();
    s.num(RPL_YOURHOST)
        .t(&format!("Your host is {name}, running version {VERSION}"))
        .send();
    s.num(RPL_CREATED)
        .t(&format!(
            "This server was created {}",
            timefmt::readable(state.created)
        ))
        .send();
    s.num(RPL_MYINFO)
        .p(name)
        .p(VERSION)
        .p(USER_MODES)
        .p(CHANNEL_MODES)
        .p("beIklov")
        .send();
    s.send_isupport();
    info_cmd::send_lusers(s);
    info_cmd::send_motd(s);
}
