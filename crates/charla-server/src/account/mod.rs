//! Identity: who may prove they are whom. Today the operator passwords of OPER; accounts,
//! SASL and services will live here too, on the same pieces.
//!
//! - [`throttle`]: failed password attempts, counted per address and per connection, paid in
//!   growing delay and then refused, for every way of giving a password.

pub mod throttle;
