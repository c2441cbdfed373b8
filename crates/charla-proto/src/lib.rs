//! The IRC message model of Charla. No I/O lives here.
//!
//! - [`message`]: borrowing parse of one line into a [`Message`] (tags, source, command, params),
//!   following <https://modern.ircdocs.horse/#messages> and IRCv3 message tags.
//! - [`line`](mod@line): building and serialising outgoing lines ([`LineBuilder`]) with the same rules.
//! - [`tags`]: tag value escaping and unescaping (IRCv3 `message-tags`).
//! - [`numeric`]: numeric replies as named constants.
//! - [`isupport`]: RPL_ISUPPORT (`005`) tokens: a builder for servers, a typed reader for clients.
//! - [`mode`]: mode strings split into changes by `CHANMODES`/`PREFIX` type, and packed back
//!   into MODE lines.
//! - [`casemap`]: case-folding of nicks and channel names.
//! - [`confusable`]: look-alike names: invisible and bidirectional characters, confusable
//!   skeletons (UTS #39).
//! - [`formatting`]: text formatting codes (bold, colours…) read into styled runs, or stripped.
//! - [`validate`]: what a valid nick and channel name is.
//! - [`limits`]: the protocol's size limits.
//! - [`sasl`]: SASL for `AUTHENTICATE`: the base64 chunk framing, `PLAIN` and `SCRAM-SHA-256`
//!   for both the server and the client.
//!
//! The parser and serialiser are checked against the ircdocs parser test vectors
//! (`tests/parser_tests.rs`), by property tests (`tests/roundtrip.rs`) and by cargo-fuzz
//! (`fuzz/` at the workspace root); `benches/proto.rs` measures the hot paths.
#![warn(missing_docs)]

pub mod casemap;
pub mod confusable;
pub mod formatting;
pub mod isupport;
pub mod limits;
pub mod line;
pub mod message;
pub mod mode;
pub mod numeric;
pub mod sasl;
pub mod tags;
pub mod validate;

pub use line::LineBuilder;
pub use message::{Message, OwnedMessage, ParseError};
