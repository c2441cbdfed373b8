//! ISON, USERHOST (stub).

use crate::command::Flow;
use crate::session::Session;

/// Not yet.
pub fn ison(s: &mut Session, _p: &[&str]) -> Flow {
    s.num(charla_proto::numeric::ERR_UNKNOWNCOMMAND)
        .p("ISON")
        .t("Unknown command")
        .send();
    Flow::Continue
}
/// Not yet.
pub fn userhost(s: &mut Session, _p: &[&str]) -> Flow {
    s.num(charla_proto::numeric::ERR_UNKNOWNCOMMAND)
        .p("USERHOST")
        .t("Unknown command")
        .send();
    Flow::Continue
}
