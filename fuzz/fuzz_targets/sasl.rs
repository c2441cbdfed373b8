//! Arbitrary bytes through every SASL step a server or a client takes from the network:
//! AUTHENTICATE chunk reassembly, PLAIN decoding, and both sides of SCRAM-SHA-256 (the server's
//! two steps with real credentials, the client's two steps after a real first message). Nothing
//! may panic, whatever the bytes.
#![no_main]

use charla_proto::sasl::{
    ChunkReader, ScramClient, ScramCredentials, ScramServer, plain_decode,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Lines of AUTHENTICATE parameters, as a client would send them.
    let text = String::from_utf8_lossy(data);
    let mut reader = ChunkReader::new(2048);
    for param in text.split('\n') {
        if let Ok(Some(payload)) = reader.push(param) {
            let _ = plain_decode(&payload);
        }
    }
    let _ = plain_decode(data);

    // The server: a client-first-message, then (after a real server-first) a client-final.
    let (first, last) = data.split_at(data.len() / 2);
    if let Ok(server) = ScramServer::new(first) {
        let _ = server.username();
        let _ = server.authzid();
        let creds = ScramCredentials::derive("contraseña", b"sal de mar", 16);
        if let Ok((waiting, _)) = server.server_first(Some(creds), "nonce-del-servidor") {
            let _ = waiting.client_final(last);
        }
    }

    // The client: a server-first-message, then a server-final.
    if let Ok(client) = ScramClient::new("ñandú", "contraseña", "nonce-del-cliente") {
        let _ = client.client_first();
        if let Ok((waiting, _)) = client.server_first(first) {
            let _ = waiting.server_final(last);
        }
    }
});
