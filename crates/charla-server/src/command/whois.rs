//! WHOIS and WHOWAS (<https://modern.ircdocs.horse/#whois-message>,
//! <https://modern.ircdocs.horse/#whowas-message>).

use std::time::Instant;

use charla_proto::numeric::{
    ERR_NONICKNAMEGIVEN, ERR_NOSUCHNICK, ERR_WASNOSUCHNICK, RPL_AWAY, RPL_ENDOFWHOIS,
    RPL_ENDOFWHOWAS, RPL_WHOISACCOUNT, RPL_WHOISBOT, RPL_WHOISCERTFP, RPL_WHOISCHANNELS,
    RPL_WHOISHOST, RPL_WHOISIDLE, RPL_WHOISOPERATOR, RPL_WHOISSECURE, RPL_WHOISSERVER,
    RPL_WHOISSPECIAL, RPL_WHOISUSER, RPL_WHOWASUSER,
};

use crate::caps::Cap;
use crate::command::table::Args;
use crate::command::{Flow, split_list};
use crate::session::Session;
use crate::timefmt;

/// `WHOIS [<server>] <nick>`.
pub fn whois(s: &mut Session, p: Args<'_, 0>) -> Flow {
    let Some(list) = p.last().filter(|n| !n.is_empty()) else {
        s.num(ERR_NONICKNAMEGIVEN).t("No nickname given").send();
        return Flow::Continue;
    };
    let Some(nick) = split_list(list).next() else {
        s.num(ERR_NONICKNAMEGIVEN).t("No nickname given").send();
        return Flow::Continue;
    };
    let Some(t) = s.state.find_nick(nick).filter(|c| c.info.read().registered) else {
        s.num(ERR_NOSUCHNICK)
            .p(nick)
            .t("No such nick/channel")
            .send();
        s.num(RPL_ENDOFWHOIS).p(nick).t("End of /WHOIS list").send();
        return Flow::Continue;
    };
    let (tnick, user, realname, oper, away, channels, idle, account, bot) = {
        let info = t.info.read();
        (
            info.nick.clone(),
            info.user.clone(),
            info.realname.clone(),
            info.modes.oper,
            info.away.clone(),
            info.channels.clone(),
            Instant::now().duration_since(info.last_message).as_secs(),
            info.account.clone(),
            info.modes.bot,
        )
    };
    let me = s.client.id;
    let multi = s.conn.has_cap(Cap::MultiPrefix);
    let asking_self = t.id == me;
    s.num(RPL_WHOISUSER)
        .p(&tnick)
        .p(&user)
        .p(&t.host)
        .p("*")
        .t(&realname)
        .send();
    let shown: Vec<String> = channels
        .iter()
        .filter_map(|ch| {
            let (visible, prefix) = ch.read(|st| {
                let visible = !st.modes.secret || asking_self || st.member(me).is_some();
                (
                    visible,
                    st.member(t.id).map(|m| m.prefixes(multi)).unwrap_or(""),
                )
            });
            visible.then(|| format!("{prefix}{}", ch.name()))
        })
        .collect();
    if !shown.is_empty() {
        s.num(RPL_WHOISCHANNELS)
            .p(&tnick)
            .t(&shown.join(" "))
            .send();
    }
    s.num(RPL_WHOISSERVER)
        .p(&tnick)
        .p(s.state.name())
        .t(&s.state.config.network)
        .send();
    if oper {
        s.num(RPL_WHOISOPERATOR)
            .p(&tnick)
            .t("is an IRC operator")
            .send();
    }
    if bot {
        s.num(RPL_WHOISBOT).p(&tnick).t("is a bot").send();
    }
    crate::command::metadata::whois(s, &t);
    if let Some(account) = &account {
        s.num(RPL_WHOISACCOUNT)
            .p(&tnick)
            .p(account)
            .t("is logged in as")
            .send();
    }
    if t.transport.is_secure() {
        s.num(RPL_WHOISSECURE)
            .p(&tnick)
            .t("is using a secure connection")
            .send();
    }
    if let Some(fp) = t.transport.certfp()
        && (asking_self || s.client.is_oper())
    {
        s.num(RPL_WHOISCERTFP)
            .p(&tnick)
            .t(&format!("has client certificate fingerprint {fp}"))
            .send();
    }
    if asking_self || s.client.is_oper() {
        s.num(RPL_WHOISHOST)
            .p(&tnick)
            .t(&format!(
                "is connecting from {}@{} {}",
                user,
                t.host,
                t.addr.ip()
            ))
            .send();
    }
    if let Some(gateway) = &t.gateway
        && s.client.is_oper()
    {
        s.num(RPL_WHOISSPECIAL)
            .p(&tnick)
            .t(&format!(
                "is connecting through the WebIRC gateway {} from {}",
                gateway.name,
                gateway.addr.ip()
            ))
            .send();
    }
    if let Some(away) = away {
        s.num(RPL_AWAY).p(&tnick).t(&away).send();
    }
    s.num(RPL_WHOISIDLE)
        .p(&tnick)
        .p(&idle.to_string())
        .p(&timefmt::unix(t.connected_since).to_string())
        .t("seconds idle, signon time")
        .send();
    s.num(RPL_ENDOFWHOIS)
        .p(&tnick)
        .t("End of /WHOIS list")
        .send();
    Flow::Continue
}

/// `WHOWAS <nick> [<count>]`.
pub fn whowas(s: &mut Session, p: Args<'_, 1>) -> Flow {
    let nick = p.req[0];
    let count = p
        .get(1)
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|c| *c > 0)
        .unwrap_or(10)
        .min(10);
    let entries = s.state.whowas(nick, count);
    if entries.is_empty() {
        s.num(ERR_WASNOSUCHNICK)
            .p(nick)
            .t("There was no such nickname")
            .send();
    }
    for e in entries {
        s.num(RPL_WHOWASUSER)
            .p(&e.nick)
            .p(&e.user)
            .p(&e.host)
            .p("*")
            .t(&e.realname)
            .send();
        s.num(RPL_WHOISSERVER)
            .p(&e.nick)
            .p(s.state.name())
            .t(&timefmt::readable(e.at))
            .send();
    }
    s.num(RPL_ENDOFWHOWAS).p(nick).t("End of WHOWAS").send();
    Flow::Continue
}
