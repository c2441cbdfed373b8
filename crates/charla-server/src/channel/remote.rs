//! A channel's members on other nodes ([`crate::cluster`]): what their nodes' events do here.
//!
//! Remote members are members like the others (NAMES, WHO and the modes see them); their send
//! queues are closed, so that this node's deliveries pass them by: their own node delivers.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use charla_store::Receipt;

use super::{Channel, From, Member, Pending, Topic, Waiting};
use crate::client::{Client, ConnectionId};
use crate::deliver::{self, Payload};

/// A channel's modes, its lists (mode, mask, who set it, when in seconds) and its members
/// with a status (op, voice).
pub type ModeView = (
    super::ChannelModes,
    Vec<(char, String, String, u64)>,
    Vec<(Arc<Client>, bool, bool)>,
);

/// A channel's own members here (with op and voice) and its topic (text, who, when in seconds).
pub type LocalView = (
    Vec<(Arc<Client>, bool, bool)>,
    Option<(String, String, u64)>,
);

impl Channel {
    /// The remote user `ghost` joined (on its node, which checked the modes): a member with
    /// the status its node gave it, and the members here are told `join` then `then`. Nothing
    /// if it is a member already.
    pub fn join_remote(
        self: &Arc<Self>,
        ghost: &Arc<Client>,
        op: bool,
        voice: bool,
        join: Option<&Payload>,
        then: Option<&Payload>,
    ) {
        let mut st = self.state.lock();
        if st.dead || st.member(ghost.id).is_some() {
            return;
        }
        st.members.push(Member::new(
            ghost.clone(),
            op,
            voice,
            crate::timefmt::unix_millis(SystemTime::now()),
        ));
        ghost.info.write().channels.push(self.clone());
        for payload in [join, then].into_iter().flatten() {
            deliver::to_members(&st.members, payload, None, |m| m.client.id != ghost.id);
        }
    }

    /// The remote user `ghost` left with `line` (PART): the members here are told, it goes.
    pub fn part_remote(self: &Arc<Self>, ghost: &Client, line: Option<&Payload>) {
        let mut st = self.state.lock();
        if st.member(ghost.id).is_none() {
            return;
        }
        if let Some(line) = line {
            deliver::to_members(&st.members, line, None, |_| true);
        }
        st.remove(ghost.id);
        ghost
            .info
            .write()
            .channels
            .retain(|c| !Arc::ptr_eq(c, self));
    }

    /// A message as the channel's log brought it back (of any node's member `from`;
    /// `ConnectionId(0)` for a sender not known here): it waits behind the channel's earlier
    /// messages, and goes out when `receipt` (its history commit here) says so
    /// ([`Channel::deliver_committed`]); `echo`: the sender's own connection gets it too.
    pub fn queue_logged(
        &self,
        payload: Payload,
        from: From,
        status: Option<char>,
        echo: bool,
        receipt: Receipt,
    ) {
        self.state.lock().waiting.push_back(Waiting {
            receipt: Some(receipt),
            what: Pending::Message {
                payload,
                from,
                status,
                echo,
            },
        });
    }

    /// The topic set on another node (`None`: cleared); the members here are told `line`.
    pub fn topic_remote(&self, topic: Option<(String, String, u64)>, line: Option<&Payload>) {
        let mut st = self.state.lock();
        st.topic = topic.map(|(text, set_by, at)| Topic {
            text,
            set_by,
            set_at: UNIX_EPOCH + Duration::from_secs(at),
        });
        if let Some(line) = line {
            deliver::to_members(&st.members, line, None, |_| true);
        }
    }

    /// Modes another node changed (or this node's own change, `again`, in its place in the
    /// log): the flags, key, limit and lists as that node left them, op and voice given or
    /// taken, and the MODE lines for the members here — for this node's own change only if
    /// applying it again changed someone's status (another change came in between).
    pub fn modes_remote(
        &self,
        modes: super::ChannelModes,
        lists: &[(char, String, String, u64)],
        statuses: &[(ConnectionId, char, bool)],
        lines: &[Payload],
        again: bool,
    ) {
        let mut st = self.state.lock();
        // Flags, key, limit and lists: set again silently (they were told when changed).
        set_modes(&mut st, modes, lists);
        let mut changed = false;
        for (id, mode, given) in statuses {
            if let Some(m) = st.member_mut(*id) {
                let slot = if *mode == 'o' {
                    &mut m.op
                } else {
                    &mut m.voice
                };
                changed |= *slot != *given;
                *slot = *given;
            }
        }
        if !again || changed {
            for line in lines {
                deliver::to_members(&st.members, line, None, |_| true);
            }
        }
    }

    /// The modes, lists (mode, mask, who, when in seconds) and the members with a status.
    pub fn mode_view(&self) -> ModeView {
        let st = self.state.lock();
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let lists = [('b', &st.bans), ('e', &st.excepts), ('I', &st.invex)]
            .into_iter()
            .flat_map(|(mode, list)| {
                list.iter()
                    .map(move |e| (mode, e.mask.clone(), e.set_by.clone(), secs(e.set_at)))
            })
            .collect();
        let statuses = st
            .members
            .iter()
            .filter(|m| m.op || m.voice)
            .map(|m| (m.client.clone(), m.op, m.voice))
            .collect();
        (st.modes.clone(), lists, statuses)
    }

    /// The modes and lists another node knows (this node has just started following the
    /// channel).
    pub fn adopt_modes(&self, modes: super::ChannelModes, lists: &[(char, String, String, u64)]) {
        set_modes(&mut self.state.lock(), modes, lists);
    }

    /// The topic another node knows, if this node has none.
    pub fn adopt_topic(&self, text: String, set_by: String, set_at_secs: u64) {
        let mut st = self.state.lock();
        if st.topic.is_none() && !text.is_empty() {
            st.topic = Some(Topic {
                text,
                set_by,
                set_at: UNIX_EPOCH + Duration::from_secs(set_at_secs),
            });
        }
    }

    /// This node's own members with their status, and the topic (text, who, when in seconds).
    pub fn local_view(&self) -> LocalView {
        let st = self.state.lock();
        let members = st
            .members
            .iter()
            .filter(|m| m.client.remote.is_none())
            .map(|m| (m.client.clone(), m.op, m.voice))
            .collect();
        let topic = st.topic.as_ref().map(|t| {
            (
                t.text.clone(),
                t.set_by.clone(),
                t.set_at
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            )
        });
        (members, topic)
    }

    /// An invitation another node sent for `user` (of this node).
    pub fn add_invitation(self: &Arc<Self>, user: &Client, by_op: bool) {
        let mut st = self.state.lock();
        match st.invited.iter_mut().find(|i| i.id == user.id) {
            Some(pending) => pending.by_op |= by_op,
            None => {
                if st.invited.len() >= super::MAX_PENDING_INVITES {
                    st.invited.remove(0);
                }
                st.invited.push(super::Invitation { id: user.id, by_op });
            }
        }
        let mut info = user.info.write();
        let me = Arc::downgrade(self);
        info.invites
            .retain(|w| w.strong_count() > 0 && !w.ptr_eq(&me));
        if info.invites.len() >= super::MAX_PENDING_INVITES {
            info.invites.remove(0);
        }
        info.invites.push(me);
    }

    /// Members for a view of a channel with no member here ([`crate::cluster::Cluster::view`]):
    /// listed, but the users' own records do not name this channel.
    pub fn add_viewed(&self, members: Vec<(Arc<Client>, bool, bool)>) {
        let mut st = self.state.lock();
        let mut known: std::collections::HashSet<ConnectionId> =
            st.members.iter().map(|m| m.id).collect();
        for (client, op, voice) in members {
            if known.insert(client.id) {
                st.members.push(Member::new(client, op, voice, 0));
            }
        }
    }

    /// Records who created the channel across the network.
    pub fn set_creator(&self, creator: (String, u64)) {
        self.state.lock().creator = Some(creator);
    }

    /// Takes operator status from `member` (if it is one here and has it), telling the members
    /// here with a MODE from the server `server`.
    pub fn deop_by_server(&self, member: &Client, server: &str) {
        let mut st = self.state.lock();
        let Some(m) = st.member_mut(member.id).filter(|m| m.op) else {
            return;
        };
        m.op = false;
        let mut line = charla_proto::LineBuilder::new();
        line.source(server)
            .command("MODE")
            .param(&self.name())
            .param("-o")
            .param(&member.nick());
        deliver::to_members(
            &st.members,
            &Payload::new(crate::outbound::Outgoing::new(line)),
            None,
            |_| true,
        );
    }

    /// Whether any member is this node's own.
    pub fn has_local_members(&self) -> bool {
        self.read(|st| st.members.iter().any(|m| m.client.remote.is_none()))
    }

    /// Forgets the remote members (this node no longer follows the channel).
    pub fn strip_remote(self: &Arc<Self>) {
        let gone: Vec<Arc<Client>> = {
            let mut st = self.state.lock();
            let (remote, local): (Vec<Member>, Vec<Member>) = std::mem::take(&mut st.members)
                .into_iter()
                .partition(|m| m.client.remote.is_some());
            st.members = local;
            remote.into_iter().map(|m| m.client).collect()
        };
        for ghost in gone {
            ghost
                .info
                .write()
                .channels
                .retain(|c| !Arc::ptr_eq(c, self));
        }
    }
}

/// Sets the flags, key, limit and the `b`, `e` and `I` lists (mode, mask, who, when in
/// seconds); an entry this node cannot read is left out.
fn set_modes(
    st: &mut super::ChannelState,
    modes: super::ChannelModes,
    lists: &[(char, String, String, u64)],
) {
    st.modes = modes;
    let (mut bans, mut excepts, mut invex) = (Vec::new(), Vec::new(), Vec::new());
    for (mode, mask, set_by, at) in lists {
        let at = UNIX_EPOCH + Duration::from_secs(*at);
        let Some(entry) = super::ListEntry::new(*mode, mask, set_by, at) else {
            continue;
        };
        match mode {
            'b' => bans.push(entry),
            'e' => excepts.push(entry),
            'I' => invex.push(entry),
            _ => {}
        }
    }
    (st.bans, st.excepts, st.invex) = (bans, excepts, invex);
}
