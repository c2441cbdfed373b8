//! Setup of `login-storm`, not measured: whether the server offers SASL PLAIN, and the
//! accounts, made with `REGISTER` (draft/account-registration) or, where that is unknown,
//! `NickServ REGISTER`.

use std::sync::Arc;
use std::time::Duration;

use charla_proto::Message;
use charla_proto::numeric::ERR_UNKNOWNCOMMAND;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::LoginStorm;
use crate::conn::{self, Client, Connector, LineReader};

/// How long one setup step (registering, creating an account) may take: with a one-thread
/// hash pool, a few creations queue behind each other.
pub(super) const SETUP_DEADLINE: Duration = Duration::from_secs(30);

/// Asks `CAP LS 302` on a fresh connection: whether the server offers SASL with PLAIN.
pub(super) async fn probe_sasl(connector: &Connector, nick: &str) -> Result<bool, String> {
    let work = async {
        let (r, mut writer) = connector.open().await.map_err(|e| e.to_string())?;
        let mut reader = LineReader::new(r);
        writer
            .write_all(
                format!("CAP LS 302\r\nNICK {nick}\r\nUSER {nick} 0 * :charla bench\r\n")
                    .as_bytes(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut caps = Vec::new();
        while let Some(line) = reader.next_line().await.map_err(|e| e.to_string())? {
            let Ok(msg) = Message::parse(&line) else {
                continue;
            };
            match msg.command.to_ascii_uppercase().as_str() {
                "PING" => {
                    let pong = format!("PONG :{}\r\n", msg.param(0).unwrap_or(""));
                    writer
                        .write_all(pong.as_bytes())
                        .await
                        .map_err(|e| e.to_string())?;
                }
                "ERROR" => return Err(format!("ERROR {}", msg.param(0).unwrap_or(""))),
                "CAP" if msg.param(1).is_some_and(|s| s.eq_ignore_ascii_case("LS")) => {
                    let more = msg.params.len() >= 4 && msg.param(2) == Some("*");
                    if let Some(list) = msg.params.last() {
                        caps.extend(list.split(' ').map(str::to_owned));
                    }
                    if !more {
                        let _ = writer.write_all(b"QUIT\r\n").await;
                        return Ok(offers_plain(&caps));
                    }
                }
                // No CAP at all: registration completes without it, and without SASL.
                "001" | "421" => {
                    let _ = writer.write_all(b"QUIT\r\n").await;
                    return Ok(false);
                }
                _ => {}
            }
        }
        Err("closed".to_owned())
    };
    tokio::time::timeout(SETUP_DEADLINE, work)
        .await
        .unwrap_or_else(|_| Err("no CAP LS answer in time".into()))
}

/// Whether a `CAP LS` list offers SASL PLAIN: `sasl` with no value (CAP 3.1: the client asks
/// with 908) or with a value that names PLAIN.
pub(super) fn offers_plain(caps: &[String]) -> bool {
    caps.iter().any(|c| match c.split_once('=') {
        None => c.eq_ignore_ascii_case("sasl"),
        Some((name, mechs)) => {
            name.eq_ignore_ascii_case("sasl")
                && mechs.split(',').any(|m| m.eq_ignore_ascii_case("PLAIN"))
        }
    })
}

/// What setup made.
#[derive(Debug, Default)]
pub(super) struct Created {
    /// Accounts made now.
    pub created: usize,
    /// Accounts the server already had.
    pub existing: usize,
    /// The first few reasons of those that failed, then "and N more".
    pub failures: Vec<String>,
    /// Setup's wall time.
    pub elapsed: Duration,
}

/// How one account's creation ended.
enum Creation {
    Created,
    Existing,
}

/// Creates every account, `create_concurrency` at a time.
pub(super) async fn create_accounts(connector: &Connector, sizes: &LoginStorm) -> Created {
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(sizes.create_concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for i in 0..sizes.clients {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let connector = connector.clone();
        let account = sizes.account(i);
        let password = sizes.password.clone();
        tasks.spawn(async move {
            let result = create_account(&connector, &account, &password).await;
            drop(permit);
            result.map_err(|e| format!("{account}: {e}"))
        });
    }
    let mut out = Created::default();
    let mut failed = 0usize;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(Creation::Created)) => out.created += 1,
            Ok(Ok(Creation::Existing)) => out.existing += 1,
            Ok(Err(e)) => {
                failed += 1;
                if out.failures.len() < 3 {
                    out.failures.push(e);
                }
            }
            Err(e) => {
                failed += 1;
                if out.failures.len() < 3 {
                    out.failures.push(format!("a setup task failed: {e}"));
                }
            }
        }
    }
    // Keep the count exact while the text stays short.
    if failed > out.failures.len() {
        let more = failed - out.failures.len();
        out.failures.push(format!("and {more} more"));
    }
    out.elapsed = started.elapsed();
    out
}

/// Registers a client named after the account and creates the account with
/// `REGISTER <account> * <password>`; where the server does not know REGISTER, with
/// `PRIVMSG NickServ :REGISTER <password>` (which names the account after the nick).
async fn create_account(
    connector: &Connector,
    account: &str,
    password: &str,
) -> Result<Creation, String> {
    let mut client = conn::register(connector, account, SETUP_DEADLINE)
        .await
        .map_err(|e| e.to_string())?;
    let answer = send_and_pick(
        &mut client,
        &format!("REGISTER {account} * {password}\r\n"),
        register_answer,
    )
    .await?;
    let result = match answer {
        RegisterAnswer::Done(creation) => Ok(creation),
        RegisterAnswer::Failed(text) => Err(text),
        RegisterAnswer::Unknown if client.nick != account => Err(format!(
            "the server has no REGISTER, and NickServ would name the account {}",
            client.nick
        )),
        RegisterAnswer::Unknown => {
            send_and_pick(
                &mut client,
                &format!("PRIVMSG NickServ :REGISTER {password}\r\n"),
                nickserv_answer,
            )
            .await?
        }
    };
    let _ = client.writer.write_all(b"QUIT\r\n").await;
    result
}

/// What a server answered to REGISTER.
enum RegisterAnswer {
    Done(Creation),
    Failed(String),
    /// `421`: no REGISTER command here.
    Unknown,
}

/// Reads the answer to `REGISTER <account> ...` from one line, if it is one. `REGISTER
/// SUCCESS` is the standard answer; `FAIL REGISTER ACCOUNT_EXISTS` means an earlier run made it.
fn register_answer(msg: &Message<'_>) -> Option<RegisterAnswer> {
    let command = msg.command.to_ascii_uppercase();
    match command.as_str() {
        "REGISTER"
            if msg
                .param(0)
                .is_some_and(|p| p.eq_ignore_ascii_case("SUCCESS")) =>
        {
            Some(RegisterAnswer::Done(Creation::Created))
        }
        "FAIL"
            if msg
                .param(0)
                .is_some_and(|p| p.eq_ignore_ascii_case("REGISTER")) =>
        {
            if msg.param(1) == Some("ACCOUNT_EXISTS") {
                Some(RegisterAnswer::Done(Creation::Existing))
            } else {
                let text = msg.params.get(1..).map(|p| p.join(" ")).unwrap_or_default();
                Some(RegisterAnswer::Failed(format!("FAIL REGISTER {text}")))
            }
        }
        _ if msg.command.parse() == Ok(ERR_UNKNOWNCOMMAND)
            && msg
                .param(1)
                .is_some_and(|c| c.eq_ignore_ascii_case("REGISTER")) =>
        {
            Some(RegisterAnswer::Unknown)
        }
        _ => None,
    }
}

/// Reads NickServ's answer to `REGISTER <password>`: a NOTICE from NickServ saying the account
/// was registered or already is.
fn nickserv_answer(msg: &Message<'_>) -> Option<Result<Creation, String>> {
    let from_nickserv = msg.source.is_some_and(|s| {
        s.split('!')
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case("NickServ"))
    });
    if msg.command.parse() == Ok(401u16) {
        return Some(Err("the server has neither REGISTER nor NickServ".into()));
    }
    if !from_nickserv || !msg.command.eq_ignore_ascii_case("NOTICE") {
        return None;
    }
    let text = msg.params.last().copied().unwrap_or("").to_lowercase();
    if text.contains("already") {
        Some(Ok(Creation::Existing))
    } else if text.contains("registered") || text.contains("created") {
        Some(Ok(Creation::Created))
    } else {
        Some(Err(format!("NickServ: {text}")))
    }
}

/// Sends `request` and reads, answering PINGs, until `pick` makes something of a line.
async fn send_and_pick<T>(
    client: &mut Client,
    request: &str,
    mut pick: impl FnMut(&Message<'_>) -> Option<T>,
) -> Result<T, String> {
    let work = async {
        client
            .writer
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let line = client
                .reader
                .next_line()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("closed by the server")?;
            let Ok(msg) = Message::parse(&line) else {
                continue;
            };
            if msg.command.eq_ignore_ascii_case("PING") {
                let pong = format!("PONG :{}\r\n", msg.param(0).unwrap_or(""));
                client
                    .writer
                    .write_all(pong.as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
            } else if msg.command.eq_ignore_ascii_case("ERROR") {
                return Err(format!("ERROR {}", msg.param(0).unwrap_or("")));
            } else if let Some(answer) = pick(&msg) {
                return Ok(answer);
            }
        }
    };
    tokio::time::timeout(SETUP_DEADLINE, work)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {SETUP_DEADLINE:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_is_found_in_cap_ls() {
        let caps = |list: &str| list.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert!(offers_plain(&caps(
            "multi-prefix sasl=SCRAM-SHA-256,PLAIN,EXTERNAL"
        )));
        assert!(offers_plain(&caps("sasl")));
        assert!(offers_plain(&caps("SASL=plain")));
        assert!(!offers_plain(&caps("sasl=EXTERNAL")));
        assert!(!offers_plain(&caps("multi-prefix draft/sasl-ir")));
        assert!(!offers_plain(&caps("")));
    }

    #[test]
    fn answers_to_register_are_read() {
        let read = |line: &str| {
            let msg = Message::parse(line).expect("a valid line");
            match register_answer(&msg) {
                Some(RegisterAnswer::Done(Creation::Created)) => "created",
                Some(RegisterAnswer::Done(Creation::Existing)) => "existing",
                Some(RegisterAnswer::Failed(_)) => "failed",
                Some(RegisterAnswer::Unknown) => "unknown",
                None => "none",
            }
        };
        assert_eq!(
            read(":srv REGISTER SUCCESS bench-1 :Account created"),
            "created"
        );
        assert_eq!(
            read(":srv FAIL REGISTER ACCOUNT_EXISTS bench-1 :Account already exists"),
            "existing"
        );
        assert_eq!(
            read(":srv FAIL REGISTER WEAK_PASSWORD bench-1 :Too short"),
            "failed"
        );
        assert_eq!(
            read(":srv 421 bench-1 REGISTER :Unknown command"),
            "unknown"
        );
        assert_eq!(read(":srv 421 bench-1 FOO :Unknown command"), "none");
        assert_eq!(read(":srv NOTICE bench-1 :hello"), "none");
    }

    #[test]
    fn nickserv_answers_are_read() {
        let read = |line: &str| {
            let msg = Message::parse(line).expect("a valid line");
            nickserv_answer(&msg).map(|r| match r {
                Ok(Creation::Created) => "created",
                Ok(Creation::Existing) => "existing",
                Err(_) => "failed",
            })
        };
        assert_eq!(
            read(":NickServ!s@srv NOTICE bench-1 :Account created"),
            Some("created")
        );
        assert_eq!(
            read(":NickServ!s@srv NOTICE bench-1 :bench-1 is already registered"),
            Some("existing")
        );
        assert_eq!(
            read(":NickServ!s@srv NOTICE bench-1 :Password too weak"),
            Some("failed")
        );
        assert_eq!(read(":alice!a@h NOTICE bench-1 :registered"), None);
        assert_eq!(
            read(":srv 401 bench-1 NickServ :No such nick"),
            Some("failed")
        );
    }
}
