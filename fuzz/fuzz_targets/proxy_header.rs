//! Arbitrary bytes through the PROXY protocol parser (`charla_server::proxy::parse`), which
//! reads what a load balancer (or anyone who reaches a `proxy = true` listener from a trusted
//! address) sends first. Nothing may panic; a request for more bytes must grow the buffer and
//! stay within the v2 cap; a whole header must parse the same alone, and every shorter prefix
//! of it must ask for more without asking past its end (reads never take a byte after it).
#![no_main]

use charla_server::proxy::{MAX_V2_LEN, Parsed, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(Parsed::Incomplete(want)) => {
            assert!(want > data.len());
            assert!(want <= 16 + MAX_V2_LEN);
        }
        Ok(Parsed::Done(header, n)) => {
            assert!(n <= data.len());
            assert_eq!(parse(&data[..n]).ok(), Some(Parsed::Done(header, n)));
            for k in 0..n {
                match parse(&data[..k]) {
                    Ok(Parsed::Incomplete(want)) => assert!(k < want && want <= n),
                    other => panic!("prefix {k} of a {n}-byte header: {other:?}"),
                }
            }
        }
        Err(_) => {}
    }
});
