//! Passwords: a type that never shows them, their Argon2id hashes, and the bounded pool that
//! checks them.
//!
//! Argon2id with the `argon2` crate's defaults, m = 19 MiB, t = 2, p = 1: the first of the
//! settings OWASP's password storage cheat sheet recommends, which RFC 9106 section 4 allows
//! for memory-constrained servers. A check costs a few tens of milliseconds of one core and
//! 19 MiB while it runs; the [`Hasher`] runs at most `threads` of them at once on blocking
//! threads, never on the async workers, so a storm of log-ins costs `threads` cores and
//! `threads` × 19 MiB, queues the rest, and leaves the other cores to chat.

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// A password as a user gave it. `Debug` prints nothing of it, so it cannot reach a log by
/// accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Box<str>);

impl Password {
    /// Wraps a password.
    pub fn new(text: impl Into<Box<str>>) -> Self {
        Password(text.into())
    }

    /// The password itself, for hashing or comparing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// From the configuration (a WEBIRC gateway's password in plain text).
impl<'de> serde::Deserialize<'de> for Password {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        String::deserialize(de).map(Password::new)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Verifies `password` against an Argon2 PHC string (a hash that does not parse matches
/// nothing).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Hashes `password` as an Argon2id PHC string with a random salt.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&bytes)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// The pool that hashes and checks passwords: at most `threads` at once, on blocking threads.
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl Hasher {
    /// A pool of `threads` (at least one).
    pub fn new(threads: usize) -> Self {
        Hasher {
            permits: Arc::new(Semaphore::new(threads.max(1))),
        }
    }

    /// The default size: half the machine's cores, at least one, so that hashing never takes
    /// every core from chat.
    pub fn default_threads() -> usize {
        std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
    }

    /// Runs `work` on a blocking thread once a slot is free. `None` if the work panicked or the
    /// pool is closed.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let _permit = self.permits.acquire().await.ok()?;
        tokio::task::spawn_blocking(work).await.ok()
    }

    /// Checks `password` against `hash`.
    pub async fn verify(&self, hash: String, password: Password) -> bool {
        self.run(move || verify_password(&hash, password.expose()))
            .await
            .unwrap_or(false)
    }

    /// Hashes `password`.
    pub async fn hash(&self, password: Password) -> Option<String> {
        self.run(move || hash_password(password.expose()).ok())
            .await
            .flatten()
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new(Hasher::default_threads())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows_in_debug() {
        let p = Password::new("contraseña secreta");
        assert_eq!(format!("{p:?}"), "Password(..)");
        assert_eq!(format!("{:?}", Some(&p)), "Some(Password(..))");
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let pool = Hasher::new(1);
        let hash = pool.hash(Password::new("ñandú")).await.expect("hashed");
        assert!(hash.starts_with("$argon2id$"));
        assert!(pool.verify(hash.clone(), Password::new("ñandú")).await);
        assert!(!pool.verify(hash, Password::new("nandu")).await);
        assert!(!pool.verify("not a hash".into(), Password::new("x")).await);
    }

    #[tokio::test]
    async fn the_pool_runs_no_more_than_its_size_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let pool = Hasher::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task").expect("ran");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }
}
