//! LIST (<https://modern.ircdocs.horse/#list-message>) with the ELIST conditions
//! (<https://modern.ircdocs.horse/#elist-parameter>, ISUPPORT `ELIST=CMNTU`). Secret channels
//! are listed only to their members. The list is produced as the asker's queue drains
//! ([`paced`]): a server with thousands of channels answers every reader in full and costs a
//! non-reader no more than its share of the queue.
//!
//! `LIST [<item>{,<item>}] [<item>{,<item>}]`, each item one of:
//!
//! | item | ELIST | a channel is listed if |
//! |---|---|---|
//! | `#name` | | it is that channel |
//! | `*mask*` | M | its name matches the mask (`*`, `?`) |
//! | `!*mask*` | N | its name does not match the mask |
//! | `>n`, `<n` | U | it has more, fewer than `n` members |
//! | `C>n`, `C<n` | C | it was created more, less than `n` minutes ago |
//! | `T>n`, `T<n` | T | its topic was set more, less than `n` minutes ago (no topic: never) |
//!
//! Names and masks are alternatives (one of them must match); everything else must hold. An
//! item that is none of these (a count that is not a number, a mask too long) is ignored, and
//! so are the items past [`MAX_CONDITIONS`]: a condition costs one check per channel.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use charla_proto::casemap::casefold;
use charla_proto::numeric::{RPL_LIST, RPL_LISTEND, RPL_LISTSTART};

use crate::channel::{Channel, ChannelState};
use crate::cluster::wire::Listed;
use crate::command::paced::{self, Paced};
use crate::command::table::Args;
use crate::command::table::Wait;
use crate::command::{self, Flow, Pending, split_list};
use crate::mask::Mask;
use crate::session::Session;

/// The ELIST letters: the conditions LIST understands, and all of them.
pub const ELIST: &str = "CMNTU";

/// Items of one LIST looked at; the rest are ignored.
pub const MAX_CONDITIONS: usize = 16;

/// `LIST [<channel>{,<channel>}] [<elistcond>{,<elistcond>}]`.
pub fn list(s: &mut Session, p: Args<'_, 0>) -> Flow {
    let filter = Filter::parse(p.from(0).iter().take(2).flat_map(|p| split_list(p)));
    let channels: Vec<Arc<Channel>> = if filter.masks.is_empty() && !filter.names.is_empty() {
        // Only names: look them up rather than go through every channel.
        let mut found: Vec<Arc<Channel>> = Vec::new();
        for name in &filter.names {
            if let Some(ch) = s.state.channel(name)
                && !found.iter().any(|f| Arc::ptr_eq(f, &ch))
            {
                found.push(ch);
            }
        }
        found
    } else {
        let mut all = s.state.all_channels();
        all.sort_by_cached_key(|c| c.name());
        all
    };
    // Every channel is looked at: the asker pays for the whole list.
    s.penalty += command::work_penalty(channels.len());
    let rows: Vec<Row> = channels.into_iter().map(Row::Here).collect();
    let Some(cluster) = s.state.cluster().cloned() else {
        start(s, rows, filter);
        return Flow::Continue;
    };
    // In a cluster, the channels with no members here are the other nodes' to tell.
    Flow::Wait(Box::new(Pending::later(Box::new(
        move |s: &mut Session| -> Wait<'_> {
            Box::pin(async move {
                let mut rows = rows;
                let elsewhere = cluster.list_elsewhere().await;
                s.penalty += command::work_penalty(elsewhere.len());
                let here: std::collections::HashSet<String> = rows
                    .iter()
                    .filter_map(|r| match r {
                        Row::Here(ch) => Some(ch.key()),
                        Row::Elsewhere(_) => None,
                    })
                    .collect();
                let mut seen = std::collections::HashSet::new();
                for listed in elsewhere {
                    let key = casefold(&listed.name).into_owned();
                    if !here.contains(&key) && seen.insert(key) {
                        rows.push(Row::Elsewhere(listed));
                    }
                }
                rows.sort_by_cached_key(Row::name);
                start(s, rows, filter);
                Flow::Continue
            })
        },
    ))))
}

/// Sends the start of the list and paces the rest.
fn start(s: &mut Session, channels: Vec<Row>, filter: Filter) {
    s.num(RPL_LISTSTART).p("Channel").t("Users  Name").send();
    paced::start(
        s,
        Box::new(ListReply {
            channels,
            next: 0,
            filter,
            now: SystemTime::now(),
        }),
    );
}

/// A channel to list: one this node has, or one another node told of (none of its members are
/// here, and it is not secret).
#[derive(Debug)]
enum Row {
    Here(Arc<Channel>),
    Elsewhere(Listed),
}

impl Row {
    fn name(&self) -> String {
        match self {
            Row::Here(ch) => ch.name(),
            Row::Elsewhere(listed) => listed.name.clone(),
        }
    }
}

/// A comparison of a count or an age.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// More than.
    Over(u64),
    /// Less than.
    Under(u64),
}

impl Bound {
    /// `>n` or `<n`.
    fn parse(s: &str) -> Option<Bound> {
        if let Some(n) = s.strip_prefix('>') {
            n.parse().ok().map(Bound::Over)
        } else if let Some(n) = s.strip_prefix('<') {
            n.parse().ok().map(Bound::Under)
        } else {
            None
        }
    }

    fn holds(self, value: u64) -> bool {
        match self {
            Bound::Over(n) => value > n,
            Bound::Under(n) => value < n,
        }
    }

    /// For an age in minutes, compared in seconds so that "less than 1 minute" means it.
    fn holds_minutes(self, age: Duration) -> bool {
        let secs = age.as_secs();
        match self {
            Bound::Over(n) => secs > n.saturating_mul(60),
            Bound::Under(n) => secs < n.saturating_mul(60),
        }
    }
}

/// What a LIST asks for.
#[derive(Debug, Default)]
struct Filter {
    /// Channel names, folded.
    names: Vec<String>,
    /// Masks a name may match (M).
    masks: Vec<Mask>,
    /// Masks no name may match (N).
    not_masks: Vec<Mask>,
    /// Member counts (U).
    users: Vec<Bound>,
    /// Minutes since creation (C).
    created: Vec<Bound>,
    /// Minutes since the topic was set (T).
    topic: Vec<Bound>,
}

impl Filter {
    fn parse<'a>(items: impl Iterator<Item = &'a str>) -> Filter {
        let mut f = Filter::default();
        for item in items.take(MAX_CONDITIONS) {
            if let Some(b) = Bound::parse(item) {
                f.users.push(b);
            } else if let Some(rest) = item.strip_prefix(['C', 'c'])
                && let Some(b) = Bound::parse(rest)
            {
                f.created.push(b);
            } else if let Some(rest) = item.strip_prefix(['T', 't'])
                && let Some(b) = Bound::parse(rest)
            {
                f.topic.push(b);
            } else if let Some(mask) = item.strip_prefix('!') {
                if let Ok(m) = Mask::new(mask) {
                    f.not_masks.push(m);
                }
            } else if item.contains(['*', '?']) {
                if let Ok(m) = Mask::new(item) {
                    f.masks.push(m);
                }
            } else if !item.starts_with(['<', '>']) {
                f.names.push(casefold(item).into_owned());
            }
        }
        f
    }

    /// Whether channel `name`, in state `st`, is asked for.
    fn admits(&self, name: &str, st: &ChannelState, created: SystemTime, now: SystemTime) -> bool {
        let topic_set = st.topic.as_ref().map(|t| t.set_at);
        self.admits_values(name, st.members.len(), created, topic_set, now)
    }

    /// Whether channel `name`, with `users` members, created at `created`, its topic set at
    /// `topic_set` (if it has one), is asked for.
    fn admits_values(
        &self,
        name: &str,
        users: usize,
        created: SystemTime,
        topic_set: Option<SystemTime>,
        now: SystemTime,
    ) -> bool {
        if !self.names.is_empty() || !self.masks.is_empty() {
            let folded = casefold(name);
            let named = self.names.iter().any(|n| *n == folded);
            if !named && !self.masks.iter().any(|m| m.matches(name)) {
                return false;
            }
        }
        if self.not_masks.iter().any(|m| m.matches(name)) {
            return false;
        }
        let users = users as u64;
        if !self.users.iter().all(|b| b.holds(users)) {
            return false;
        }
        let age = |t: SystemTime| now.duration_since(t).unwrap_or_default();
        if !self.created.iter().all(|b| b.holds_minutes(age(created))) {
            return false;
        }
        if !self.topic.is_empty() {
            let Some(set_at) = topic_set else {
                return false;
            };
            if !self.topic.iter().all(|b| b.holds_minutes(age(set_at))) {
                return false;
            }
        }
        true
    }
}

/// The rest of a LIST: the channels as they were when it was asked, what it asks for, and how
/// far it got.
#[derive(Debug)]
struct ListReply {
    channels: Vec<Row>,
    next: usize,
    filter: Filter,
    /// When it was asked: the ages of C and T are measured from here.
    now: SystemTime,
}

impl Paced for ListReply {
    fn produce(&mut self, s: &Session, until: usize) -> bool {
        while let Some(ch) = self.channels.get(self.next) {
            if !paced::has_room(s, until) {
                return true;
            }
            self.next += 1;
            let ch = match ch {
                Row::Here(ch) => ch,
                Row::Elsewhere(listed) => {
                    let secs = |s: u64| std::time::UNIX_EPOCH + Duration::from_secs(s);
                    if self.filter.admits_values(
                        &listed.name,
                        listed.users,
                        secs(listed.created_secs),
                        listed.topic_set_secs.map(secs),
                        self.now,
                    ) {
                        s.num(RPL_LIST)
                            .p(&listed.name)
                            .p(&listed.users.to_string())
                            .t(&listed.topic)
                            .send();
                    }
                    continue;
                }
            };
            let row = ch.read(|st| {
                let visible = !st.dead
                    && (!st.modes.secret || st.member(s.client.id).is_some())
                    && self.filter.admits(&ch.name(), st, ch.created, self.now);
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
                    .p(&ch.name())
                    .p(&users.to_string())
                    .t(&topic)
                    .send();
            }
        }
        s.num(RPL_LISTEND).t("End of /LIST").send();
        false
    }
}
