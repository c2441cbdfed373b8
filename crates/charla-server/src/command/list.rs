//! LIST (<https://modern.ircdocs.horse/#list-message>). Secret channels are listed only to
//! their members.

use charla_proto::numeric::{RPL_LIST, RPL_LISTEND, RPL_LISTSTART};

use crate::command::{Flow, split_list};
use crate::session::Session;

/// `LIST [<channel>{,<channel>}]`.
pub fn list(s: &mut Session, p: &[&str]) -> Flow {
    let channels = match p.first() {
        Some(names) => split_list(names)
            .filter_map(|n| s.state.channel(n))
            .collect(),
        None => {
            let mut all = s.state.all_channels();
            all.sort_by(|a, b| a.name.cmp(&b.name));
            all
        }
    };
    s.num(RPL_LISTSTART).p("Channel").t("Users  Name").send();
    for ch in channels {
        let row = {
            let st = ch.state.lock();
            let visible = !st.modes.secret || st.member(s.client.id).is_some();
            visible.then(|| {
                (
                    st.members.len(),
                    st.topic
                        .as_ref()
                        .map(|t| t.text.clone())
                        .unwrap_or_default(),
                )
            })
        };
        if let Some((users, topic)) = row {
            s.num(RPL_LIST)
                .p(&ch.name)
                .p(&users.to_string())
                .t(&topic)
                .send();
        }
    }
    s.num(RPL_LISTEND).t("End of /LIST").send();
    Flow::Continue
}
