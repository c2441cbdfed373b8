//! Account passwords in the system keyring (the `keyring` crate: the Secret Service on Linux,
//! Keychain on macOS, the Credential Manager on Windows), never in the settings file.
//!
//! One entry per server and account ([`SecretKey`]). The keyring may be slow (a locked
//! collection asks the user to unlock it) or missing (no Secret Service on a bare desktop, no
//! D-Bus session): every call runs on its own thread and answers through a channel the UI
//! polls each frame, and a keyring that cannot be reached only means the connect screen asks
//! for the password each time. Tests use [`Secrets::in_memory`].

use std::collections::HashMap;
use std::fmt;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};

/// What a missing keyring is called.
const UNAVAILABLE: &str = "no system keyring is available";

/// The service name entries are filed under.
const SERVICE: &str = "charla";

/// Names one password: the account on one server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretKey {
    /// `irc://host:port`, host lower-cased.
    server: String,
    /// The account name.
    account: String,
}

impl SecretKey {
    /// The key for `account` on `host:port`.
    pub fn new(host: &str, port: u16, account: &str) -> Self {
        Self {
            server: format!("irc://{}:{port}", host.trim().to_ascii_lowercase()),
            account: account.trim().to_owned(),
        }
    }

    /// The keyring's user name for the entry: `account@irc://host:port`.
    fn user(&self) -> String {
        format!("{}@{}", self.account, self.server)
    }
}

/// An answer still on its way from the keyring.
pub struct Pending<T> {
    receiver: Receiver<Result<T, String>>,
}

impl<T> fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pending")
    }
}

impl<T> Pending<T> {
    /// The answer if it came: `Some(Err(words))` when the keyring could not be used (or its
    /// thread died), `None` while still waiting.
    pub fn poll(&self) -> Option<Result<T, String>> {
        match self.receiver.try_recv() {
            Ok(answer) => Some(answer),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err("the keyring stopped answering".into())),
        }
    }

    fn ready(answer: Result<T, String>) -> Self {
        let (tx, receiver) = mpsc::channel();
        // The receiver is right here: the send cannot fail.
        let _ = tx.send(answer);
        Self { receiver }
    }
}

/// Where passwords are kept. Cheap to clone.
#[derive(Clone)]
pub enum Secrets {
    /// The system keyring.
    System,
    /// A map in memory (tests; or an app that keeps nothing between runs).
    Memory(Arc<Mutex<HashMap<SecretKey, String>>>),
    /// No keyring at all: every call says so, and the app asks for passwords each time.
    Unavailable,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secrets::System => f.write_str("Secrets::System"),
            Secrets::Memory(_) => f.write_str("Secrets::Memory"),
            Secrets::Unavailable => f.write_str("Secrets::Unavailable"),
        }
    }
}

impl Secrets {
    /// The system keyring.
    pub fn system() -> Self {
        Secrets::System
    }

    /// An empty store in memory.
    pub fn in_memory() -> Self {
        Secrets::Memory(Arc::default())
    }

    /// Looks the password up: `Ok(None)` when there is none.
    pub fn lookup(&self, key: &SecretKey) -> Pending<Option<String>> {
        match self {
            Secrets::Memory(map) => Pending::ready(Ok(lock(map).get(key).cloned())),
            Secrets::Unavailable => Pending::ready(Err(UNAVAILABLE.to_owned())),
            Secrets::System => {
                let key = key.clone();
                spawn(move || {
                    let entry = keyring::Entry::new(SERVICE, &key.user()).map_err(words)?;
                    match entry.get_password() {
                        Ok(password) => Ok(Some(password)),
                        Err(keyring::Error::NoEntry) => Ok(None),
                        Err(e) => Err(words(e)),
                    }
                })
            }
        }
    }

    /// Keeps the password for next time.
    pub fn remember(&self, key: &SecretKey, password: &str) -> Pending<()> {
        match self {
            Secrets::Memory(map) => {
                lock(map).insert(key.clone(), password.to_owned());
                Pending::ready(Ok(()))
            }
            Secrets::Unavailable => Pending::ready(Err(UNAVAILABLE.to_owned())),
            Secrets::System => {
                let (key, password) = (key.clone(), password.to_owned());
                spawn(move || {
                    keyring::Entry::new(SERVICE, &key.user())
                        .and_then(|entry| entry.set_password(&password))
                        .map_err(words)
                })
            }
        }
    }

    /// Forgets the password (nothing to forget is fine).
    pub fn forget(&self, key: &SecretKey) -> Pending<()> {
        match self {
            Secrets::Memory(map) => {
                lock(map).remove(key);
                Pending::ready(Ok(()))
            }
            Secrets::Unavailable => Pending::ready(Ok(())),
            Secrets::System => {
                let key = key.clone();
                spawn(move || {
                    match keyring::Entry::new(SERVICE, &key.user())
                        .and_then(|entry| entry.delete_credential())
                    {
                        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                        Err(e) => Err(words(e)),
                    }
                })
            }
        }
    }
}

fn lock<T>(map: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    map.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `work` on its own thread: the keyring may block (D-Bus, an unlock prompt).
fn spawn<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Pending<T> {
    let (tx, receiver) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("charla-keyring".into())
        .spawn(move || {
            // The UI may have moved on and dropped the receiver: nothing to do then.
            let _ = tx.send(work());
        });
    match spawned {
        Ok(_) => Pending { receiver },
        Err(e) => Pending::ready(Err(format!("cannot start the keyring thread: {e}"))),
    }
}

fn words(e: keyring::Error) -> String {
    match e {
        keyring::Error::NoDefaultStore | keyring::Error::NoStorageAccess(_) => {
            UNAVAILABLE.to_owned()
        }
        other => format!("the system keyring failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_keeps_one_password_per_server_and_account() {
        let secrets = Secrets::in_memory();
        let casa = SecretKey::new("Casa.example", 6697, "ana");
        let otro = SecretKey::new("casa.example", 6667, "ana");
        assert_eq!(secrets.lookup(&casa).poll(), Some(Ok(None)));
        assert_eq!(secrets.remember(&casa, "contraseña").poll(), Some(Ok(())));
        assert_eq!(
            secrets
                .lookup(&SecretKey::new("casa.example", 6697, "ana"))
                .poll(),
            Some(Ok(Some("contraseña".to_owned())))
        );
        assert_eq!(secrets.lookup(&otro).poll(), Some(Ok(None)));
        assert_eq!(secrets.forget(&casa).poll(), Some(Ok(())));
        assert_eq!(secrets.lookup(&casa).poll(), Some(Ok(None)));
    }
}
