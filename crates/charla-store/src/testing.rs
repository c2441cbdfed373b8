//! Test support (feature `test-support`): a fresh PostgreSQL database per test.
//!
//! The server is the one `CHARLA_TEST_POSTGRES` names, as a URL such as
//! `postgresql://charla:charla@127.0.0.1:5432/postgres` (its role must be allowed to create
//! databases). Without it a test skips, saying so in one line, so that `cargo test` passes on
//! a machine with only a Rust toolchain — unless `CHARLA_TEST_POSTGRES_REQUIRED=1` (as in CI),
//! where it fails.

use std::sync::atomic::{AtomicU64, Ordering};

use postgres::{Client, NoTls};

/// The variable naming the PostgreSQL server tests use.
pub const SERVER_VARIABLE: &str = "CHARLA_TEST_POSTGRES";

/// Set to `1`, a test without [`SERVER_VARIABLE`] fails instead of skipping.
pub const REQUIRED_VARIABLE: &str = "CHARLA_TEST_POSTGRES_REQUIRED";

/// A database created for one test (`charla_test_<pid>_<n>`), dropped when this is.
#[derive(Debug)]
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty UTF-8 database on the test server; `None` (after printing that the
    /// test skipped) when no server is configured and none is required.
    ///
    /// # Panics
    ///
    /// When no server is configured but [`REQUIRED_VARIABLE`] is `1`, or the server fails.
    pub fn create() -> Option<Self> {
        let server = match std::env::var(SERVER_VARIABLE) {
            Ok(server) if !server.is_empty() => server,
            _ => {
                if std::env::var(REQUIRED_VARIABLE).is_ok_and(|v| v == "1") {
                    panic!(
                        "{REQUIRED_VARIABLE}=1 but {SERVER_VARIABLE} is not set: set it to a \
                         PostgreSQL URL such as postgresql://charla:charla@127.0.0.1:5432/postgres"
                    );
                }
                println!("skipped: {SERVER_VARIABLE} is not set (no PostgreSQL to test against)");
                return None;
            }
        };
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "charla_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        off_async(|| {
            let mut admin = Client::connect(&server, NoTls).unwrap_or_else(|e| {
                panic!(
                    "cannot connect to {SERVER_VARIABLE}: {}",
                    crate::error::postgres_detail(&e)
                )
            });
            // template0: never connected to, so databases can be created from it in parallel.
            // (Two calls: several statements in one would be one transaction, which CREATE
            // DATABASE refuses.)
            for sql in [
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"),
            ] {
                admin.batch_execute(&sql).unwrap_or_else(|e| {
                    panic!(
                        "cannot create the test database {name}: {}",
                        crate::error::postgres_detail(&e)
                    )
                });
            }
        });
        let url = with_database(&server, &name);
        Some(TestDatabase { server, name, url })
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of the server's database that tests connect to for administration.
    pub fn server(&self) -> &str {
        &self.server
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // FORCE: a store the test leaked (a panic) keeps no connection open to stop this.
        off_async(|| {
            if let Ok(mut admin) = Client::connect(&self.server, NoTls) {
                let _ = admin.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        });
    }
}

/// Runs `work` on a thread of its own: the blocking client must not run on a thread that
/// drives async tasks (a `#[tokio::test]`), where its own runtime would panic.
fn off_async<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(work)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// `url` with its database replaced by `name`: a URL's path, or a `dbname=` key appended to
/// the `key=value` form (where the last value of a key counts).
fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return format!("{url} dbname={name}");
    };
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{query}", &base[..path_start])
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgresql://u:p@h:5432/postgres", "t1"),
            "postgresql://u:p@h:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@h?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("host=h user=u", "t1"),
            "host=h user=u dbname=t1"
        );
    }
}
