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
                        && (!matches!(c, Cap::Sts | Cap::Multiline | Cap::Metadata)
                            || s.reg.cap_302)
                })
                .map(|c| match caps::value(state, *c, secure) {
                    Some(v) if s.reg.cap_302 => format!("{}={v}", c.name()),
                    _ => c.name().to_owned(),
                })
                .collect();
            reply(s, "LS", &list.join(" "));
        }
        "LIST" => {
            let caps = s.client.caps();
            let list: Vec<&str> = Cap::ALL
                .iter()
                .filter(|c| caps.has(**c))
                .map(|c| c.name())
                .collect();
            reply(s, "LIST", &list.join(" "));
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
                let before = s.client.caps();
                s.client.set_caps(caps);
                reply(s, "ACK", requested);
                // draft/metadata-2 taken after registration: the client's own metadata now
                // (during registration it comes after the welcome).
                if s.reg.done && caps.has(Cap::Metadata) && !before.has(Cap::Metadata) {
                    crate::command::metadata::on_enabled(s);
                }
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
