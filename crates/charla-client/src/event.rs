//! [`Event`]: what a server's connection task reports to the app.

use std::time::Duration;

use charla_proto::OwnedMessage;

use crate::account::{LoginError, RegistrationReply};
use crate::search::{SearchLine, SearchQuery};
use crate::state::{BufferId, LineKind};

/// One report from a connection task. Feed every one to [`State::apply`](crate::State::apply),
/// in order; the state is what to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Opening the connection (TCP, then TLS if configured).
    Connecting {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// 1 for the first try, counting up while retries fail.
        attempt: u32,
    },
    /// The socket (and TLS) is up; registration begins.
    Connected,
    /// The server welcomed us (001): we can chat. `reconnected` is true when this is not the
    /// first registration of this task, so buffers say "Reconnected".
    Registered {
        /// The nick the server gave us.
        nick: String,
        /// Whether we were connected before.
        reconnected: bool,
    },
    /// A line from the server, parsed. The state interprets it.
    Irc(OwnedMessage),
    /// A line we sent that the server does not echo back (no `echo-message`), shown as if it
    /// had: its source is our nick.
    Echo(OwnedMessage),
    /// A line the client itself writes into a buffer: an error in words, a hint, a notice.
    Local {
        /// Where: the buffer the user acted in, usually.
        buffer: BufferId,
        /// Error or info.
        kind: LineKind,
        /// The words.
        text: String,
    },
    /// The user acted in this buffer (typed a command); server errors without a clear target
    /// are shown there.
    Acting {
        /// The buffer.
        buffer: BufferId,
    },
    /// A buffer was opened by the user (`/query`, `/msg`): show it, focus it if asked.
    OpenBuffer {
        /// Which.
        buffer: BufferId,
        /// Whether the app should switch to it.
        focus: bool,
    },
    /// A buffer was closed by the user.
    CloseBuffer {
        /// Which.
        buffer: BufferId,
    },
    /// The capabilities the server acknowledged.
    Capabilities {
        /// Names, such as `server-time`.
        enabled: Vec<String>,
    },
    /// A request for a conversation's history went out (`CHATHISTORY`): its buffer is loading
    /// until the matching [`Event::HistoryLoaded`].
    HistoryRequested {
        /// The channel or nick, as asked.
        target: String,
        /// Whether it asks for lines older than those loaded (scrolling back).
        before: bool,
    },
    /// A conversation's history came back (a `chathistory` batch), kept apart from live lines:
    /// the state merges them into the buffer by time, each line once (a line already there,
    /// seen live or loaded before, is skipped by its `msgid`). Also sent, with no lines, when
    /// the server refused the request.
    HistoryLoaded {
        /// The channel or nick the batch is about.
        target: String,
        /// The lines, oldest first, as the server sent them (with `time` and `msgid` tags).
        lines: Vec<OwnedMessage>,
        /// Whether these are older than what was loaded (scrolling back) rather than the latest.
        before: bool,
        /// Whether the server may hold older lines still (the answer was full).
        more: bool,
    },
    /// A search's answer (a `soju.im/search` batch), or its refusal (`FAIL SEARCH`, or no
    /// search on this server or connection). Not history: the state keeps none of it, the
    /// buffers stay as they are.
    SearchResults {
        /// What was asked ([`Command::Search`](crate::Command::Search)).
        query: SearchQuery,
        /// What was found, oldest first (the newest matches, up to the server's limit).
        lines: Vec<SearchLine>,
        /// Why there are no results, in words, when the search failed.
        error: Option<String>,
    },
    /// Logging into the account (SASL) did not work. With `continuing` registration goes on
    /// without an account (IRCv3's rule); without it (the config requires the account, or
    /// the server failed to prove itself) the connection is dropped and not retried.
    LoginFailed {
        /// Why, in words (`Display`).
        error: LoginError,
        /// Whether the connection carries on without an account.
        continuing: bool,
    },
    /// The server answered `REGISTER` or `VERIFY` (account registration).
    AccountRegistration(RegistrationReply),
    /// The connection ended. `retry_in` is when we try again (None: we will not, until told).
    Disconnected {
        /// Why, in words.
        reason: String,
        /// When the next try is.
        retry_in: Option<Duration>,
    },
    /// The server's certificate is not signed by a known authority and not pinned. We stopped;
    /// show the fingerprint once and, if the user trusts it, send
    /// [`Command::TrustCertificate`](crate::Command::TrustCertificate).
    CertificateUnknown {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// SHA-256 of the certificate, as `AB:CD:...`.
        fingerprint: String,
    },
    /// The server's certificate differs from the one pinned for it: possibly someone in the
    /// middle. We refused and will not retry by ourselves. Warn loudly.
    CertificateChanged {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The pinned fingerprint.
        expected: String,
        /// The one the server presented.
        got: String,
    },
    /// The certificate was pinned at the user's word.
    CertificateTrusted {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The pinned fingerprint.
        fingerprint: String,
    },
    /// The task ended (after [`Command::Quit`](crate::Command::Quit)); no more events follow.
    Stopped,
}
