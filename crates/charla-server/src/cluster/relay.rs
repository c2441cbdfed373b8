//! Devices across nodes: a connection that logs into an account whose user lives on another
//! node is relayed there, and becomes one more device of that user ([`crate::devices`]).
//!
//! The node the device connected to (the *front*) registers it as usual up to the end of
//! registration; when the account's user turns out to be another node's (its *home*), the front
//! opens a relay to the home on `p.relay.<home>`: the home runs the connection as one of its own
//! over an in-process stream ([`crate::connection::serve_relayed`]), already logged into the
//! account (the front checked the login; nodes trust each other), and attaches it to the user.
//! From then on the front passes the client's lines up as they come (after its own flood
//! control) and the home's lines down into the client's send queue (its limit applies): the
//! home sees a device like any other, with its welcome, its channels and its own replies.
//!
//! Either side ends the relay: the client leaving ([`Cluster::relay_left`]), the home ending the
//! session (QUIT, KILL: the front then closes the connection after the home's last lines), or a
//! node going away (each side drops the relays of the other).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::debug;

use super::{Cluster, Out};
use crate::caps::Cap;
use crate::client::{Client, ConnectionId, Transport};
use crate::outbound::Line;
use crate::sendq::CloseReason;

/// What a relay message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    /// Front → home: a device to run (with [`Open`]).
    Open,
    /// Front → home: lines from the client.
    Up,
    /// Front → home: the client is gone.
    Left,
    /// Home → front: lines for the client.
    Down,
    /// Home → front: the session ended (its last lines went down before).
    Ended,
}

/// The first line of every relay message (JSON); the bytes follow it.
#[derive(Debug, Serialize, Deserialize)]
struct Head {
    k: Kind,
    /// The front node.
    n: String,
    /// The connection's id on the front.
    i: u64,
}

/// What the home needs to run a device the front registered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Open {
    /// The account the client logged into (on the front).
    pub account: String,
    /// The nick it asked for.
    pub nick: String,
    /// Its user name, as given.
    pub user: String,
    /// Its real name.
    pub realname: String,
    /// The client's address.
    pub addr: SocketAddr,
    /// Whether it came over TLS (or HTTPS).
    pub secure: bool,
    /// Its client certificate's fingerprint, if any.
    pub certfp: Option<String>,
    /// The capabilities it enabled.
    pub caps: Vec<String>,
}

/// A client connected here whose user is another node's.
#[derive(Debug, Clone)]
struct Front {
    home: String,
    conn: Arc<Client>,
    /// The home sent something (its welcome): the relay is up.
    answered: bool,
}

/// How long the front waits for the home's first lines before it gives up on the relay.
const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a home relay's task is told.
enum HomeIn {
    Up(Bytes),
    Left,
}

/// The relays of this node, as front and as home.
#[derive(Debug, Default)]
pub(super) struct Relays {
    /// Clients connected here whose user is another node's: by connection id, with the home.
    fronts: parking_lot::Mutex<std::collections::HashMap<u64, Front>>,
    /// Devices run here for clients of other nodes, by (front node, id).
    homes:
        parking_lot::Mutex<std::collections::HashMap<(String, u64), mpsc::UnboundedSender<HomeIn>>>,
}

impl std::fmt::Debug for HomeIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HomeIn::Up(_) => "Up",
            HomeIn::Left => "Left",
        })
    }
}

/// Bytes of the home's output sent down in one message, at most.
const DOWN_CHUNK: usize = 16 * 1024;

/// Splits a relay message into its head and its bytes.
fn parse(payload: &Bytes) -> Option<(Head, Bytes)> {
    let end = payload.iter().position(|&b| b == b'\n')?;
    let head = serde_json::from_slice(&payload[..end]).ok()?;
    Some((head, payload.slice(end + 1..)))
}

/// Publishes a relay message: `head`, a line feed, `bytes` ([`parse`] reads it back).
fn send(out: &mpsc::UnboundedSender<Out>, subject: String, head: &Head, bytes: &[u8]) {
    let Ok(mut body) = serde_json::to_vec(head) else {
        return;
    };
    body.push(b'\n');
    body.extend_from_slice(bytes);
    let _ = out.send(Out::Core {
        subject,
        body: body.into(),
    });
}

/// The command of an IRC line (after its tags and source), for the home's replies that the
/// front answered already.
fn command_of(line: &[u8]) -> &[u8] {
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let mut word = words.next().unwrap_or_default();
    if word.starts_with(b"@") {
        word = words.next().unwrap_or_default();
    }
    if word.starts_with(b":") {
        word = words.next().unwrap_or_default();
    }
    word
}

impl Cluster {
    fn relay_subject(&self, node: &str) -> String {
        self.subject(&format!("relay.{node}"))
    }

    fn relay_send(&self, to: &str, head: &Head, bytes: &[u8]) {
        send(&self.link.out, self.relay_subject(to), head, bytes);
    }

    /// The node where the user of `account` lives, if another node's user holds it (found by
    /// `nick` first, then among every remote user).
    pub fn home_of(&self, account: &str, nick: &str) -> Option<String> {
        let state = self.state.upgrade()?;
        let folded = charla_proto::casemap::casefold(account);
        let of = |c: &Client| {
            let info = c.info.read();
            info.registered
                && info
                    .account
                    .as_deref()
                    .is_some_and(|a| charla_proto::casemap::casefold(a) == folded)
        };
        if let Some(holder) = state.find_nick(nick)
            && let Some(remote) = &holder.remote
            && of(&holder)
        {
            return Some(remote.node.clone());
        }
        // The index may hold a user gone since (or whose account changed): checked.
        let ghost = self.remote_accounts.lock().get(folded.as_ref()).cloned()?;
        let remote = ghost.remote.as_ref()?;
        let current = self
            .remote
            .lock()
            .get(&(remote.node.clone(), remote.id))
            .is_some_and(|c| Arc::ptr_eq(c, &ghost));
        (current && of(&ghost)).then(|| remote.node.clone())
    }

    /// Notes which remote user holds its account (for [`Cluster::home_of`]).
    pub(super) fn index_account(&self, ghost: &Arc<Client>) {
        let account = ghost.info.read().account.clone();
        if let Some(account) = account {
            let key = charla_proto::casemap::casefold(&account).into_owned();
            self.remote_accounts.lock().insert(key, ghost.clone());
        }
    }

    /// Forgets `ghost` (gone) in the account index.
    pub(super) fn unindex_account(&self, ghost: &Arc<Client>) {
        let account = ghost.info.read().account.clone();
        if let Some(account) = account {
            let key = charla_proto::casemap::casefold(&account);
            let mut index = self.remote_accounts.lock();
            if index
                .get(key.as_ref())
                .is_some_and(|g| Arc::ptr_eq(g, ghost))
            {
                index.remove(key.as_ref());
            }
        }
    }

    /// Front: relays `conn` (registered here up to its welcome) to `home`, where its account's
    /// user lives.
    pub fn relay_open(&self, home: &str, conn: &Arc<Client>, open: &Open) {
        self.relays.fronts.lock().insert(
            conn.id.0,
            Front {
                home: home.to_owned(),
                conn: conn.clone(),
                answered: false,
            },
        );
        let Ok(body) = serde_json::to_vec(open) else {
            return;
        };
        self.relay_send(home, &self.head(Kind::Open, conn.id), &body);
        // The home may never answer (it went away, NATS dropped the opening): the client is
        // not left waiting for a welcome forever.
        let state = self.state.clone();
        let id = conn.id.0;
        tokio::spawn(async move {
            tokio::time::sleep(OPEN_TIMEOUT).await;
            let Some(cluster) = state.upgrade().and_then(|s| s.cluster().cloned()) else {
                return;
            };
            let mut fronts = cluster.relays.fronts.lock();
            if fronts.get(&id).is_some_and(|f| !f.answered)
                && let Some(front) = fronts.remove(&id)
            {
                front.conn.queue.close(CloseReason::Killed(
                    "Its user's server did not answer".to_owned(),
                ));
            }
        });
    }

    fn head(&self, k: Kind, id: ConnectionId) -> Head {
        Head {
            k,
            n: self.node.clone(),
            i: id.0,
        }
    }

    /// Front: a line from relayed client `conn` (without its CR LF).
    pub fn relay_up(&self, conn: ConnectionId, line: &[u8]) {
        let home = match self.relays.fronts.lock().get(&conn.0) {
            Some(front) => front.home.clone(),
            None => return,
        };
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line);
        bytes.extend_from_slice(b"\r\n");
        self.relay_send(&home, &self.head(Kind::Up, conn), &bytes);
    }

    /// Front: relayed client `conn` is gone.
    pub fn relay_left(&self, conn: ConnectionId) {
        let front = self.relays.fronts.lock().remove(&conn.0);
        if let Some(front) = front {
            self.relay_send(&front.home, &self.head(Kind::Left, conn), &[]);
        }
    }

    /// A relay message for this node.
    pub(super) fn relay_message(&self, msg: &async_nats::Message) {
        let Some((head, bytes)) = parse(&msg.payload) else {
            return;
        };
        match head.k {
            Kind::Down | Kind::Ended if head.n == self.node => {
                let conn = {
                    let mut fronts = self.relays.fronts.lock();
                    let Some(front) = fronts.get_mut(&head.i) else {
                        return;
                    };
                    front.answered = true;
                    front.conn.clone()
                };
                for line in bytes.split_inclusive(|&b| b == b'\n') {
                    if conn.queue.push(Line::new(line.to_vec())).is_err() {
                        break;
                    }
                }
                if head.k == Kind::Ended {
                    self.relays.fronts.lock().remove(&head.i);
                    conn.queue.close(CloseReason::Relayed);
                }
            }
            Kind::Open => {
                if let Ok(open) = serde_json::from_slice::<Open>(&bytes) {
                    self.relay_home(head.n, head.i, open);
                }
            }
            Kind::Up | Kind::Left => {
                let homes = self.relays.homes.lock();
                if let Some(tx) = homes.get(&(head.n, head.i)) {
                    let _ = tx.send(match head.k {
                        Kind::Up => HomeIn::Up(bytes),
                        _ => HomeIn::Left,
                    });
                }
            }
            Kind::Down | Kind::Ended => {}
        }
    }

    /// Home: runs a device of front `node`'s connection `id` here, over an in-process stream.
    fn relay_home(&self, node: String, id: u64, open: Open) {
        let Some(state) = self.state.upgrade() else {
            return;
        };
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let transport = if open.secure {
            Transport::Tls {
                certfp: open.certfp.clone().map(String::into_boxed_str),
            }
        } else {
            Transport::Plain
        };
        let guards = crate::connection::Guards {
            permit: None,
            ip: None,
            task: self.tracker.enter(),
        };
        tokio::spawn(crate::connection::serve_relayed(
            state,
            theirs,
            open.addr,
            transport,
            guards,
            open.account.clone(),
        ));
        let (tx, rx) = mpsc::unbounded_channel();
        self.relays.homes.lock().insert((node.clone(), id), tx);
        debug!(front = %crate::logtext::Escaped(&node), id, "a device relayed here");
        let me = self.relay_handle();
        tokio::spawn(async move {
            me.pump(ours, rx, &node, id, &open).await;
        });
    }

    /// What a home relay's task needs of the cluster.
    fn relay_handle(&self) -> RelayHandle {
        RelayHandle {
            node: self.node.clone(),
            prefix: self.link.prefix.clone(),
            out: self.link.out.clone(),
            state: self.state.clone(),
        }
    }

    /// The server shuts down: the clients connected here whose user is another node's are
    /// closed like the others (their sessions then tell the user's node they left).
    pub fn close_relayed(&self) {
        for front in self.relays.fronts.lock().values() {
            front.conn.queue.close(CloseReason::Shutdown);
        }
    }

    /// Ends every relay to or from `node` (it went away): its clients here are closed, and the
    /// devices run here for its clients end.
    pub(super) fn drop_relays_of(&self, node: &str) {
        self.drop_relays(|other| other == node, &format!("{} {node}", self.node));
    }

    /// Ends every relay (NATS is lost: nothing would cross): its clients here are closed (they
    /// reconnect), and the devices run here for other nodes' clients end.
    pub(super) fn drop_all_relays(&self) {
        self.drop_relays(|_| true, "Lost the link to its user's server");
    }

    fn drop_relays(&self, of: impl Fn(&str) -> bool, reason: &str) {
        let fronts: Vec<Arc<Client>> = {
            let mut fronts = self.relays.fronts.lock();
            let gone: Vec<u64> = fronts
                .iter()
                .filter(|(_, f)| of(&f.home))
                .map(|(id, _)| *id)
                .collect();
            gone.iter()
                .filter_map(|id| fronts.remove(id))
                .map(|f| f.conn)
                .collect()
        };
        for conn in fronts {
            conn.queue.close(CloseReason::Killed(reason.to_owned()));
        }
        self.relays.homes.lock().retain(|(front, _), tx| {
            if of(front) {
                let _ = tx.send(HomeIn::Left);
                false
            } else {
                true
            }
        });
    }
}

/// A home relay's link to the front.
struct RelayHandle {
    node: String,
    prefix: String,
    out: mpsc::UnboundedSender<Out>,
    state: std::sync::Weak<crate::state::State>,
}

impl RelayHandle {
    fn down(&self, front: &str, id: u64, k: Kind, bytes: &[u8]) {
        let head = Head {
            k,
            n: front.to_owned(),
            i: id,
        };
        send(
            &self.out,
            format!("{}.relay.{front}", self.prefix),
            &head,
            bytes,
        );
    }

    /// Carries the device's session: its registration first (the front answered the client's
    /// CAP already: the home's CAP replies before its welcome are not sent down), then lines
    /// up and down until either side ends.
    async fn pump(
        self,
        stream: tokio::io::DuplexStream,
        mut rx: mpsc::UnboundedReceiver<HomeIn>,
        front: &str,
        id: u64,
        open: &Open,
    ) {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut hello = String::new();
        // What the front settled already (the log-in, STS, account registration) is not
        // asked for again.
        let settled = [Cap::Sasl, Cap::Sts, Cap::AccountRegistration].map(Cap::name);
        let caps: Vec<&str> = open
            .caps
            .iter()
            .map(String::as_str)
            .filter(|c| !settled.contains(c))
            .collect();
        hello.push_str("CAP LS 302\r\n");
        // The front let the client in; a server password here is this node's to give.
        if let Some(password) = self.state.upgrade().and_then(|s| s.config.password.clone()) {
            hello.push_str(&format!("PASS :{password}\r\n"));
        }
        if !caps.is_empty() {
            hello.push_str(&format!("CAP REQ :{}\r\n", caps.join(" ")));
        }
        // One line each, whatever the opening said.
        let word = |s: &str| -> String {
            s.chars()
                .filter(|c| !matches!(c, '\r' | '\n' | '\0' | ' '))
                .collect()
        };
        let text = |s: &str| -> String {
            s.chars()
                .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
                .collect()
        };
        hello.push_str(&format!(
            "NICK {}\r\nUSER {} 0 * :{}\r\nCAP END\r\n",
            word(&open.nick),
            word(open.user.trim_start_matches('~')),
            text(&open.realname)
        ));
        let mut up_open = writer.write_all(hello.as_bytes()).await.is_ok();
        let mut welcomed = false;
        let mut pending = BytesMut::new();
        let mut buf = vec![0u8; DOWN_CHUNK];
        loop {
            tokio::select! {
                next = rx.recv(), if up_open => match next {
                    Some(HomeIn::Up(bytes)) => {
                        if writer.write_all(&bytes).await.is_err() {
                            up_open = false;
                        }
                    }
                    Some(HomeIn::Left) | None => {
                        // The client is gone: the session reads its end and leaves.
                        let _ = writer.shutdown().await;
                        up_open = false;
                    }
                },
                read = reader.read(&mut buf) => {
                    let n = match read {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    let whole = pending.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                    let lines = pending.split_to(whole);
                    let mut down = Vec::with_capacity(lines.len());
                    for line in lines.split_inclusive(|&b| b == b'\n') {
                        if !welcomed {
                            let command = command_of(line);
                            if command == b"001" {
                                welcomed = true;
                            } else if command == b"CAP" {
                                continue;
                            }
                        }
                        down.extend_from_slice(line);
                    }
                    if !down.is_empty() {
                        self.down(front, id, Kind::Down, &down);
                    }
                }
            }
        }
        self.down(front, id, Kind::Ended, &[]);
        if let Some(state) = self.state.upgrade()
            && let Some(cluster) = state.cluster()
        {
            cluster.relays.homes.lock().remove(&(front.to_owned(), id));
        }
        debug!(node = %self.node, id, "a relayed device ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_messages_are_a_head_and_bytes() {
        let head = Head {
            k: Kind::Up,
            n: "b".to_owned(),
            i: 42,
        };
        let mut body = serde_json::to_vec(&head).expect("json");
        body.push(b'\n');
        body.extend_from_slice(b"PRIVMSG #sala :hola\nmundo\r\n");
        let (got, bytes) = parse(&Bytes::from(body)).expect("parsed");
        assert_eq!((got.k, got.n.as_str(), got.i), (Kind::Up, "b", 42));
        assert_eq!(&bytes[..], b"PRIVMSG #sala :hola\nmundo\r\n");
        assert!(parse(&Bytes::from_static(b"no head")).is_none());
        assert!(parse(&Bytes::from_static(b"{\"k\":1}\nx")).is_none());
    }

    proptest::proptest! {
        /// Whatever comes on a relay subject, reading it never panics.
        #[test]
        fn anything_on_a_relay_subject_is_read_safely(
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            if let Some((_, bytes)) = parse(&Bytes::from(raw.clone())) {
                for line in bytes.split_inclusive(|&b| b == b'\n') {
                    let _ = command_of(line);
                }
            }
            let _ = command_of(&raw);
            let _ = serde_json::from_slice::<Open>(&raw);
        }
    }

    #[test]
    fn the_command_of_a_line_is_found_past_tags_and_source() {
        assert_eq!(command_of(b":a.irc.test 001 ana :Welcome\r\n"), b"001");
        assert_eq!(
            command_of(b"@time=x :a.irc.test CAP * ACK :batch\r\n"),
            b"CAP"
        );
        assert_eq!(command_of(b"PING :x\r\n"), b"PING");
        assert_eq!(command_of(b""), b"");
    }
}
