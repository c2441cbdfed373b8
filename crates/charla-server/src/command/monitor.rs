//! MONITOR (<https://ircv3.net/specs/extensions/monitor>): `+ targets` follows nicks (and says
//! at once which are online), `- targets` stops, `C` clears, `L` lists, `S` says the state of
//! every nick followed.

use charla_proto::numeric::{
    ERR_MONLISTFULL, RPL_ENDOFMONLIST, RPL_MONLIST, RPL_MONOFFLINE, RPL_MONONLINE,
};
use charla_proto::validate::check_nick;

use crate::command::table::Args;
use crate::command::{Flow, split_list, work_penalty};
use crate::monitor::{MAX_PER_CLIENT, comma_lists};
use crate::session::Session;

/// Room for a list in one numeric line, after the prefix, numeric and nick.
const LIST_BYTES: usize = 400;

/// `MONITOR <+|-> <target>{,<target>}`, `MONITOR C`, `MONITOR L`, `MONITOR S`.
pub fn monitor(s: &mut Session, p: Args<'_, 1>) -> Flow {
    match p.req[0] {
        "+" => {
            let Some(targets) = p.get(1) else {
                return Flow::Continue;
            };
            // Nicks only: anything else can never come online.
            let nicks: Vec<&str> = split_list(targets)
                .filter(|t| check_nick(t).is_ok())
                .collect();
            let refused = s.state.monitors.add(&s.client, &nicks);
            if !refused.is_empty() {
                s.num(ERR_MONLISTFULL)
                    .p(&MAX_PER_CLIENT.to_string())
                    .p(&refused.join(","))
                    .t("Monitor list is full.")
                    .send();
            }
            let added: Vec<String> = nicks
                .iter()
                .filter(|n| !refused.iter().any(|r| r == *n))
                .map(|n| (*n).to_owned())
                .collect();
            send_status(s, &added);
        }
        "-" => {
            if let Some(targets) = p.get(1) {
                let nicks: Vec<&str> = split_list(targets).collect();
                s.state.monitors.remove(&s.client, &nicks);
            }
        }
        "C" | "c" => s.state.monitors.clear(&s.client),
        "L" | "l" => {
            let list = s.state.monitors.list(&s.client);
            for line in comma_lists(&list, LIST_BYTES) {
                s.num(RPL_MONLIST).t(&line).send();
            }
            s.num(RPL_ENDOFMONLIST).t("End of MONITOR list").send();
        }
        "S" | "s" => {
            let list = s.state.monitors.list(&s.client);
            send_status(s, &list);
        }
        _ => {}
    }
    Flow::Continue
}

/// 730 with the online ones (as `nick!user@host`), 731 with the others.
fn send_status(s: &mut Session, nicks: &[String]) {
    s.penalty += work_penalty(nicks.len());
    let mut online = Vec::new();
    let mut offline = Vec::new();
    for nick in nicks {
        match s.state.find_nick(nick).filter(|c| c.info.read().registered) {
            Some(c) => online.push(c.source()),
            None => offline.push(nick.clone()),
        }
    }
    for line in comma_lists(&online, LIST_BYTES) {
        s.num(RPL_MONONLINE).t(&line).send();
    }
    for line in comma_lists(&offline, LIST_BYTES) {
        s.num(RPL_MONOFFLINE).t(&line).send();
    }
}
