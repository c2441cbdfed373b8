//! WHOIS (stub).

use crate::command::Flow;
use crate::session::Session;

/// Not yet.
pub fn whois(s: &mut Session, _p: &[&str]) -> Flow {
    s.num(charla_proto::numeric::ERR_UNKNOWNCOMMAND)
        .p("WHOIS")
        .t("Unknown command")
        .send();
    Flow::Continue
}

/// Not yet.
pub fn whowas(s: &mut Session, _p: &[&str]) -> Flow {
    s.num(charla_proto::numeric::ERR_UNKNOWNCOMMAND)
        .p("WHOWAS")
        .t("Unknown command")
        .send();
    Flow::Continue
}
