//! CAP (<https://ircv3.net/specs/extensions/capability-negotiation>): LS, LIST, REQ, END.
//! Negotiation started before registration holds registration until CAP END.

use charla_proto::numeric::ERR_INVALIDCAPCMD;

use crate::caps::{self, Cap, CapSet};
use crate::command::table::Args;
use crate::command::{Flow, registration};
use crate::session::Session;

/// `CAP <subcommand> [...]`.
pub fn cap(s: &mut Session, p: Args<'_, 1>) -> Flow {
    let sub = p.req[0].to_ascii_uppercase();
    match sub.as_str() {
        "LS" => {
            if !s.reg.done {
                s.reg.cap_negotiating = true;
            }
            let version: u32 = p.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
            if version >= 302 {
                s.reg.cap_302 = true;
                // cap-notify is implicitly on for 302 clients.
                let caps = s.client.caps();
                s.client.set_caps(CapSet(caps.0 | Cap::CapNotify.bit()));
            }
            let state = &s.state;
            let secure = s.client.transport.is_secure();
            let list: Vec<String> = Cap::ALL
                .iter()
                // STS and multiline mean nothing without their values, which only 302 clients
                // get.
                .filter(|c| {
                    caps::offered(state, **c)
                        && (!matches!(c, Cap::Sts | Cap::Multiline) || s.reg.cap_302)
                })
                .map(|c| match caps::value(state, *c, secure) {
                    Some(v) if s.reg.cap_302 => format!("{}={v}", c.name()),
                    _ => c.name().to_owned(),
                })
                .collect();
            reply_list(s, "LS", &list);
        }
        "LIST" => {
            let caps = s.client.caps();
            let list: Vec<String> = Cap::ALL
                .iter()
                .filter(|c| caps.has(**c))
                .map(|c| c.name().to_owned())
                .collect();
            reply_list(s, "LIST", &list);
        }
        "REQ" => {
            if !s.reg.done {
                s.reg.cap_negotiating = true;
            }
            let requested = p.get(1).unwrap_or("");
            let mut caps = s.client.caps();
            let mut ok = true;
            for item in requested.split(' ').filter(|x| !x.is_empty()) {
                let (remove, name) = match item.strip_prefix('-') {
                    Some(n) => (true, n),
                    None => (false, item),
                };
                match Cap::from_name(name).filter(|c| caps::offered(&s.state, *c)) {
                    Some(c) if remove => caps.0 &= !c.bit(),
                    Some(c) => caps.0 |= c.bit(),
                    None => ok = false,
                }
            }
            // All or nothing: one unknown capability rejects the whole request.
            if ok {
                s.client.set_caps(caps);
                reply(s, "ACK", requested);
            } else {
                reply(s, "NAK", requested);
            }
        }
        "END" => {
            if !s.reg.done && s.reg.cap_negotiating {
                s.reg.cap_negotiating = false;
                return registration::try_complete(s);
            }
        }
        _ => {
            s.num(ERR_INVALIDCAPCMD)
                .p(p.req[0])
                .t("Invalid CAP command")
                .send();
        }
    }
    Flow::Continue
}

/// `:server CAP <nick> <sub> :<text>`.
fn reply(s: &Session, sub: &str, text: &str) {
    let mut line = s.server_line("CAP");
    line.param(&s.nick()).param(sub).trailing(text);
    s.send_line(line);
}

/// A list of capabilities (LS, LIST): in one line when it fits in 512 bytes; else, to a `302`
/// client, in as many lines as it takes, each but the last marked with `*` (the spec's
/// "Multiline replies to CAP LS and CAP LIST"). An older client gets one line, which without
/// values fits.
fn reply_list(s: &Session, sub: &str, list: &[String]) {
    // `:<server> CAP <nick> <sub> * :` and CR LF around the capabilities.
    let overhead = s.state.name().len() + s.nick().len() + sub.len() + 14;
    let room = 512usize.saturating_sub(overhead).max(64);
    let mut chunks = Vec::new();
    let mut current = String::new();
    for item in list {
        if s.reg.cap_302 && !current.is_empty() && current.len() + 1 + item.len() > room {
            chunks.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(item);
    }
    chunks.push(current);
    let count = chunks.len();
    for (i, chunk) in chunks.iter().enumerate() {
        let mut line = s.server_line("CAP");
        line.param(&s.nick()).param(sub);
        if i + 1 < count {
            line.param("*");
        }
        line.trailing(chunk);
        s.send_line(line);
    }
}
