//! Making an account: its name checked, its password hashed twice (Argon2id for PLAIN and
//! NickServ, SCRAM-SHA-256 credentials for SCRAM), both on the hashing pool, then one write to
//! the store.

use std::time::SystemTime;

use charla_proto::sasl::{DEFAULT_ITERATIONS, ScramCredentials};
use charla_proto::validate::check_nick;
use charla_store::{AccountRecord, Conflict, ScramRecord, Write};
use tracing::{info, warn};

use crate::account::key;
use crate::account::password::{Password, hash_password};
use crate::logtext::Escaped;
use crate::state::State;
use crate::timefmt::unix_millis;

/// Why an account was not made. The `Display` is the text told to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// The name is taken.
    #[error("The account {0} already exists")]
    Exists(String),
    /// The name cannot be an account name.
    #[error("{0} cannot be an account name: {1}")]
    BadName(String, String),
    /// The password is shorter than the configured minimum.
    #[error("The password must be at least {0} characters long")]
    WeakPassword(usize),
    /// The password holds what a password here may not (a control character).
    #[error("The password may not contain control characters")]
    UnacceptablePassword,
    /// The store failed.
    #[error("Accounts are not available right now, try again later")]
    Unavailable,
}

/// The SCRAM and Argon2 forms of a password.
pub struct Hashed {
    /// Argon2id, as a PHC string.
    pub phc: String,
    /// SCRAM-SHA-256 credentials.
    pub scram: ScramRecord,
}

/// Checks what a new password must be.
pub fn check_password(state: &State, password: &Password) -> Result<(), CreateError> {
    let text = password.expose();
    let min = state.config.accounts.min_password_len;
    if text.chars().count() < min {
        return Err(CreateError::WeakPassword(min));
    }
    if text.chars().any(char::is_control) {
        return Err(CreateError::UnacceptablePassword);
    }
    Ok(())
}

/// Hashes `password` both ways on the hashing pool.
pub async fn hash(state: &State, password: Password) -> Option<Hashed> {
    state
        .hasher
        .run(move || {
            let phc = hash_password(password.expose()).ok()?;
            let salt: [u8; 16] = rand::random();
            let c = ScramCredentials::derive(password.expose(), &salt, DEFAULT_ITERATIONS);
            Some(Hashed {
                phc,
                scram: ScramRecord {
                    salt: c.salt,
                    iterations: c.iterations,
                    stored_key: c.stored_key.to_vec(),
                    server_key: c.server_key.to_vec(),
                },
            })
        })
        .await
        .flatten()
}

/// Makes the account `name` with `password`.
pub async fn create(
    state: &State,
    name: &str,
    password: Password,
    email: Option<String>,
) -> Result<AccountRecord, CreateError> {
    if let Err(why) = check_nick(name) {
        return Err(CreateError::BadName(name.to_owned(), why.to_string()));
    }
    if matches!(key(name).as_str(), "nickserv" | "chanserv") {
        return Err(CreateError::BadName(
            name.to_owned(),
            "it is a service's name".to_owned(),
        ));
    }
    check_password(state, &password)?;
    // A taken name is refused before the hash: a storm of REGISTERs for existing accounts
    // must not cost a hash each (the store still settles a race between two new ones).
    match state.store.account(&key(name)).await {
        Ok(Some(_)) => return Err(CreateError::Exists(name.to_owned())),
        Ok(None) => {}
        Err(e) => {
            warn!(error = %e, "cannot read an account");
            return Err(CreateError::Unavailable);
        }
    }
    let hashed = hash(state, password)
        .await
        .ok_or(CreateError::Unavailable)?;
    let record = AccountRecord {
        key: key(name),
        name: name.to_owned(),
        password_hash: hashed.phc,
        scram: Some(hashed.scram),
        created_at: unix_millis(SystemTime::now()),
        verified: true,
        email,
        always_on: None,
    };
    match state
        .store
        .write(Write::CreateAccount(record.clone()))
        .await
    {
        Ok(Ok(())) => {
            info!(account = %Escaped(name), "account registered");
            Ok(record)
        }
        Ok(Err(Conflict::Exists | Conflict::NotFound)) => Err(CreateError::Exists(name.to_owned())),
        Err(e) => {
            warn!(error = %e, "cannot register an account");
            Err(CreateError::Unavailable)
        }
    }
}
