//! The server's figures for `/metrics`, in the Prometheus (OpenMetrics) text format.
//!
//! One [`Metrics`] per server, in its [`State`](crate::state::State): no process-wide recorder,
//! so two servers in one process (tests, the app beside a headless server) keep their own
//! figures. Every handle is an atomic behind an `Arc`: a hook in a hot path is one relaxed
//! atomic add, with no lock and no map lookup (the labelled series are created once, here, and
//! their handles kept).
//!
//! Where the hooks are, one line each, at the seams: connections open and close in
//! [`crate::connection`] (opened by transport; the reason of a close counts SendQ and flood
//! disconnects), lines in and out there too (out: per write, not per line), registrations in
//! `command/registration.rs`, log-ins in `account/login.rs` and failed ones in
//! `account/check.rs`, messages to a target in `command/privmsg.rs` (one per fan-out, not per
//! recipient), and group commits of the store through [`StoreHandle::observe_commits`]. Store
//! errors are the store handle's own count, and open connections by transport a count of the
//! clients (WEBIRC may change a client's transport during its life), both taken at each
//! scrape.

use std::sync::Arc;
use std::time::Duration;

use charla_store::StoreHandle;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::client::{Client, Transport};

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The label of a series by transport.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: &'static str,
}

/// The label of a series by reason.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Open connections and connections opened, of one transport.
#[derive(Debug, Clone, Default)]
struct ByTransport {
    open: Gauge,
    opened: Counter,
}

/// Every figure of one server. Cheap to share (`Arc` inside each handle).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    plain: ByTransport,
    tls: ByTransport,
    websocket: ByTransport,
    disconnects_sendq: Counter,
    disconnects_flood: Counter,
    /// Connections that finished registration (001 sent).
    pub registrations: Counter,
    /// Successful log-ins into an account (SASL, NickServ, REGISTER's log-in).
    pub logins: Counter,
    /// Failed password checks (a wrong account or password).
    pub login_failures: Counter,
    /// Lines read from clients.
    pub lines_in: Counter,
    /// Lines written to clients.
    pub lines_out: Counter,
    /// PRIVMSG, NOTICE and TAGMSG accepted for a target (a channel or a user): one per target,
    /// whatever the number of recipients.
    pub messages: Counter,
    /// The duration of each group commit of the store (history and every other write).
    pub commit_seconds: Histogram,
    /// Files uploaded to the file host.
    pub uploads: Counter,
    /// Bytes uploaded to the file host.
    pub upload_bytes: Counter,
}

/// Reads the store handle's count of failed writes at each scrape.
#[derive(Debug)]
struct StoreErrors(StoreHandle);

impl Collector for StoreErrors {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counter = ConstCounter::new(self.0.store_errors());
        let metric = encoder.encode_descriptor(
            "charla_store_errors",
            "Store writes that failed or were dropped (a full queue)",
            None,
            counter.metric_type(),
        )?;
        counter.encode(metric)
    }
}

impl Metrics {
    /// The figures of a server whose store is `store` (its errors are read from it, and its
    /// commits timed).
    pub fn new(store: &StoreHandle) -> Arc<Self> {
        let mut registry = Registry::default();
        let connections = Family::<TransportLabel, Gauge>::default();
        let opened = Family::<TransportLabel, Counter>::default();
        let by = |transport: &'static str| ByTransport {
            open: connections
                .get_or_create_owned(&TransportLabel { transport })
                .clone(),
            opened: opened.get_or_create_owned(&TransportLabel { transport }),
        };
        let (plain, tls, websocket) = (by("plain"), by("tls"), by("websocket"));
        let disconnects = Family::<ReasonLabel, Counter>::default();
        let disconnects_sendq = disconnects.get_or_create_owned(&ReasonLabel { reason: "sendq" });
        let disconnects_flood = disconnects.get_or_create_owned(&ReasonLabel { reason: "flood" });
        // From 0.1 ms to about 3.3 s: a commit on a fast disk takes well under a millisecond,
        // one that waits on a slow disk seconds.
        let commit_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let metrics = Metrics {
            plain,
            tls,
            websocket,
            disconnects_sendq,
            disconnects_flood,
            registrations: Counter::default(),
            logins: Counter::default(),
            login_failures: Counter::default(),
            lines_in: Counter::default(),
            lines_out: Counter::default(),
            messages: Counter::default(),
            commit_seconds,
            uploads: Counter::default(),
            upload_bytes: Counter::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "charla_connections",
            "Open client connections, by transport",
            connections,
        );
        r.register(
            "charla_connections_opened",
            "Client connections accepted, by transport",
            opened,
        );
        r.register(
            "charla_disconnects",
            "Sessions ended by the server for SendQ (a client that does not read) or flood",
            disconnects,
        );
        r.register(
            "charla_registrations",
            "Connections that completed registration",
            metrics.registrations.clone(),
        );
        r.register(
            "charla_logins",
            "Successful log-ins into an account",
            metrics.logins.clone(),
        );
        r.register(
            "charla_login_failures",
            "Failed password checks",
            metrics.login_failures.clone(),
        );
        r.register(
            "charla_lines_received",
            "IRC lines read from clients",
            metrics.lines_in.clone(),
        );
        r.register(
            "charla_lines_sent",
            "IRC lines written to clients",
            metrics.lines_out.clone(),
        );
        r.register(
            "charla_messages",
            "PRIVMSG, NOTICE and TAGMSG delivered to a target (one per channel or user, not per recipient)",
            metrics.messages.clone(),
        );
        r.register(
            "charla_history_commit_seconds",
            "Duration of the store's group commits (history and other writes)",
            metrics.commit_seconds.clone(),
        );
        r.register(
            "charla_uploads",
            "Files uploaded to the file host",
            metrics.uploads.clone(),
        );
        r.register(
            "charla_upload_bytes",
            "Bytes uploaded to the file host",
            metrics.upload_bytes.clone(),
        );
        r.register_collector(Box::new(StoreErrors(store.clone())));
        let histogram = metrics.commit_seconds.clone();
        store.observe_commits(move |took: Duration| histogram.observe(took.as_secs_f64()));
        Arc::new(Metrics {
            registry,
            ..metrics
        })
    }

    fn by_transport(&self, transport: &Transport) -> &ByTransport {
        match transport {
            Transport::Plain => &self.plain,
            Transport::Tls { .. } => &self.tls,
            Transport::WebSocket { .. } => &self.websocket,
        }
    }

    /// A connection of `transport` opened.
    pub fn opened(&self, transport: &Transport) {
        self.by_transport(transport).opened.inc();
    }

    /// A session ended; `sendq` when for "SendQ exceeded", `flood` when for "Excess Flood".
    pub fn closed(&self, sendq: bool, flood: bool) {
        if sendq {
            self.disconnects_sendq.inc();
        }
        if flood {
            self.disconnects_flood.inc();
        }
    }

    /// A message was accepted for a target (`true`), or refused.
    pub fn delivered(&self, accepted: bool) {
        if accepted {
            self.messages.inc();
        }
    }

    /// `lines` lines were taken from a send queue to be written.
    pub fn sent(&self, lines: usize) {
        self.lines_out.inc_by(lines as u64);
    }

    /// The text of `/metrics`, with `clients` (every connection of the server) counted by
    /// transport.
    pub fn encode(&self, clients: &[Arc<Client>]) -> String {
        let mut open = [0i64; 3];
        // Another node's users are that node's connections.
        for client in clients.iter().filter(|c| c.remote.is_none()) {
            open[match client.transport {
                Transport::Plain => 0,
                Transport::Tls { .. } => 1,
                Transport::WebSocket { .. } => 2,
            }] += 1;
        }
        for (by, n) in [&self.plain, &self.tls, &self.websocket].iter().zip(open) {
            by.open.set(n);
        }
        let mut text = String::with_capacity(4096);
        // Writing into a String cannot fail; an encoder error would be a bug of ours (a bad
        // metric name), and leaves what was written so far.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
