//! SASL for IRC (IRCv3 `sasl` 3.1/3.2, <https://ircv3.net/specs/extensions/sasl-3.1>): the
//! pieces both the server and the client need, as pure functions and state machines over bytes.
//! No I/O, no randomness: nonces come from the caller, so every exchange can be replayed in a
//! test.
//!
//! - `chunk`: the `AUTHENTICATE` framing: base64 in chunks of 400 bytes ([`encode_chunks`] to
//!   send, [`ChunkReader`] to receive).
//! - `plain`: the `PLAIN` mechanism, RFC 4616 ([`plain_encode`], [`plain_decode`]).
//! - `scram`: `SCRAM-SHA-256`, RFC 5802 with RFC 7677's hash: stored credentials
//!   ([`ScramCredentials`]), the server's side ([`ScramServer`] then
//!   [`ScramServerAwaitingProof`]) and the client's ([`ScramClient`] then
//!   [`ScramClientAwaitingSignature`]).
//!
//! A step that leads to another consumes its state and returns the next, so steps cannot be
//! taken out of order. Every failure is a [`ChunkError`] (framing) or a [`SaslError`] (mechanism);
//! the server maps them to numerics (`ERR_SASLTOOLONG`, `ERR_SASLABORTED`, `ERR_SASLFAIL` in
//! [`numeric`](crate::numeric)), and no input, however malformed, panics (`tests/sasl.rs`).

mod chunk;
mod plain;
mod scram;

pub use chunk::{CHUNK_LEN, ChunkError, ChunkReader, encode_chunks};
pub use plain::{Plain, plain_decode, plain_encode};
pub use scram::{
    DEFAULT_ITERATIONS, MAX_ITERATIONS, ScramClient, ScramClientAwaitingSignature,
    ScramCredentials, ScramServer, ScramServerAwaitingProof,
};

/// Why a SASL mechanism exchange failed. On the server every variant ends the exchange with
/// `904 ERR_SASLFAIL`; the variants say why, for logs and for the client's user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The message does not follow the mechanism's grammar; the text says what is wrong.
    #[error("malformed SASL message: {0}")]
    Malformed(&'static str),
    /// The client asked for channel binding (`p=` in SCRAM's GS2 header), which Charla does not
    /// offer: it advertises no `-PLUS` mechanism.
    #[error("channel binding was requested, but it is not supported")]
    ChannelBindingUnsupported,
    /// The message carries `m=`, a mandatory SCRAM extension; none is defined, so none is
    /// understood (RFC 5802 section 5.1).
    #[error("a mandatory SCRAM extension (m=) was requested, but none is supported")]
    MandatoryExtension,
    /// A username given to the client holds a character SCRAM cannot carry (NUL), or is empty.
    #[error("the username is empty or holds a NUL character")]
    InvalidUsername,
    /// A nonce given by the caller is empty or holds something other than printable ASCII
    /// without `,` (RFC 5802 section 7, `printable`).
    #[error("a nonce must be printable ASCII other than ',' and not empty")]
    InvalidNonce,
    /// The nonce in a later message is not the one the exchange started with.
    #[error("the nonce does not match the one this exchange started with")]
    NonceMismatch,
    /// The client's `c=` is not its own GS2 header from the first message.
    #[error("the channel binding (c=) does not match the start of the exchange")]
    ChannelBindingMismatch,
    /// The proof is wrong: the password is wrong or the account does not exist (deliberately
    /// the same error, so the two cannot be told apart).
    #[error("wrong username or password")]
    AuthenticationFailed,
    /// The server asked for an iteration count the client will not compute: zero, or more than
    /// [`MAX_ITERATIONS`], which a hostile server could use to burn the client's CPU.
    #[error("the server asked for {0} iterations; accepted are 1 to {MAX_ITERATIONS}")]
    Iterations(u64),
    /// The server's signature (`v=`) is wrong: the server does not know the password, so it is
    /// not the server the account was created on.
    #[error("the server's signature is wrong: it does not know this account's credentials")]
    ServerSignatureMismatch,
    /// The server ended the exchange with `e=` and this reason (RFC 5802 section 7,
    /// `server-error-value`).
    #[error("the server refused the authentication: {0}")]
    ServerRefused(String),
}
