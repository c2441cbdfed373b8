//! LIST (<https://modern.ircdocs.horse/#list-message>). Secret channels are listed only to
//! their members. The list is produced as the asker's queue drains ([`paced`]): a server with
//! thousands of channels answers every reader in full and costs a non-reader no more than its
//! share of the queue.

use std::sync::Arc;

use charla_proto::numeric::{RPL_LIST, RPL_LISTEND, RPL_LISTSTART};

use crate::channel::Channel;
use crate::command::paced::{self, Paced};
use crate::command::table::Args;
use crate::command::{self, Flow, split_list};
use crate::session::Session;

/// `LIST [<channel>{,<channel>}]`.
pub fn list(s: &mut Session, p: Args<'_, 0>) -> Flow {
    let channels: Vec<Arc<Channel>> = match p.first() {
        Some(names) => split_list(names)
            .filter_map(|n| s.state.channel(n))
            .collect(),
        None => {
            let mut all = s.state.all_channels();
            all.sort_by(|a, b| a.name.cmp(&b.name));
            all
        }
    };
    // Every channel is looked at: the asker pays for the whole list.
    s.penalty += command::work_penalty(channels.len());
    s.num(RPL_LISTSTART).p("Channel").t("Users  Name").send();
    paced::start(s, Box::new(ListReply { channels, next: 0 }));
    Flow::Continue
}

/// The rest of a LIST: the channels as they were when it was asked, and how far it got.
#[derive(Debug)]
struct ListReply {
    channels: Vec<Arc<Channel>>,
    next: usize,
}

impl Paced for ListReply {
    fn produce(&mut self, s: &Session, until: usize) -> bool {
        while let Some(ch) = self.channels.get(self.next) {
            if !paced::has_room(s, until) {
                return true;
            }
            self.next += 1;
            let row = ch.read(|st| {
                let visible = !st.dead && (!st.modes.secret || st.member(s.client.id).is_some());
                visible.then(|| {
                    (
                        st.members.len(),
                        st.topic
                            .as_ref()
                            .map(|t| t.text.clone())
                            .unwrap_or_default(),
                    )
                })
            });
            if let Some((users, topic)) = row {
                s.num(RPL_LIST)
                    .p(&ch.name)
                    .p(&users.to_string())
                    .t(&topic)
                    .send();
            }
        }
        s.num(RPL_LISTEND).t("End of /LIST").send();
        false
    }
}
