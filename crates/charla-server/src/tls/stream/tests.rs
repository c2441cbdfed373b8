//! Tests of the TLS stream: against rustls's client, a raw client that seals its own records, and
//! any bytes at all.

use std::io;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_rustls::TlsConnector;

use super::TlsStream;
use crate::tls::Tls;
use crate::tls::keys::Keys;

/// A server configuration (the server's own, from a fresh certificate) and a client that
/// trusts that certificate and speaks only `versions`.
fn configs(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (Arc<rustls::ServerConfig>, TlsConnector) {
    let tls = Tls::self_signed(&["localhost"]).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(tls.certificate().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (tls.server_config(), TlsConnector::from(Arc::new(client)))
}

/// A client and a server over a pipe that takes `pipe` bytes at a time, so that records
/// arrive in pieces and writes wait for the reader.
async fn pair(
    versions: &[&'static rustls::SupportedProtocolVersion],
    pipe: usize,
) -> (
    tokio_rustls::client::TlsStream<DuplexStream>,
    TlsStream<DuplexStream>,
) {
    let (server_config, connector) = configs(versions);
    let (client_io, server_io) = tokio::io::duplex(pipe);
    let name = ServerName::try_from("localhost").unwrap();
    let (client, server) = tokio::join!(
        connector.connect(name, client_io),
        TlsStream::accept(server_config, server_io)
    );
    (client.unwrap(), server.unwrap().0)
}

fn idle(server: &TlsStream<DuplexStream>) -> bool {
    server.incoming.capacity() == 0
        && server.plain.capacity() == 0
        && server.outgoing.capacity() == 0
}

async fn both_ways(versions: &[&'static rustls::SupportedProtocolVersion], pipe: usize) {
    let (mut client, mut server) = pair(versions, pipe).await;
    assert!(
        server.records().is_some(),
        "rustls handed the connection over"
    );
    // (Through a small pipe, TLS 1.3's session tickets may still wait to be written.)
    assert!(
        server.incoming.capacity() == 0 && server.plain.capacity() == 0,
        "a fresh connection holds nothing it read"
    );

    // Bigger than a record each way, and bigger than the pipe.
    let up: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let down: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    let (sent, got) = tokio::join!(
        async {
            client.write_all(&up).await.unwrap();
            client.flush().await.unwrap();
            let mut got = vec![0; down.len()];
            client.read_exact(&mut got).await.unwrap();
            got
        },
        async {
            let mut got = vec![0; up.len()];
            server.read_exact(&mut got).await.unwrap();
            server.write_all(&down).await.unwrap();
            server.flush().await.unwrap();
            got
        }
    );
    assert!(sent == down, "the client got what the server wrote");
    assert!(got == up, "the server got what the client wrote");
    assert!(idle(&server), "all read and written: no buffer held");

    // The client's close_notify is the end of the server's stream; the server's own
    // close_notify then ends the client's.
    client.shutdown().await.unwrap();
    let mut rest = Vec::new();
    server.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    server.shutdown().await.unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn tls13_carries_data_both_ways_in_pieces_and_closes_cleanly() {
    both_ways(&[&rustls::version::TLS13], 100).await;
    both_ways(&[&rustls::version::TLS13], 64 * 1024).await;
}

#[tokio::test]
async fn tls12_carries_data_both_ways_in_pieces_and_closes_cleanly() {
    both_ways(&[&rustls::version::TLS12], 100).await;
}

#[tokio::test]
async fn aes_128_gcm_is_chosen_though_the_client_prefers_aes_256() {
    // rustls's clients, like OpenSSL's, list AES-256-GCM first.
    for (version, expected) in [
        (
            &rustls::version::TLS13,
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
        ),
        (
            &rustls::version::TLS12,
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
    ] {
        let (_client, server) = pair(&[version], 4096).await;
        let suite = server.cipher_suite();
        assert_eq!(suite, Some(expected));
    }
}

#[tokio::test]
async fn every_tls13_suite_carries_lines_across_key_updates_both_ways() {
    use rustls::crypto::ring::cipher_suite as stock;
    // AES-GCM's records are the server's own (`keys`), ChaCha20-Poly1305's rustls's.
    for suite in [
        stock::TLS13_AES_128_GCM_SHA256,
        stock::TLS13_AES_256_GCM_SHA384,
        stock::TLS13_CHACHA20_POLY1305_SHA256,
    ] {
        let tls = Tls::self_signed(&["localhost"]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(tls.certificate().clone()).unwrap();
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites = vec![suite];
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (client_io, server_io) = tokio::io::duplex(4096);
        let name = ServerName::try_from("localhost").unwrap();
        let (client, server) = tokio::join!(
            TlsConnector::from(Arc::new(client)).connect(name, client_io),
            TlsStream::accept(tls.server_config(), server_io)
        );
        let (mut client, mut server) = (client.unwrap(), server.unwrap().0);
        assert!(server.records().is_some(), "TLS 1.3 is handed over");
        let negotiated = server.cipher_suite();
        assert_eq!(negotiated, Some(suite.suite()));

        for round in 0..3 {
            // The client's KeyUpdate asks the server to change its keys too (RFC 8446,
            // 4.6.3): each side then seals and opens with keys made afresh.
            if round > 0 {
                client.get_mut().1.refresh_traffic_keys().unwrap();
            }
            let up = format!("PRIVMSG #sala :¡ronda {round}, señor!\r\n");
            let got = carry(&mut client, &mut server, &up).await;
            assert_eq!(got, up.as_bytes(), "{suite:?}, round {round}");
            let down = format!(":charla NOTICE * :ronda {round}\r\n");
            let got = carry(&mut server, &mut client, &down).await;
            assert_eq!(got, down.as_bytes(), "{suite:?}, round {round}");
        }
    }
}

/// Writes `line` into `from` and reads as many bytes back out of `to`.
async fn carry(
    from: &mut (impl tokio::io::AsyncWrite + Unpin),
    to: &mut (impl tokio::io::AsyncRead + Unpin),
    line: &str,
) -> Vec<u8> {
    from.write_all(line.as_bytes()).await.unwrap();
    from.flush().await.unwrap();
    let mut got = vec![0; line.len()];
    to.read_exact(&mut got).await.unwrap();
    got
}

#[tokio::test]
async fn an_end_without_close_notify_is_the_end_of_the_stream() {
    let (mut client, mut server) = pair(&[&rustls::version::TLS13], 4096).await;
    client.write_all(b"QUIT\r\n").await.unwrap();
    client.flush().await.unwrap();
    drop(client);
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"QUIT\r\n");
}

#[tokio::test]
async fn garbage_is_an_error_not_a_panic() {
    let (server_config, _) = configs(&[&rustls::version::TLS13]);
    // A fatal decode_error alert, in a TLS 1.2-versioned plaintext record.
    let decode_error = vec![0x15, 0x03, 0x03, 0x00, 0x02, 2, 50];
    for (bytes, answer) in [
        // Not TLS at all.
        (
            b"NICK alguien\r\nUSER a 0 * :a\r\n".to_vec(),
            decode_error.clone(),
        ),
        // A ClientHello cut short by the end of the stream: nothing to answer.
        (vec![0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5], vec![]),
        // Records of a content type that does not exist.
        (vec![0x16; 300], decode_error),
    ] {
        let (mut client_io, server_io) = tokio::io::duplex(4096);
        client_io.write_all(&bytes).await.unwrap();
        // Complete or not, nothing more comes.
        client_io.shutdown().await.unwrap();
        let accepted = TlsStream::accept(server_config.clone(), server_io).await;
        assert!(accepted.is_err(), "{bytes:?} was taken for a handshake");
        let mut said = Vec::new();
        client_io.read_to_end(&mut said).await.unwrap();
        assert_eq!(said, answer, "the server's answer to {bytes:?}");
    }
}

#[tokio::test]
async fn records_after_the_handshake_that_do_not_decrypt_are_an_error() {
    let (client, mut server) = pair(&[&rustls::version::TLS13], 4096).await;
    let (mut io, _) = client.into_inner();
    // An application-data record of 40 bytes that no key made.
    let mut record = vec![0x17, 0x03, 0x03, 0x00, 40];
    record.extend_from_slice(&[0x55; 40]);
    io.write_all(&record).await.unwrap();
    let mut buf = [0; 64];
    assert!(server.read(&mut buf).await.is_err());
    // The session still says goodbye and closes: errors, no panic, no second alert.
    assert!(server.read(&mut buf).await.is_err());
    assert!(server.write_all(b"ERROR :bye\r\n").await.is_err());
    let _ = server.shutdown().await;
}

/// A client that seals its own records after a real handshake (rustls's client, its
/// secrets taken once the handshake is over), to send what rustls's client would not.
struct RawClient {
    io: DuplexStream,
    tx: Keys,
    tx_seq: u64,
    rx: Keys,
    rx_seq: u64,
    tls12: bool,
}

impl RawClient {
    /// A raw client and the server it shook hands with (TLS 1.3, AES-128-GCM).
    async fn pair() -> (RawClient, TlsStream<DuplexStream>) {
        RawClient::pair_with(&rustls::version::TLS13).await
    }

    /// The same over `version`.
    async fn pair_with(
        version: &'static rustls::SupportedProtocolVersion,
    ) -> (RawClient, TlsStream<DuplexStream>) {
        let tls = Tls::self_signed(&["localhost"]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(tls.certificate().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.enable_secret_extraction = true;
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let name = ServerName::try_from("localhost").unwrap();
        let (client, server) = tokio::join!(
            TlsConnector::from(Arc::new(client)).connect(name, client_io),
            TlsStream::accept(tls.server_config(), server_io)
        );
        let (io, conn) = client.unwrap().into_inner();
        #[allow(deprecated)] // No key updates or tickets are needed from rustls here.
        let secrets = conn.dangerous_extract_secrets().unwrap();
        let raw = RawClient {
            io,
            tx: Keys::new(secrets.tx.1).unwrap(),
            tx_seq: secrets.tx.0,
            rx: Keys::new(secrets.rx.1).unwrap(),
            rx_seq: secrets.rx.0,
            tls12: version == &rustls::version::TLS12,
        };
        (raw, server.unwrap().0)
    }

    /// Seals a record of content type `typ` around `body` and sends it.
    async fn send(&mut self, typ: u8, body: &[u8]) {
        let mut record = Vec::new();
        if self.tls12 {
            self.tx.seal12(self.tx_seq, typ, body, &mut record);
        } else {
            self.tx.seal(self.tx_seq, typ, body, &mut record);
        }
        self.tx_seq += 1;
        self.io.write_all(&record).await.unwrap();
    }

    /// Every record the server sent until it closed: content types and contents.
    async fn received(&mut self) -> Vec<(u8, Vec<u8>)> {
        let mut bytes = Vec::new();
        let _ = self.io.read_to_end(&mut bytes).await;
        let mut records = Vec::new();
        let mut rest = &mut bytes[..];
        while rest.len() >= 5 {
            let len = 5 + usize::from(u16::from_be_bytes([rest[3], rest[4]]));
            let (record, after) = rest.split_at_mut(len);
            // After the server's own KeyUpdate its records are sealed with keys this
            // client does not have: marked, and the rest passed over.
            let typ = record[0];
            let opened = if self.tls12 {
                self.rx
                    .open12(self.rx_seq, record)
                    .map(|content| (typ, content))
            } else {
                self.rx.open(self.rx_seq, record)
            };
            let Ok((typ, content)) = opened else {
                records.push((SEALED_WITH_NEW_KEYS, Vec::new()));
                break;
            };
            records.push((typ, content.to_vec()));
            self.rx_seq += 1;
            rest = after;
        }
        records
    }
}

/// The raw client sends `line` as data, and the server reads exactly that.
async fn says(client: &mut RawClient, server: &mut TlsStream<DuplexStream>, line: &[u8]) {
    client.send(DATA, line).await;
    let mut got = vec![0; line.len()];
    server.read_exact(&mut got).await.unwrap();
    assert_eq!(got, line);
}

/// What the server reads until the end or an error, then its shutdown.
async fn read_all(server: &mut TlsStream<DuplexStream>) -> Result<Vec<u8>, io::Error> {
    let mut got = Vec::new();
    let read = server.read_to_end(&mut got).await.map(|_| got);
    let _ = server.shutdown().await;
    read
}

const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const DATA: u8 = 23;
/// Not a content type: a record that the old keys do not open.
const SEALED_WITH_NEW_KEYS: u8 = 0xff;

const UNEXPECTED_MESSAGE: u8 = 10;
const RECORD_OVERFLOW: u8 = 22;
const ILLEGAL_PARAMETER: u8 = 47;
const DECODE_ERROR: u8 = 50;

/// What is sent after the handshake (content types and contents), and the fatal alert
/// that must answer it (none for the peer's own fatal alert).
type Refused = (&'static str, &'static [(u8, &'static [u8])], Option<u8>);

/// Data, a warning alert of `description`, data, close_notify and more data: the server
/// reads the data before close_notify, and closes. What it sent.
async fn warning_then_close_notify(
    client: &mut RawClient,
    server: &mut TlsStream<DuplexStream>,
    description: u8,
) -> Vec<(u8, Vec<u8>)> {
    client.send(DATA, "NICK señor\r\n".as_bytes()).await;
    client.send(ALERT, &[1, description]).await;
    client.send(DATA, b"QUIT\r\n").await;
    client.send(ALERT, &[1, 0]).await;
    client.send(DATA, b"after the end").await;
    let read = read_all(server).await.unwrap();
    assert_eq!(read, "NICK señor\r\nQUIT\r\n".as_bytes());
    client.received().await
}

/// Each case (and those of both versions) over a fresh connection of `version`: the
/// server's read fails and its last record is the case's alert.
async fn refused(version: &'static rustls::SupportedProtocolVersion, cases: &[Refused]) {
    let both: [Refused; 3] = [
        ("a fatal alert", &[(ALERT, &[2, 40])], None),
        (
            "two alerts in one record",
            &[(ALERT, &[1, 90, 1, 0])],
            Some(DECODE_ERROR),
        ),
        (
            "more than 2^14 bytes",
            &[(DATA, &[b'a'; 16_385])],
            Some(RECORD_OVERFLOW),
        ),
    ];
    for (what, records, alert) in both.iter().chain(cases) {
        let (mut client, mut server) = RawClient::pair_with(version).await;
        for (typ, body) in *records {
            client.send(*typ, body).await;
        }
        client.io.shutdown().await.unwrap();
        assert!(read_all(&mut server).await.is_err(), "{what} was taken");
        let said = client.received().await;
        let last = said.last().filter(|(typ, _)| *typ == ALERT);
        let expected = alert.map(|description| (ALERT, vec![2, description]));
        assert_eq!(last, expected.as_ref(), "{what}");
    }
    // Unprotected records: a ChangeCipherSpec, and a header that announces too much
    // (answered at once, without waiting for its body).
    for (what, bytes, description) in [
        (
            "a plain ChangeCipherSpec",
            &[20, 3, 3, 0, 1, 1][..],
            UNEXPECTED_MESSAGE,
        ),
        (
            "a record of 20,000 bytes",
            &[23, 3, 3, 0x4e, 0x20, 0][..],
            RECORD_OVERFLOW,
        ),
    ] {
        let (mut client, mut server) = RawClient::pair_with(version).await;
        client.io.write_all(bytes).await.unwrap();
        assert!(read_all(&mut server).await.is_err(), "{what} was taken");
        let said = client.received().await;
        assert_eq!(said.last(), Some(&(ALERT, vec![2, description])), "{what}");
    }
}

#[tokio::test]
async fn after_the_handshake_tls13_is_the_servers_and_rustls_state_is_gone() {
    let (mut client, mut server) = RawClient::pair().await;
    assert!(server.records().is_some());
    assert_eq!(
        server.cipher_suite(),
        Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
    );
    // A warning that the user canceled is passed over.
    let said = warning_then_close_notify(&mut client, &mut server, 90).await;
    // The session tickets, then the server's own close_notify.
    assert_eq!(said.last(), Some(&(ALERT, vec![1, 0])));
    assert!(
        said[..said.len() - 1]
            .iter()
            .all(|(typ, _)| *typ == HANDSHAKE)
    );
}

#[tokio::test]
async fn tls13_s_one_session_ticket_goes_out_with_the_servers_first_words() {
    let (mut client, mut server) = RawClient::pair().await;
    says(&mut client, &mut server, b"NICK a\r\n").await;
    // Read, and nothing written: the pipe would have taken the ticket at once.
    assert!(server.hold_out);
    assert!(server.out_at < server.outgoing.len(), "the ticket waits");
    server.write_all(b":s 001 a :hola\r\n").await.unwrap();
    assert!(server.outgoing.is_empty(), "both went in one write");
    server.shutdown().await.unwrap();
    let said = client.received().await;
    assert_eq!(
        said,
        [
            (HANDSHAKE, said[0].1.clone()),
            (DATA, b":s 001 a :hola\r\n".to_vec()),
            (ALERT, vec![1, 0]),
        ]
    );
    // One handshake message in that record, and a NewSessionTicket.
    let ticket = &said[0].1;
    let len = usize::from(ticket[1]) << 16 | usize::from(ticket[2]) << 8 | usize::from(ticket[3]);
    assert_eq!(
        (ticket[0], 4 + len),
        (4, ticket.len()),
        "one NewSessionTicket"
    );
}

#[tokio::test]
async fn a_key_update_in_pieces_changes_the_keys_records_are_opened_with() {
    let (mut client, mut server) = RawClient::pair().await;
    says(&mut client, &mut server, b"PING :1\r\n").await;
    // A KeyUpdate that does not ask for the server's, in two records, then a record
    // sealed with the old key, which the server no longer opens with.
    client.send(HANDSHAKE, &[24, 0]).await;
    client.send(HANDSHAKE, &[0, 1, 0]).await;
    client.send(DATA, b"PING :2\r\n").await;
    assert!(read_all(&mut server).await.is_err());
    let said = client.received().await;
    assert_eq!(said.last(), Some(&(ALERT, vec![2, 20])), "bad_record_mac");
}

#[tokio::test]
async fn a_key_update_that_asks_for_the_servers_is_answered_before_its_next_data() {
    let (mut client, mut server) = RawClient::pair().await;
    client.send(HANDSHAKE, &[24, 0, 0, 1, 1]).await;
    client.io.shutdown().await.unwrap();
    assert_eq!(read_all(&mut server).await.unwrap(), b"");
    server.write_all(b"PONG\r\n").await.ok();
    let said = client.received().await;
    let after_tickets: Vec<_> = said
        .iter()
        .skip_while(|(typ, body)| *typ == HANDSHAKE && body.first() == Some(&4))
        .collect();
    assert_eq!(
        after_tickets,
        [
            &(HANDSHAKE, vec![24, 0, 0, 1, 0]),
            &(SEALED_WITH_NEW_KEYS, vec![])
        ],
        "the server's KeyUpdate, then its close_notify under its new keys"
    );
}

#[tokio::test]
async fn what_may_not_come_after_the_handshake_ends_it_with_the_right_alert() {
    let cases: [Refused; 7] = [
        (
            "a session ticket",
            &[(HANDSHAKE, &[4, 0, 0, 1, 0])],
            Some(UNEXPECTED_MESSAGE),
        ),
        (
            "data after a KeyUpdate in its record",
            &[(HANDSHAKE, &[24, 0, 0, 1, 0, 24])],
            Some(UNEXPECTED_MESSAGE),
        ),
        (
            "a KeyUpdate too long",
            &[(HANDSHAKE, &[24, 0, 0, 2, 0, 0])],
            Some(DECODE_ERROR),
        ),
        (
            "a KeyUpdate's unknown request",
            &[(HANDSHAKE, &[24, 0, 0, 1, 7])],
            Some(ILLEGAL_PARAMETER),
        ),
        (
            "data inside a handshake message",
            &[(HANDSHAKE, &[24, 0]), (DATA, b"x")],
            Some(UNEXPECTED_MESSAGE),
        ),
        (
            "a protected ChangeCipherSpec",
            &[(20, &[1])],
            Some(UNEXPECTED_MESSAGE),
        ),
        ("padding only", &[(0, &[0, 0])], Some(UNEXPECTED_MESSAGE)),
    ];
    refused(&rustls::version::TLS13, &cases).await;
}

#[tokio::test]
async fn tls12_after_the_handshake_takes_data_and_warnings_and_refuses_the_rest() {
    let (mut client, mut server) = RawClient::pair_with(&rustls::version::TLS12).await;
    assert!(server.records().is_some());
    // A warning (no_renegotiation) is passed over.
    let said = warning_then_close_notify(&mut client, &mut server, 100).await;
    assert_eq!(said, [(ALERT, vec![1, 0])]);

    let cases: [Refused; 2] = [
        (
            "an alert of no level",
            &[(ALERT, &[3, 40])],
            Some(DECODE_ERROR),
        ),
        (
            "a renegotiation's ClientHello",
            &[(HANDSHAKE, &[1, 0, 0, 2, 3, 3])],
            Some(UNEXPECTED_MESSAGE),
        ),
    ];
    refused(&rustls::version::TLS12, &cases).await;
}

#[tokio::test]
async fn the_data_before_a_fault_is_read_before_the_error() {
    // (The case the property test below shrank to when the error came first.)
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let (mut client, mut server) = RawClient::pair_with(version).await;
        client.send(DATA, b"PING :1\r\n").await;
        client.send(ALERT, &[]).await;
        let mut got = vec![0; 9];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"PING :1\r\n");
        assert!(read_all(&mut server).await.is_err());
        let said = client.received().await;
        assert_eq!(said.last(), Some(&(ALERT, vec![2, DECODE_ERROR])));
    }
}

#[tokio::test]
async fn the_sending_keys_change_before_their_limit() {
    let (mut client, mut server) = pair(&[&rustls::version::TLS13], 64 * 1024).await;
    // AES-GCM's limit is 2^24 records a key; four show the change as well.
    server.records().unwrap().set_limit(4);
    let lines: Vec<String> = (0..20)
        .map(|i| format!(":charla NOTICE * :{i}\r\n"))
        .collect();
    for line in &lines {
        server.write_all(line.as_bytes()).await.unwrap();
    }
    server.flush().await.unwrap();
    let mut got = vec![0; lines.concat().len()];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(
        got,
        lines.concat().as_bytes(),
        "rustls's client followed the changes"
    );
    client.write_all(b"QUIT\r\n").await.unwrap();
    let mut quit = [0; 6];
    server.read_exact(&mut quit).await.unwrap();
    assert_eq!(&quit, b"QUIT\r\n");
}

/// Sends `bytes` in pieces of the given sizes (the last piece takes the rest), then EOF.
async fn send_in_pieces(io: &mut DuplexStream, bytes: &[u8], sizes: &[usize]) {
    let mut rest = bytes;
    for &size in sizes {
        let (piece, after) = rest.split_at(size.min(rest.len()));
        if io.write_all(piece).await.is_err() {
            return;
        }
        rest = after;
    }
    let _ = io.write_all(rest).await;
    let _ = io.shutdown().await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Anything a client sends instead of a handshake ends in an error, at once.
    #[test]
    fn any_bytes_before_the_handshake_end_it_without_a_panic(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
        sizes in proptest::collection::vec(1usize..400, 0..8),
    ) {
        let (server_config, _) = configs(&[&rustls::version::TLS13, &rustls::version::TLS12]);
        runtime().block_on(async {
            let (mut client_io, server_io) = tokio::io::duplex(512);
            let accept = TlsStream::accept(server_config, server_io);
            let (accepted, ()) = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                async { tokio::join!(accept, send_in_pieces(&mut client_io, &bytes, &sizes)) },
            )
            .await
            .expect("the handshake ends with the input");
            assert!(accepted.is_err());
        });
    }

    /// Anything after a real handshake, random or in well-formed record headers, ends
    /// the stream or is an error, and the session can still try to say goodbye.
    #[test]
    fn any_bytes_after_the_handshake_end_the_stream_without_a_panic(
        random in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
        records in proptest::collection::vec(
            (20u8..=24, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)),
            0..6,
        ),
        framed in proptest::prelude::any::<bool>(),
        sizes in proptest::collection::vec(1usize..400, 0..8),
        tls12 in proptest::prelude::any::<bool>(),
    ) {
        let bytes = if framed {
            let mut bytes = Vec::new();
            for (kind, payload) in &records {
                bytes.extend_from_slice(&[*kind, 3, 3]);
                bytes.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                bytes.extend_from_slice(payload);
            }
            bytes
        } else {
            random
        };
        runtime().block_on(async {
            let version = if tls12 { &rustls::version::TLS12 } else { &rustls::version::TLS13 };
            let (client, server) = pair(&[version], 512).await;
            let mut server = server;
            let (mut io, _) = client.into_inner();
            // The server's side closes at its end, as a session drops its socket (the
            // client may still be writing).
            let read = async move {
                let mut got = Vec::new();
                let _ = server.read_to_end(&mut got).await;
                let _ = server.write_all(b"ERROR :bye\r\n").await;
                let _ = server.shutdown().await;
            };
            let drain = async {
                send_in_pieces(&mut io, &bytes, &sizes).await;
                let mut sink = Vec::new();
                let _ = io.read_to_end(&mut sink).await;
            };
            tokio::time::timeout(std::time::Duration::from_secs(5), async {
                tokio::join!(read, drain)
            })
            .await
            .expect("the session ends with the input");
        });
    }

    /// Any records sealed with the right keys (content types that exist or not, KeyUpdates
    /// whole, in pieces or malformed, alerts, padding), in any pieces: the stream ends or
    /// is an error, and what was data before any fault is read in order.
    #[test]
    fn any_sealed_records_after_the_handshake_end_the_stream_without_a_panic(
        records in proptest::collection::vec(
            (
                proptest::prop_oneof![
                    proptest::prelude::Just(ALERT),
                    proptest::prelude::Just(HANDSHAKE),
                    proptest::prelude::Just(DATA),
                    proptest::prelude::any::<u8>(),
                ],
                proptest::prop_oneof![
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
                    proptest::collection::vec(0u8..3, 0..6),
                    proptest::prelude::Just(vec![24, 0, 0, 1, 1]),
                    proptest::prelude::Just(vec![24, 0, 0]),
                    proptest::prelude::Just(vec![1, 0]),
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
                ],
            ),
            0..8,
        ),
        sizes in proptest::collection::vec(1usize..400, 0..8),
        tls12 in proptest::prelude::any::<bool>(),
    ) {
        runtime().block_on(async {
            let version = if tls12 { &rustls::version::TLS12 } else { &rustls::version::TLS13 };
            let (mut client, mut server) = RawClient::pair_with(version).await;
            let mut bytes = Vec::new();
            let mut data = Vec::new();
            let mut faulty = false;
            for (typ, body) in &records {
                if tls12 {
                    client.tx.seal12(client.tx_seq, *typ, body, &mut bytes);
                } else {
                    client.tx.seal(client.tx_seq, *typ, body, &mut bytes);
                }
                client.tx_seq += 1;
                // Data before anything else than data is read in full.
                faulty |= *typ != DATA;
                if !faulty {
                    data.extend_from_slice(body);
                }
            }
            let read = async move {
                let mut got = Vec::new();
                let mut buf = [0; 512];
                loop {
                    match server.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = server.write_all(b"ERROR :bye\r\n").await;
                let _ = server.shutdown().await;
                got
            };
            let drain = async {
                send_in_pieces(&mut client.io, &bytes, &sizes).await;
                let mut sink = Vec::new();
                let _ = client.io.read_to_end(&mut sink).await;
            };
            let (got, ()) = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                tokio::join!(read, drain)
            })
            .await
            .expect("the session ends with the input");
            assert!(got.starts_with(&data), "the data before any fault, in order");
        });
    }
}
