//! The server under test as a child process: its data directory and config, a start that waits
//! until it accepts connections, and `kill -9`. Dropping a [`ServerProcess`] kills it, and
//! dropping a temporary [`DataDir`] removes it, so that no way out of the scenario (an error,
//! the hard `--timeout`) leaves a server running or a directory behind.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// How long a start may take before the scenario gives up.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How often a starting server is tried.
const START_POLL: Duration = Duration::from_millis(5);

/// The server's data directory.
pub struct DataDir {
    /// Where it is.
    pub path: PathBuf,
    /// Removed when dropped (a directory the scenario made for itself, not `--keep-data`).
    remove: bool,
}

impl DataDir {
    /// `given`, or a new directory under the temporary directory, removed at the end unless
    /// `keep`.
    pub fn new(given: Option<&Path>, run: &str, keep: bool) -> Result<DataDir, String> {
        let (path, remove) = match given {
            Some(path) => (path.to_owned(), false),
            None => (
                std::env::temp_dir()
                    .join(format!("charla-bench-crash-{}-{run}", std::process::id())),
                !keep,
            ),
        };
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(DataDir { path, remove })
    }

    /// The config file the scenario writes.
    pub fn config(&self) -> PathBuf {
        self.path.join("charla-bench-crash.toml")
    }

    /// The server's log (both runs, one after the other).
    pub fn log(&self) -> PathBuf {
        self.path.join("charla-bench-crash.log")
    }

    /// Whether it is removed at the end.
    pub fn temporary(&self) -> bool {
        self.remove
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> Result<String, String> {
    if text.chars().any(char::is_control) {
        return Err(format!("{text:?}: control characters in a path"));
    }
    Ok(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// Writes charla's config for the scenario: one listener on `addr` (with TLS if `tls`), the
/// data in `data` with the default SQLite store, no flood control (every client comes from
/// loopback and sends faster than a person), room for `clients` connections and `channels`
/// channels per user, and history readable by a member from before its join (the verifier
/// joins after the restart) in pages of up to 1000 lines.
pub fn write_config(
    data: &DataDir,
    addr: SocketAddr,
    tls: bool,
    clients: usize,
    channels: usize,
) -> Result<(), String> {
    let dir = data
        .path
        .to_str()
        .ok_or_else(|| format!("{}: not UTF-8", data.path.display()))?;
    let text = format!(
        "# Written by charla-bench crash; replaced at every run.\n\
         server_name = \"crash.bench\"\n\
         data_dir = {}\n\
         [[listeners]]\n\
         address = \"{addr}\"\n\
         tls = {tls}\n\
         [limits]\n\
         max_clients = {}\n\
         max_channels_per_user = {}\n\
         [flood]\n\
         enabled = false\n\
         [history]\n\
         max_request = 1000\n\
         before_join = \"always\"\n",
        toml_string(dir)?,
        clients + 16,
        channels.max(50),
    );
    std::fs::write(data.config(), text).map_err(|e| format!("{}: {e}", data.config().display()))
}

/// Whether something accepts connections on `addr` now.
pub async fn accepting(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// The last lines of the server's log, on one line (the log may go with a temporary data
/// directory).
fn log_tail(data: &DataDir) -> String {
    let text = std::fs::read_to_string(data.log()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() {
        "(nothing)".to_owned()
    } else {
        tail
    }
}

/// A running server.
pub struct ServerProcess {
    child: Child,
    /// Its process id.
    pub pid: u32,
}

impl ServerProcess {
    /// Starts `binary --config <data's config>`, its output appended to the data's log, and
    /// waits until `addr` accepts connections. Returns it and how long that took.
    pub async fn start(
        binary: &Path,
        data: &DataDir,
        addr: SocketAddr,
    ) -> Result<(ServerProcess, Duration), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.log())
            .map_err(|e| format!("{}: {e}", data.log().display()))?;
        let err = log
            .try_clone()
            .map_err(|e| format!("{}: {e}", data.log().display()))?;
        let began = Instant::now();
        let child = Command::new(binary)
            .arg("--config")
            .arg(data.config())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut server = ServerProcess {
            pid: child.id(),
            child,
        };
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "the server ended ({status}) before accepting connections; its log ends: {}",
                    log_tail(data)
                ));
            }
            if accepting(addr).await {
                return Ok((server, began.elapsed()));
            }
            if began.elapsed() > START_LIMIT {
                return Err(format!(
                    "the server did not accept connections on {addr} within {} s",
                    START_LIMIT.as_secs()
                ));
            }
            tokio::time::sleep(START_POLL).await;
        }
    }

    /// `kill -9`, and waits for the process to be gone. An error if it had ended before.
    pub fn kill_9(&mut self) -> Result<(), String> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Err(format!("the server had ended by itself ({status})"));
        }
        self.child.kill().map_err(|e| format!("SIGKILL: {e}"))?;
        let status = self.child.wait().map_err(|e| format!("wait: {e}"))?;
        match status.signal() {
            Some(9) => Ok(()),
            _ => Err(format!(
                "the server ended otherwise than by SIGKILL: {status}"
            )),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_toml() {
        assert_eq!(
            toml_string("/tmp/a \"b\"\\c").unwrap(),
            "\"/tmp/a \\\"b\\\"\\\\c\""
        );
        assert!(toml_string("/tmp/a\nb").is_err());
    }
}
