//! MODE (stub).

use crate::command::Flow;
use crate::session::Session;

/// Not yet.
pub fn mode(s: &mut Session, _p: &[&str]) -> Flow {
    s.num(charla_proto::numeric::ERR_UNKNOWNCOMMAND)
        .p("MODE")
        .t("Unknown command")
        .send();
    Flow::Continue
}
