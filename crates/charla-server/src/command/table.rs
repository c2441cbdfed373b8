//! The command table: one entry per command, and the only place that says what a command
//! needs before its handler runs — its name, how many parameters it must have, whether it may
//! come before registration, its flood cost, and its handler (sync, or async for work that must
//! wait: password hashing, the store).
//!
//! A handler takes [`Args<N>`]: `args.req` is an array of exactly the `N` parameters the entry
//! guarantees, so indexing past them is a compile error (`req[N]` on `[&str; N]`), and the rest
//! are reached through `get`, which may say "none". `N` is the entry's minimum: the table cannot
//! say one number and the handler assume another. Async handlers get [`Owned<N>`], the same
//! with owned strings, since the line they came from is gone by the time they run.
//!
//! Adding a command is one handler file and one line in [`TABLE`].

use std::cmp::Ordering;
use std::future::Future;
use std::pin::Pin;

use charla_proto::Message;
use charla_proto::message::{Tag, parse_tags};

use crate::account::{sasl, services};
use crate::command::{
    Flow, away, cap, chathistory, help, info, invite, join, kick, list, markread, metadata, mode,
    monitor, multiline, names, nick, oper, part, ping, privmsg, redact, register, registration,
    rename, search, setname, topic, userhost, webirc, who, whois,
};
use crate::session::Session;

/// A future of an async handler, borrowing its session.
pub type Wait<'s> = Pin<Box<dyn Future<Output = Flow> + Send + 's>>;

/// What runs a command.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs at once.
    Sync(fn(&mut Session, &Message<'_>) -> Flow),
    /// Must wait: the connection awaits it (reading no new line meanwhile) with the parameters
    /// copied out of the line.
    Async(fn(&mut Session, Vec<String>) -> Wait<'_>),
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Sync(_) => "Sync",
            Handler::Async(_) => "Async",
        })
    }
}

/// One command.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    /// Its name, upper case.
    pub name: &'static str,
    /// The fewest parameters it takes; fewer get ERR_NEEDMOREPARAMS before the handler runs.
    pub min_params: usize,
    /// Allowed before registration (<https://modern.ircdocs.horse/#connection-registration>).
    pub before_registration: bool,
    /// Extra flood tokens it costs on top of its line's one: commands whose answer is large or
    /// that change shared state weigh more, as in other servers' fakelag.
    pub cost: u32,
    /// Its handler.
    pub handler: Handler,
}

/// The parameters of a line, as a sync handler sees them: `req` holds the `N` the table
/// guarantees.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a, const N: usize> {
    /// The parameters the table guarantees.
    pub req: [&'a str; N],
    all: &'a [&'a str],
    raw_tags: &'a str,
}

impl<'a, const N: usize> Args<'a, N> {
    /// The arguments of `msg`, if it has at least `N` parameters.
    pub fn new(msg: &'a Message<'_>) -> Option<Self> {
        let all: &'a [&'a str] = &msg.params;
        let (req, _) = all.split_first_chunk::<N>()?;
        Some(Args {
            req: *req,
            all,
            raw_tags: msg.raw_tags,
        })
    }

    /// Parameter `i`, if the line has it.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        self.all.get(i).copied()
    }

    /// The first parameter, if any.
    pub fn first(&self) -> Option<&'a str> {
        self.get(0)
    }

    /// The last parameter, if any.
    pub fn last(&self) -> Option<&'a str> {
        self.all.last().copied()
    }

    /// The parameters from `i` on (none if the line has fewer).
    pub fn from(&self, i: usize) -> &'a [&'a str] {
        self.all.get(i..).unwrap_or(&[])
    }

    /// Every parameter.
    pub fn all(&self) -> &'a [&'a str] {
        self.all
    }

    /// The line's tags (for PRIVMSG and TAGMSG), values unescaped.
    pub fn tags(&self) -> impl Iterator<Item = Tag<'a>> + use<'a, N> {
        parse_tags(self.raw_tags)
    }
}

/// The parameters of a line, owned, as an async handler sees them.
#[derive(Debug, Clone)]
pub struct Owned<const N: usize> {
    /// The parameters the table guarantees.
    pub req: [String; N],
    rest: Vec<String>,
}

impl<const N: usize> Owned<N> {
    /// The arguments in `params`, if there are at least `N`.
    pub fn new(params: Vec<String>) -> Option<Self> {
        if params.len() < N {
            return None;
        }
        let mut it = params.into_iter();
        let req = std::array::from_fn(|_| it.next().unwrap_or_default());
        Some(Owned {
            req,
            rest: it.collect(),
        })
    }

    /// Parameter `i`, if the line had it.
    pub fn get(&self, i: usize) -> Option<&str> {
        match i.checked_sub(N) {
            None => self.req.get(i).map(String::as_str),
            Some(j) => self.rest.get(j).map(String::as_str),
        }
    }
}

/// An entry with a sync handler taking `Args<$n>`.
macro_rules! sync {
    ($name:literal, $n:literal, $handler:path) => {
        sync!($name, $n, $handler, pre = false, cost = 0)
    };
    ($name:literal, $n:literal, $handler:path, pre = $pre:expr, cost = $cost:expr) => {
        Command {
            name: $name,
            min_params: $n,
            before_registration: $pre,
            cost: $cost,
            handler: Handler::Sync({
                fn run(s: &mut Session, msg: &Message<'_>) -> Flow {
                    match Args::<$n>::new(msg) {
                        Some(args) => $handler(s, args),
                        // `dispatch` checked the count: not reached.
                        None => Flow::Continue,
                    }
                }
                run
            }),
        }
    };
}

/// An entry with an async handler taking `Owned<$n>`.
macro_rules! wait {
    ($name:literal, $n:literal, $handler:path, pre = $pre:expr, cost = $cost:expr) => {
        Command {
            name: $name,
            min_params: $n,
            before_registration: $pre,
            cost: $cost,
            handler: Handler::Async({
                fn run(s: &mut Session, params: Vec<String>) -> Wait<'_> {
                    match Owned::<$n>::new(params) {
                        Some(args) => Box::pin($handler(s, args)),
                        // `dispatch` checked the count: not reached.
                        None => Box::pin(std::future::ready(Flow::Continue)),
                    }
                }
                run
            }),
        }
    };
}

/// Every command, sorted by name (a test checks), found by binary search.
pub static TABLE: &[Command] = &[
    sync!("AUTHENTICATE", 1, sasl::authenticate, pre = true, cost = 0),
    sync!("AWAY", 0, away::away, pre = true, cost = 0),
    sync!("BATCH", 1, multiline::batch, pre = false, cost = 0),
    sync!("CAP", 1, cap::cap, pre = true, cost = 0),
    wait!("CHANSERV", 1, services::cs, pre = false, cost = 1),
    // A client asks for each channel's history as it joins: no more than the line itself.
    wait!(
        "CHATHISTORY",
        1,
        chathistory::chathistory,
        pre = false,
        cost = 0
    ),
    wait!("CS", 1, services::cs, pre = false, cost = 1),
    sync!("GLOBAL", 1, oper::global),
    sync!("HELP", 0, help::help),
    sync!("HELPOP", 0, help::help),
    sync!("INFO", 0, info::info),
    sync!("INVITE", 0, invite::invite, pre = false, cost = 1),
    sync!("ISON", 1, userhost::ison),
    sync!("JOIN", 1, join::join, pre = false, cost = 0),
    sync!("KICK", 2, kick::kick),
    sync!("KILL", 1, oper::kill),
    sync!("LINKS", 0, info::links),
    sync!("LIST", 0, list::list, pre = false, cost = 4),
    sync!("LUSERS", 0, info::lusers),
    wait!("MARKREAD", 1, markread::markread, pre = false, cost = 1),
    sync!("METADATA", 2, metadata::metadata, pre = false, cost = 1),
    sync!("MODE", 1, mode::mode),
    sync!("MONITOR", 1, monitor::monitor),
    sync!("MOTD", 0, info::motd),
    sync!("NAMES", 0, names::names, pre = false, cost = 1),
    sync!("NICK", 0, nick::nick, pre = true, cost = 1),
    wait!("NICKSERV", 1, services::ns, pre = false, cost = 1),
    sync!("NOTICE", 0, privmsg::notice),
    wait!("NS", 1, services::ns, pre = false, cost = 1),
    wait!("OPER", 1, oper::oper, pre = false, cost = 0),
    sync!("PART", 1, part::part),
    sync!("PASS", 1, registration::pass, pre = true, cost = 0),
    sync!("PING", 1, ping::ping, pre = true, cost = 0),
    sync!("PONG", 0, ping::pong, pre = true, cost = 0),
    sync!("PRIVMSG", 0, privmsg::privmsg),
    sync!("QUIT", 0, registration::quit, pre = true, cost = 0),
    wait!("REDACT", 2, redact::redact, pre = false, cost = 1),
    wait!("REGISTER", 3, register::register, pre = true, cost = 1),
    // Each member without draft/channel-rename gets a JOIN burst: a rename weighs.
    wait!("RENAME", 2, rename::rename, pre = false, cost = 4),
    wait!("SEARCH", 1, search::search, pre = false, cost = 4),
    sync!("SETNAME", 1, setname::setname),
    sync!("TAGMSG", 1, privmsg::tagmsg),
    sync!("TIME", 0, info::time),
    sync!("TOPIC", 1, topic::topic),
    sync!("USER", 4, registration::user, pre = true, cost = 0),
    sync!("USERHOST", 1, userhost::userhost),
    wait!("VERIFY", 2, register::verify, pre = true, cost = 1),
    sync!("VERSION", 0, info::version),
    sync!("WALLOPS", 1, oper::wallops),
    wait!("WEBIRC", 4, webirc::webirc, pre = true, cost = 0),
    sync!("WHO", 0, who::who, pre = false, cost = 2),
    sync!("WHOIS", 0, whois::whois, pre = false, cost = 1),
    sync!("WHOWAS", 1, whois::whowas, pre = false, cost = 2),
];

/// `a` and `b` compared as if both were upper case (command names are ASCII).
fn cmp_upper(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_uppercase())
        .cmp(b.bytes().map(|c| c.to_ascii_uppercase()))
}

/// The entry for `name`, in any case.
pub fn find(name: &str) -> Option<&'static Command> {
    TABLE
        .binary_search_by(|c| cmp_upper(c.name, name))
        .ok()
        .map(|i| &TABLE[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_upper_case_and_without_duplicates() {
        for pair in TABLE.windows(2) {
            assert_eq!(
                cmp_upper(pair[0].name, pair[1].name),
                Ordering::Less,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        for c in TABLE {
            assert_eq!(c.name, c.name.to_ascii_uppercase());
        }
        assert_eq!(find("privmsg").map(|c| c.name), Some("PRIVMSG"));
        assert_eq!(find("PrivMsg").map(|c| c.name), Some("PRIVMSG"));
        assert!(find("PRIVMSGX").is_none());
        assert!(find("").is_none());
    }

    #[test]
    fn args_give_the_guaranteed_parameters_and_no_more() {
        let msg = Message::parse("KICK #a bob :por spam").expect("parses");
        let args = Args::<2>::new(&msg).expect("two");
        assert_eq!(args.req, ["#a", "bob"]);
        assert_eq!(args.get(2), Some("por spam"));
        assert_eq!(args.get(3), None);
        assert_eq!(args.from(1), ["bob", "por spam"]);
        assert_eq!(args.from(9), [] as [&str; 0]);
        assert!(Args::<4>::new(&msg).is_none());
        let owned = Owned::<2>::new(vec!["a".into(), "b".into(), "c".into()]).expect("two");
        assert_eq!(owned.req, ["a", "b"]);
        assert_eq!(owned.get(1), Some("b"));
        assert_eq!(owned.get(2), Some("c"));
        assert_eq!(owned.get(3), None);
        assert!(Owned::<3>::new(vec!["a".into()]).is_none());
    }

    /// Every entry runs with exactly its minimum of parameters, of every shape that matters
    /// (empty, a word, a channel, a mask, a list), registered or not: a handler that reaches
    /// for a parameter the table does not guarantee panics here.
    #[tokio::test(start_paused = true)]
    async fn every_command_runs_with_its_minimum_of_parameters() {
        use std::sync::Arc;

        use crate::config::Config;
        use crate::state::State;

        let state = Arc::new(State::in_memory(Config::default()));
        for registered in [false, true] {
            for value in ["", "x", "#c", "*", "a,b,#c", "0"] {
                for command in TABLE {
                    let client = state.add_client(
                        "127.0.0.1:1".parse().expect("addr"),
                        crate::client::Transport::Plain,
                    );
                    let mut s = Session::new(state.clone(), client.clone());
                    if registered {
                        s.reg.done = true;
                        s.reg.has_nick = true;
                        s.reg.has_user = true;
                        client.info.write().registered = true;
                        state
                            .claim_nick(&client, &format!("n{}", client.id))
                            .expect("nick");
                    }
                    // An empty parameter can only be the last (trailing) one.
                    let middle = if value.is_empty() { "x" } else { value };
                    let mut text = command.name.to_owned();
                    for i in 0..command.min_params {
                        if i + 1 == command.min_params {
                            text.push_str(&format!(" :{value}"));
                        } else {
                            text.push_str(&format!(" {middle}"));
                        }
                    }
                    let msg = Message::parse(&text).expect("parses");
                    assert_eq!(msg.params.len(), command.min_params, "{text}");
                    if let Flow::Wait(pending) = crate::command::dispatch(&mut s, &msg) {
                        let _ = pending.run(&mut s).await;
                    }
                    s.flush();
                    crate::command::quit::leave_everything(&s.state, &s.client, "done");
                    state.remove_client(&client);
                }
            }
        }
    }
}
