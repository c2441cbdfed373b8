//! AWAY (stub).

use crate::command::Flow;
use crate::session::Session;

/// Not yet.
pub fn away(s: &mut Session, _p: &[&str]) -> Flow {
    s.num(charla_proto::numeric::ERR_UNKNOWNCOMMAND)
        .p("AWAY")
        .t("Unknown command")
        .send();
    Flow::Continue
}
