//! LIST (stub).

use crate::command::Flow;
use crate::session::Session;

/// Not yet.
pub fn list(s: &mut Session, _p: &[&str]) -> Flow {
    s.num(charla_proto::numeric::ERR_UNKNOWNCOMMAND)
        .p("LIST")
        .t("Unknown command")
        .send();
    Flow::Continue
}
