//! `charla-bench`: a load generator for IRC servers, standard IRC only (NICK, USER, JOIN,
//! PRIVMSG, PING/PONG; CAP, SASL PLAIN and REGISTER for `login-storm`; CHATHISTORY for
//! `history` and `crash`) so that it measures Charla and its peers alike.
//!
//! - [`cli`]: the command line, the loopback-only and size checks.
//! - [`conn`]: one client: connect (TCP/TLS), framed reads, registration, JOIN.
//! - [`load`]: stamped message load: readers, rate-paced senders, many registrations, and
//!   loads run one after another over the same clients (`durable` steps its rate up).
//! - [`scenario`]: the scenarios (`traffic` measures, `durable` finds the most messages per
//!   second committed and delivered, `abuse` and `costly` check, `accounts` logs in, `crash`
//!   kills the server it started and checks its history).
//! - [`procfs`]: server memory and CPU (by thread too) from /proc; [`stats`]: latency
//!   percentiles; [`report`]: the summary, for people or as JSON.
//!
//! Every run is bounded: sizes are capped by [`cli`], each wait has a timeout, and the whole
//! run has a hard `--timeout`.

mod cli;
mod conn;
mod load;
mod procfs;
mod report;
mod scenario;
mod stats;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::Cli;
use crate::report::{Report, Verdict};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let scenario = &cli.scenario;
    let common = scenario.common();
    if let Err(e) = scenario.validate() {
        eprintln!("charla-bench: {e}");
        return ExitCode::from(2);
    }
    // Thousands of sockets need as many descriptors; the soft limit is often 1024.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < 1_000 => {
            eprintln!("charla-bench: warning: only {limit} open files allowed");
        }
        Ok(_) => {}
        Err(e) => eprintln!("charla-bench: warning: could not raise RLIMIT_NOFILE: {e}"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("charla-bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let limit = scenario.timeout();
    let report = runtime.block_on(async {
        match tokio::time::timeout(limit, scenario::run(scenario)).await {
            Ok(report) => report,
            Err(_) => {
                let mut r = Report::new(scenario.name(), &common.label, &common.addr.to_string());
                r.check(
                    false,
                    format!("the run hit its hard limit of {} s", limit.as_secs()),
                );
                r
            }
        }
    });
    // Tasks still holding sockets are dropped here, not awaited.
    runtime.shutdown_background();
    if common.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if report.verdict == Verdict::Fail {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
