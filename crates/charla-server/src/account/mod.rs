//! Identity: who may prove they are whom. Today the operator passwords of OPER; accounts,
//! SASL and services will live here too, on the same pieces.
//!
//! - [`password`]: the `Password` type that never shows itself, Argon2id hashes, and the
//!   bounded pool that checks them off the async workers.
//! - [`throttle`]: failed password attempts, counted per address and per connection, paid in
//!   growing delay and then refused, for every way of giving a password.

pub mod password;
pub mod throttle;
