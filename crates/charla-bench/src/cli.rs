//! The command line: one subcommand per scenario, options shared by all of them, and the
//! checks that keep every run on loopback and bounded in count and time.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The most clients one run may open: this machine caps a process at 20,000 open files, and
/// the generator needs a few for itself.
pub const MAX_CLIENTS: usize = 19_000;
/// The longest a run may last, whatever `--timeout` says.
pub const MAX_TIMEOUT_SECS: u64 = 1_800;
/// The highest total message rate a run may ask for (messages per second).
pub const MAX_RATE: u64 = 1_000_000;

/// Load generator for IRC servers: standard IRC only (NICK, USER, JOIN, PRIVMSG, PING/PONG;
/// CAP, SASL PLAIN and REGISTER for login-storm; CHATHISTORY for history and crash), loopback
/// only, every run bounded in count and time.
#[derive(Debug, Parser)]
#[command(name = "charla-bench", version)]
pub struct Cli {
    /// The scenario to run.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// Options every scenario takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The server's address; only loopback addresses (127.0.0.0/8, ::1, localhost) are accepted.
    #[arg(long, value_parser = parse_loopback)]
    pub addr: SocketAddr,
    /// The server's process id, to read its memory and CPU time from /proc.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Another node of the same network (a cluster, docs/CLUSTER.md); repeat for each. The
    /// clients connect to `--addr` and these in turn.
    #[arg(long = "also", value_parser = parse_loopback)]
    pub also: Vec<SocketAddr>,
    /// The process id of another node (or of NATS): its memory and CPU count with the
    /// server's. Repeat for each.
    #[arg(long = "also-pid")]
    pub also_pids: Vec<u32>,
    /// Hard limit on the whole run, in seconds (at most 1800).
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Print one JSON object instead of the human-readable summary.
    #[arg(long)]
    pub json: bool,
    /// Connect with TLS (the certificate is not checked: loopback benchmark only).
    #[arg(long)]
    pub tls: bool,
    /// With `--tls`: TLS 1.2 only, as a client that has not moved to TLS 1.3.
    #[arg(long, requires = "tls")]
    pub tls12: bool,
    /// Registrations in flight at once while connecting clients.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Spread the clients over this many loopback source addresses (127.0.1.1, ...), so that
    /// per-IP limits do not apply; 0 = all from 127.0.0.1. Not used by conn-storm.
    #[arg(long, default_value_t = 0)]
    pub spread_ips: u32,
    /// A name for the server in the report (e.g. "charla", "ngircd").
    #[arg(long, default_value = "server")]
    pub label: String,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// N clients register and stay: registrations per second, server RSS per client, held count,
    /// and the server's CPU and wake-ups while they idle.
    Connect {
        #[command(flatten)]
        common: Common,
        /// Clients to register.
        #[arg(long, default_value_t = 1_000)]
        clients: usize,
        /// Seconds to hold them before measuring memory and the held count; after the first,
        /// the server's idle CPU and wake-ups are measured (hold past the server's ping
        /// interval to count its PINGs).
        #[arg(long, default_value_t = 3)]
        hold: u64,
        /// With `--tls`: each client first registers and leaves (a full handshake, the
        /// server's session tickets kept), then all come back at once, resuming their
        /// sessions, and the coming back is what is measured.
        #[arg(long, requires = "tls")]
        resume: bool,
    },
    /// N members in one channel, S of them sending at a total rate R for T seconds.
    Fanout {
        #[command(flatten)]
        common: Common,
        /// Channel members (senders included).
        #[arg(long, default_value_t = 500)]
        members: usize,
        /// Members that send.
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Total messages per second, all senders together.
        #[arg(long, default_value_t = 2_000)]
        rate: u64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Bytes of message text (at least the stamp).
        #[arg(long, default_value_t = 100)]
        size: usize,
    },
    /// Pairs of clients in private conversation: throughput and latency.
    Direct {
        #[command(flatten)]
        common: Common,
        /// Pairs of clients.
        #[arg(long, default_value_t = 100)]
        pairs: usize,
        /// Total messages per second, all clients together.
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Bytes of message text.
        #[arg(long, default_value_t = 100)]
        size: usize,
    },
    /// CHATHISTORY under load, when the server advertises draft/chathistory: each client asks
    /// LATEST and BEFORE in turn as fast as it is answered, or, with --rate, LATEST at a fixed
    /// total rate for --duration seconds (p50/p99 from each request's due time to its answer).
    History {
        #[command(flatten)]
        common: Common,
        /// Clients asking for history at once.
        #[arg(long, default_value_t = 10)]
        clients: usize,
        /// Requests per client (without --rate).
        #[arg(long, default_value_t = 100)]
        requests: usize,
        /// Messages written into the channel first.
        #[arg(long, default_value_t = 1_000)]
        messages: usize,
        /// Requests per second, all clients together: `CHATHISTORY LATEST <chan> * <limit>`
        /// at this rate for --duration seconds. 0: as fast as answered, --requests each.
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Seconds of requests (with --rate).
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Lines asked per request (default 50, or 100 with --rate); lowered to the server's
        /// ISUPPORT CHATHISTORY=<max> when that is smaller.
        #[arg(long)]
        limit: Option<usize>,
        /// Messages per second written into the channel while the requests run (one client), so
        /// that reads meet commits.
        #[arg(long, default_value_t = 0)]
        write_rate: u64,
    },
    /// Durable messages per second: many small channels (every member also sends), history
    /// committed before delivery; the rate steps up (doubling from --start-rate, then halving
    /// the gap --refine times) until a step is not held, or stays at --rate. Per step: sent,
    /// delivered, loss, messages/s, p50/p99 send to receive, server CPU.
    Durable {
        #[command(flatten)]
        common: Common,
        /// Channels.
        #[arg(long, default_value_t = 1_000)]
        channels: usize,
        /// Members per channel; every member sends.
        #[arg(long, default_value_t = 3)]
        members: usize,
        /// Total messages per second, all senders together, for one step of --duration
        /// seconds; 0: step the rate up.
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// The first step's rate when stepping up.
        #[arg(long, default_value_t = 10_000)]
        start_rate: u64,
        /// The highest rate a step may ask.
        #[arg(long, default_value_t = 400_000)]
        max_rate: u64,
        /// Steps between the last held rate and the first failed one, after the doubling.
        #[arg(long, default_value_t = 2)]
        refine: u32,
        /// Seconds of sending per step.
        #[arg(long, default_value_t = 3)]
        duration: u64,
        /// A step is held when the senders kept 95 % of its rate, every delivery arrived, and
        /// the p99 latency (send to receive) stayed under this many milliseconds.
        #[arg(long, default_value_t = 100.0)]
        max_p99_ms: f64,
        /// Bytes of message text.
        #[arg(long, default_value_t = 100)]
        size: usize,
        /// The server's data directory: the growth of charla.db and charla.db-wal over the run
        /// is reported, and per million messages sent.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Clients join a busy channel and never read: RSS stays bounded, each is disconnected
    /// for SendQ, a normal client keeps receiving.
    SlowReaders {
        #[command(flatten)]
        common: Common,
        /// Clients that never read.
        #[arg(long, default_value_t = 1_000)]
        clients: usize,
        /// Clients sending into the channel (the total rate is shared between them).
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Total messages per second into the channel.
        #[arg(long, default_value_t = 2_000)]
        rate: u64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Bytes of message text.
        #[arg(long, default_value_t = 400)]
        size: usize,
        /// Growth of the server's RSS (MiB) above which the run fails.
        #[arg(long, default_value_t = 1_024)]
        rss_limit_mib: u64,
    },
    /// One client floods; others' latency stays as it was.
    Flood {
        #[command(flatten)]
        common: Common,
        /// Seconds of flooding (the quiet baseline lasts as long).
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Messages per second between the 10 probe pairs, in all (20 per second: one line per
        /// second per client, below the usual flood limits).
        #[arg(long, default_value_t = 20)]
        probe_rate: u64,
        /// Most bytes the flooder writes.
        #[arg(long, default_value_t = 200_000_000)]
        max_bytes: u64,
    },
    /// Many connections from one IP quickly: counts throttle errors; a client from another
    /// loopback address still gets in.
    ConnStorm {
        #[command(flatten)]
        common: Common,
        /// Connections to open.
        #[arg(long, default_value_t = 2_000)]
        connections: usize,
    },
    /// Random bytes on a socket: a clean disconnect; the server still serves others.
    Garbage {
        #[command(flatten)]
        common: Common,
        /// Bytes of random data to send.
        #[arg(long, default_value_t = 10 * 1024 * 1024)]
        bytes: u64,
    },
    /// Clients that never read ask for big replies (LIST of many channels): server RSS per
    /// such client must stay within its SendQ, and come back when they leave.
    BigReplies {
        #[command(flatten)]
        common: Common,
        /// Channels to create first (held by setup clients, 40 each).
        #[arg(long, default_value_t = 5_000)]
        channels: usize,
        /// Clients that send LIST twice and never read.
        #[arg(long, default_value_t = 300)]
        clients: usize,
        /// The server's SendQ limit in KiB (charla's default `sendq_bytes` is 1024 KiB).
        #[arg(long, default_value_t = 1024)]
        sendq_kib: u64,
        /// Seconds the non-readers stay connected.
        #[arg(long, default_value_t = 5)]
        hold: u64,
    },
    /// Ten clients send the costliest WHO masks and a many-star ban check, as fast as they are
    /// answered: a control client's p99 must stay under 50 ms.
    ExpensiveQueries {
        #[command(flatten)]
        common: Common,
        /// Idle users with 400-byte real names.
        #[arg(long, default_value_t = 2_000)]
        users: usize,
        /// Clients sending the queries.
        #[arg(long, default_value_t = 10)]
        queriers: usize,
        /// Seconds of querying.
        #[arg(long, default_value_t = 10)]
        duration: u64,
    },
    /// N clients join one channel of M members at once while probe pairs chat elsewhere, then
    /// all change their nick at once, all PART at once, then (back in) all QUIT at once: each
    /// storm's length and the probes' latency before and during it (target: p99 under 20 ms).
    JoinStorm {
        #[command(flatten)]
        common: Common,
        /// Members in the channel before the storm (each gets every joiner's JOIN).
        #[arg(long, default_value_t = 2_000)]
        members: usize,
        /// Clients that join at once.
        #[arg(long, default_value_t = 1_000)]
        joiners: usize,
        /// Messages per second between the 10 probe pairs, in all.
        #[arg(long, default_value_t = 20)]
        probe_rate: u64,
        /// Seconds of probes before the storms (the baseline) and from just before each.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// The probes' p99 during each storm must stay under this many milliseconds.
        #[arg(long, default_value_t = 20.0)]
        max_p99_ms: f64,
    },
    /// N clients log in at once with SASL PLAIN over TLS while a pair of clients chats:
    /// log-ins per second, login latency, and the pair's p99 (target: under 50 ms).
    LoginStorm {
        #[command(flatten)]
        common: Common,
        /// Clients logging in at once, one account each (all connect together: --concurrency
        /// does not apply).
        #[arg(long, default_value_t = 200)]
        clients: usize,
        /// Account names are this prefix and a number (bench-0, bench-1, ...).
        #[arg(long, default_value = "bench-")]
        account_prefix: String,
        /// Every account's password.
        #[arg(long, default_value = "charla-bench-password")]
        password: String,
        /// The accounts exist already (a persistent server): do not create them.
        #[arg(long)]
        skip_create: bool,
        /// Accounts created at once during setup (each costs the server a password hash).
        #[arg(long, default_value_t = 4)]
        create_concurrency: usize,
        /// Seconds of chat measured before the storm, as the baseline.
        #[arg(long, default_value_t = 3)]
        baseline: u64,
        /// Seconds the storm may last; clients not logged in by then count as errors.
        #[arg(long, default_value_t = 120)]
        storm_timeout: u64,
    },
    /// Durability: starts the charla-server binary --server on --addr with a data directory of
    /// its own, N clients talk in M channels, the server gets SIGKILL mid-load and is started
    /// again on the same data; every message a client received must be in history, in the
    /// order it was received. Prints sent, received, in history, lost, order violations and
    /// the restart time.
    Crash {
        #[command(flatten)]
        common: Common,
        /// The charla-server binary to start, kill and start again; it listens on --addr (which
        /// must be free) with a config the scenario writes into the data directory.
        #[arg(long)]
        server: PathBuf,
        /// Clients talking.
        #[arg(long, default_value_t = 20)]
        clients: usize,
        /// Channels (at most 50).
        #[arg(long, default_value_t = 4)]
        channels: usize,
        /// Channels each client is in, and sends to in turn.
        #[arg(long, default_value_t = 2)]
        per_client: usize,
        /// Total messages per second, all clients together.
        #[arg(long, default_value_t = 2_000)]
        rate: u64,
        /// Seconds of load; the SIGKILL comes at their end...
        #[arg(long, default_value_t = 5)]
        duration: u64,
        /// ...or once this many messages were sent, if sooner (0: no count).
        #[arg(long, default_value_t = 0)]
        kill_after: u64,
        /// The server's data directory (the scenario's channels have names of their own, so
        /// earlier data does not matter). Default: a new directory under the temporary
        /// directory, removed at the end.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Keep the default data directory (its store, config and the server's log).
        #[arg(long)]
        keep_data: bool,
    },
    /// Clients stop mid-registration: the server times them out.
    HalfRegister {
        #[command(flatten)]
        common: Common,
        /// Clients that never finish registering.
        #[arg(long, default_value_t = 1_000)]
        clients: usize,
        /// Seconds to wait for the server to close them all.
        #[arg(long, default_value_t = 90)]
        wait: u64,
    },
    /// Many large uploads at once to the server's file host (`soju.im/FILEHOST`, plain HTTP on
    /// loopback) while a channel chats: server memory growth and the chat's latency against
    /// the same chat alone.
    Uploads {
        #[command(flatten)]
        common: Common,
        /// Uploads at once.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
        uploads: u64,
        /// MiB per upload.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100))]
        size_mib: u64,
        /// Channel members (one sends).
        #[arg(long, default_value_t = 20)]
        members: usize,
        /// Chat messages per second.
        #[arg(long, default_value_t = 100)]
        rate: u64,
        /// Seconds of chat alone, then with the uploads.
        #[arg(long, default_value_t = 5)]
        duration: u64,
    },
}

impl Scenario {
    /// The options shared by all scenarios.
    pub fn common(&self) -> &Common {
        match self {
            Self::Connect { common, .. }
            | Self::Fanout { common, .. }
            | Self::Direct { common, .. }
            | Self::History { common, .. }
            | Self::Durable { common, .. }
            | Self::SlowReaders { common, .. }
            | Self::Flood { common, .. }
            | Self::ConnStorm { common, .. }
            | Self::Garbage { common, .. }
            | Self::BigReplies { common, .. }
            | Self::ExpensiveQueries { common, .. }
            | Self::LoginStorm { common, .. }
            | Self::JoinStorm { common, .. }
            | Self::Crash { common, .. }
            | Self::HalfRegister { common, .. }
            | Self::Uploads { common, .. } => common,
        }
    }

    /// The scenario's name as typed on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Fanout { .. } => "fanout",
            Self::Direct { .. } => "direct",
            Self::History { .. } => "history",
            Self::Durable { .. } => "durable",
            Self::SlowReaders { .. } => "slow-readers",
            Self::Flood { .. } => "flood",
            Self::ConnStorm { .. } => "conn-storm",
            Self::Garbage { .. } => "garbage",
            Self::HalfRegister { .. } => "half-register",
            Self::BigReplies { .. } => "big-replies",
            Self::ExpensiveQueries { .. } => "expensive-queries",
            Self::LoginStorm { .. } => "login-storm",
            Self::JoinStorm { .. } => "join-storm",
            Self::Uploads { .. } => "uploads",
            Self::Crash { .. } => "crash",
        }
    }

    /// Checks the sizes: every run must stay bounded in count and time.
    pub fn validate(&self) -> Result<(), String> {
        let common = self.common();
        if common.timeout == 0 || common.timeout > MAX_TIMEOUT_SECS {
            return Err(format!("--timeout must be 1..={MAX_TIMEOUT_SECS} seconds"));
        }
        if common.concurrency == 0 || common.concurrency > MAX_CLIENTS {
            return Err(format!("--concurrency must be 1..={MAX_CLIENTS}"));
        }
        let clients = match self {
            Self::Connect { clients, .. } => *clients,
            Self::Fanout {
                members, senders, ..
            } => {
                if *senders == 0 || senders > members {
                    return Err("--senders must be 1..=--members".into());
                }
                if *members < 2 {
                    return Err("--members must be at least 2".into());
                }
                *members
            }
            Self::Direct { pairs, .. } => pairs.saturating_mul(2),
            Self::History { clients, limit, .. } => {
                if *clients == 0 {
                    return Err("--clients must be at least 1".into());
                }
                if limit.is_some_and(|l| l == 0 || l > 10_000) {
                    return Err("--limit must be 1..=10000".into());
                }
                clients.saturating_add(1)
            }
            Self::Durable {
                channels,
                members,
                start_rate,
                max_rate,
                max_p99_ms,
                ..
            } => {
                if *channels == 0 {
                    return Err("--channels must be at least 1".into());
                }
                if *members < 2 {
                    return Err("--members must be at least 2".into());
                }
                if *start_rate == 0 || start_rate > max_rate || *max_rate > MAX_RATE {
                    return Err(format!(
                        "--start-rate and --max-rate must be 1 <= start <= max <= {MAX_RATE}"
                    ));
                }
                if max_p99_ms.is_nan() || *max_p99_ms <= 0.0 {
                    return Err("--max-p99-ms must be above 0".into());
                }
                channels.saturating_mul(*members)
            }
            Self::SlowReaders {
                clients, senders, ..
            } => {
                if *senders == 0 {
                    return Err("--senders must be at least 1".into());
                }
                clients.saturating_add(*senders).saturating_add(1)
            }
            Self::Flood { .. } | Self::Garbage { .. } => 8,
            Self::Uploads {
                uploads, members, ..
            } => {
                if *members < 2 {
                    return Err("--members must be at least 2".into());
                }
                // Each upload is a connection of its own, besides the chat's and the account's.
                members
                    .saturating_add(usize::try_from(*uploads).unwrap_or(usize::MAX))
                    .saturating_add(1)
            }
            Self::ConnStorm { connections, .. } => *connections,
            Self::JoinStorm {
                members,
                joiners,
                max_p99_ms,
                ..
            } => {
                if *members == 0 || *joiners == 0 {
                    return Err("--members and --joiners must be at least 1".into());
                }
                if max_p99_ms.is_nan() || *max_p99_ms <= 0.0 {
                    return Err("--max-p99-ms must be above 0".into());
                }
                // Two rounds of 10 probe pairs besides the members and joiners.
                members.saturating_add(*joiners).saturating_add(40)
            }
            Self::HalfRegister { clients, .. } => *clients,
            Self::BigReplies {
                channels, clients, ..
            } => clients
                .saturating_add(channels.div_ceil(40))
                .saturating_add(1),
            Self::ExpensiveQueries {
                users, queriers, ..
            } => users.saturating_add(*queriers).saturating_add(1),
            Self::LoginStorm {
                clients,
                account_prefix,
                password,
                create_concurrency,
                ..
            } => {
                check_account_words(account_prefix, password)?;
                if *create_concurrency == 0 || *create_concurrency > 64 {
                    return Err("--create-concurrency must be 1..=64".into());
                }
                if *clients == 0 {
                    return Err("--clients must be at least 1".into());
                }
                // The storm, the control pair, the probe; setup's connections are gone by then.
                clients.saturating_add(3)
            }
            Self::Crash {
                server,
                clients,
                channels,
                per_client,
                duration,
                ..
            } => {
                if server.as_os_str().is_empty() || !server.is_file() {
                    return Err(format!("--server {}: no such file", server.display()));
                }
                if *channels == 0 || *channels > 50 {
                    return Err("--channels must be 1..=50".into());
                }
                if *per_client == 0 || per_client > channels {
                    return Err("--per-client must be 1..=--channels".into());
                }
                if *clients == 0 {
                    return Err("--clients must be at least 1".into());
                }
                if *duration == 0 {
                    return Err("--duration must be at least 1 second".into());
                }
                // The talkers and the verifier.
                clients.saturating_add(1)
            }
        };
        if clients == 0 || clients > MAX_CLIENTS {
            return Err(format!(
                "the scenario would open {clients} connections; allowed 1..={MAX_CLIENTS}"
            ));
        }
        let (rate, duration) = match self {
            Self::Fanout { rate, duration, .. }
            | Self::Direct { rate, duration, .. }
            | Self::SlowReaders { rate, duration, .. }
            | Self::Crash { rate, duration, .. } => (*rate, *duration),
            Self::History {
                rate,
                duration,
                write_rate,
                ..
            } => {
                if *write_rate > 10_000 {
                    return Err("--write-rate is at most 10000".into());
                }
                if *rate > 0 && *duration == 0 {
                    return Err("--duration must be at least 1 second".into());
                }
                ((*rate).max(1), if *rate > 0 { *duration } else { 1 })
            }
            Self::Durable { rate, duration, .. } => {
                if *duration == 0 {
                    return Err("--duration must be at least 1 second".into());
                }
                ((*rate).max(1), *duration)
            }
            Self::Flood {
                probe_rate,
                duration,
                ..
            } => (*probe_rate, *duration),
            Self::Connect { hold, .. } => (1, *hold),
            Self::HalfRegister { wait, .. } => (1, *wait),
            Self::BigReplies { hold, .. } => (1, *hold),
            Self::ExpensiveQueries { duration, .. } => (1, *duration),
            Self::JoinStorm {
                probe_rate,
                duration,
                ..
            } => (*probe_rate, *duration),
            Self::LoginStorm {
                baseline,
                storm_timeout,
                ..
            } => {
                if *storm_timeout == 0 {
                    return Err("--storm-timeout must be at least 1 second".into());
                }
                (1, baseline.saturating_add(*storm_timeout))
            }
            _ => (1, 1),
        };
        if rate == 0 || rate > MAX_RATE {
            return Err(format!(
                "the rate must be 1..={MAX_RATE} messages per second"
            ));
        }
        if duration > common.timeout {
            return Err("the scenario's duration must be shorter than --timeout".into());
        }
        if let Self::Garbage { bytes, .. } = self
            && *bytes > 1 << 30
        {
            return Err("--bytes is capped at 1 GiB".into());
        }
        if let Self::Fanout { size, .. }
        | Self::Durable { size, .. }
        | Self::Direct { size, .. }
        | Self::SlowReaders { size, .. } = self
            && *size > 450
        {
            return Err("--size is at most 450 bytes (an IRC line is 512)".into());
        }
        Ok(())
    }

    /// The hard limit on the whole run.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.common().timeout.min(MAX_TIMEOUT_SECS))
    }
}

/// Checks the account prefix and password of `login-storm`: each goes into an IRC line as one
/// word, and the prefix (with a number) must also be a nick, for NickServ's REGISTER.
fn check_account_words(prefix: &str, password: &str) -> Result<(), String> {
    let nick_char = |c: char| c.is_ascii_alphanumeric() || "-_[]\\`^{}|".contains(c);
    if prefix.is_empty()
        || prefix.len() > 20
        || !prefix.chars().all(nick_char)
        || prefix.starts_with(|c: char| c.is_ascii_digit() || c == '-')
    {
        return Err(
            "--account-prefix must be 1 to 20 nick characters (letters, digits, -_[]\\`^{}|), \
             not starting with a digit or -"
                .into(),
        );
    }
    if password.is_empty()
        || password.len() > 200
        || password.starts_with(':')
        || password
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(
            "--password must be 1 to 200 bytes, without spaces or control characters, and not \
             start with ':'"
                .into(),
        );
    }
    Ok(())
}

/// Parses `HOST:PORT` and accepts it only if every address it names is a loopback address:
/// the generator must never send load anywhere else.
pub fn parse_loopback(text: &str) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = match text.parse::<SocketAddr>() {
        Ok(addr) => vec![addr],
        Err(_) => {
            // Only "localhost" is resolved; any other name is refused without a lookup.
            let (host, _) = text
                .rsplit_once(':')
                .ok_or_else(|| format!("{text}: expected HOST:PORT"))?;
            if !host.eq_ignore_ascii_case("localhost") {
                return Err(format!(
                    "{text}: only loopback addresses (127.0.0.0/8, [::1], localhost) are allowed"
                ));
            }
            text.to_socket_addrs()
                .map_err(|e| format!("{text}: {e}"))?
                .collect()
        }
    };
    let first = *addrs.first().ok_or_else(|| format!("{text}: no address"))?;
    if addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "{text}: only loopback addresses (127.0.0.0/8, [::1], localhost) are allowed"
        ));
    }
    if first.port() == 0 {
        return Err(format!("{text}: port 0 is not a server"));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_accepted() {
        for ok in [
            "127.0.0.1:6667",
            "127.1.2.3:1",
            "[::1]:6697",
            "localhost:6667",
        ] {
            let addr = parse_loopback(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(addr.ip().is_loopback());
        }
    }

    #[test]
    fn other_addresses_are_refused() {
        for bad in [
            "10.0.0.1:6667",
            "192.168.1.2:6667",
            "8.8.8.8:53",
            "[2001:db8::1]:6667",
            "0.0.0.0:6667",
            "example.com:6667",
            "127.0.0.1",
            "127.0.0.1:0",
            "",
        ] {
            assert!(parse_loopback(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn the_cli_refuses_a_remote_server() {
        let err = Cli::try_parse_from(["charla-bench", "connect", "--addr", "10.1.1.1:6667"]);
        assert!(err.is_err());
    }

    #[test]
    fn sizes_are_bounded() {
        let parse = |args: &[&str]| {
            let mut all = vec!["charla-bench"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).map(|c| c.scenario.validate())
        };
        for ok in [
            &["fanout", "--addr", "127.0.0.1:6667"][..],
            &["durable", "--addr", "127.0.0.1:6667"],
            &["durable", "--addr", "127.0.0.1:6667", "--rate", "50000"],
            &["history", "--addr", "127.0.0.1:6667"],
            &[
                "history",
                "--addr",
                "127.0.0.1:6667",
                "--rate",
                "1000",
                "--limit",
                "100",
            ],
        ] {
            assert!(matches!(parse(ok), Ok(Ok(()))), "{ok:?} must be accepted");
        }
        let ok = parse(&[
            "login-storm",
            "--addr",
            "127.0.0.1:6697",
            "--clients",
            "1000",
        ]);
        assert!(matches!(ok, Ok(Ok(()))));
        let exe = std::env::current_exe().expect("the test binary");
        let exe = exe.to_str().expect("UTF-8 path");
        let crash = |more: &[&str]| {
            let mut args = vec!["crash", "--addr", "127.0.0.1:6790", "--server", exe];
            args.extend_from_slice(more);
            parse(&args)
        };
        assert!(matches!(crash(&[]), Ok(Ok(()))));
        for bad in [
            &["--channels", "0"][..],
            &["--channels", "51"],
            &["--per-client", "5"],
            &["--duration", "0"],
            &["--clients", "19000"],
            &["--rate", "0"],
        ] {
            assert!(
                matches!(crash(bad), Ok(Err(_))),
                "crash {bad:?} must be refused"
            );
        }
        let missing = parse(&[
            "crash",
            "--addr",
            "127.0.0.1:6790",
            "--server",
            "/no/such/charla-server",
        ]);
        assert!(matches!(missing, Ok(Err(_))));
        for bad in [
            &["connect", "--addr", "127.0.0.1:6667", "--clients", "50000"][..],
            &["connect", "--addr", "127.0.0.1:6667", "--clients", "0"],
            &["fanout", "--addr", "127.0.0.1:6667", "--senders", "600"],
            &["fanout", "--addr", "127.0.0.1:6667", "--rate", "0"],
            &["fanout", "--addr", "127.0.0.1:6667", "--timeout", "99999"],
            &["fanout", "--addr", "127.0.0.1:6667", "--duration", "400"],
            &["direct", "--addr", "127.0.0.1:6667", "--size", "2000"],
            &["durable", "--addr", "127.0.0.1:6667", "--members", "1"],
            &["durable", "--addr", "127.0.0.1:6667", "--channels", "0"],
            &["durable", "--addr", "127.0.0.1:6667", "--channels", "10000"],
            &["durable", "--addr", "127.0.0.1:6667", "--start-rate", "0"],
            &[
                "durable",
                "--addr",
                "127.0.0.1:6667",
                "--start-rate",
                "5000",
                "--max-rate",
                "1000",
            ],
            &["durable", "--addr", "127.0.0.1:6667", "--rate", "2000000"],
            &["durable", "--addr", "127.0.0.1:6667", "--duration", "0"],
            &["durable", "--addr", "127.0.0.1:6667", "--max-p99-ms", "0"],
            &["history", "--addr", "127.0.0.1:6667", "--rate", "2000000"],
            &["history", "--addr", "127.0.0.1:6667", "--limit", "0"],
            &["history", "--addr", "127.0.0.1:6667", "--clients", "0"],
            &[
                "history",
                "--addr",
                "127.0.0.1:6667",
                "--rate",
                "10",
                "--duration",
                "0",
            ],
            &[
                "history",
                "--addr",
                "127.0.0.1:6667",
                "--write-rate",
                "20000",
            ],
            &["login-storm", "--addr", "127.0.0.1:6697", "--clients", "0"],
            &[
                "login-storm",
                "--addr",
                "127.0.0.1:6697",
                "--clients",
                "19000",
            ],
            &[
                "login-storm",
                "--addr",
                "127.0.0.1:6697",
                "--password",
                "two words",
            ],
            &[
                "login-storm",
                "--addr",
                "127.0.0.1:6697",
                "--account-prefix",
                "a b",
            ],
            &[
                "login-storm",
                "--addr",
                "127.0.0.1:6697",
                "--account-prefix",
                "9x",
            ],
            &[
                "login-storm",
                "--addr",
                "127.0.0.1:6697",
                "--storm-timeout",
                "400",
            ],
            &[
                "login-storm",
                "--addr",
                "127.0.0.1:6697",
                "--create-concurrency",
                "0",
            ],
            &[
                "garbage",
                "--addr",
                "127.0.0.1:6667",
                "--bytes",
                "99999999999",
            ],
        ] {
            assert!(matches!(parse(bad), Ok(Err(_))), "{bad:?} must be refused");
        }
    }
}
