//! NAMES (<https://modern.ircdocs.horse/#names-message>), also sent after JOIN.

use charla_proto::numeric::{RPL_ENDOFNAMES, RPL_NAMREPLY};

use crate::caps::Cap;
use crate::channel::Channel;
use crate::command::{Flow, split_list};
use crate::session::Session;

/// Bytes of nicks per RPL_NAMREPLY line, so that the whole line stays under 512.
const NAMES_PER_LINE_BYTES: usize = 380;

/// `NAMES [<channel>{,<channel>}]`.
pub fn names(s: &mut Session, p: &[&str]) -> Flow {
    let Some(list) = p.first() else {
        s.num(RPL_ENDOFNAMES).p("*").t("End of /NAMES list").send();
        return Flow::Continue;
    };
    // TARGMAX NAMES:1 — one channel per command, so one line cannot ask for every big list.
    if let Some(name) = split_list(list).next() {
        match s.state.channel(name) {
            Some(ch) => send_names(s, &ch),
            None => s.num(RPL_ENDOFNAMES).p(name).t("End of /NAMES list").send(),
        }
    }
    Flow::Continue
}

/// 353 lines and 366 for `ch`. Outsiders see nothing of a secret channel and no invisible
/// members.
pub fn send_names(s: &Session, ch: &Channel) {
    let multi = s.client.has_cap(Cap::MultiPrefix);
    let userhost = s.client.has_cap(Cap::UserhostInNames);
    let (symbol, entries) = {
        let st = ch.state.lock();
        let member = st.member(s.client.id).is_some();
        if st.modes.secret && !member {
            (None, Vec::new())
        } else {
            let entries: Vec<String> = st
                .members
                .iter()
                .filter_map(|m| {
                    let info = m.client.info.read();
                    if !member && info.modes.invisible {
                        return None;
                    }
                    let prefix = m.prefixes(multi);
                    Some(if userhost {
                        format!("{prefix}{}", info.source(&m.client.host))
                    } else {
                        format!("{prefix}{}", info.nick)
                    })
                })
                .collect();
            (Some(if st.modes.secret { "@" } else { "=" }), entries)
        }
    };
    if let Some(symbol) = symbol {
        let mut line = String::new();
        for e in entries {
            if !line.is_empty() && line.len() + e.len() + 1 > NAMES_PER_LINE_BYTES {
                s.num(RPL_NAMREPLY).p(symbol).p(&ch.name).t(&line).send();
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&e);
        }
        if !line.is_empty() {
            s.num(RPL_NAMREPLY).p(symbol).p(&ch.name).t(&line).send();
        }
    }
    s.num(RPL_ENDOFNAMES)
        .p(&ch.name)
        .t("End of /NAMES list")
        .send();
}
