//! The PROXY protocol (<https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>) on
//! listeners with `proxy = true`: a load balancer or TLS terminator in front of the server
//! (HAProxy, nginx `proxy_protocol`, a cloud load balancer) starts each connection with a header
//! that gives the client's real address, which the server then uses everywhere (per-IP limits,
//! host masks, WHOIS, logs).
//!
//! Both versions are read: the binary v2 header (section 2.2) and the text v1 line (2.1). The
//! header comes first on the socket, before TLS on a TLS listener. It is read with exact-size
//! reads, so not one byte past it is taken from the socket: what follows (the TLS handshake,
//! IRC lines) is left for the session.
//!
//! The parser is ours and small ([`parse`]): the crate `ppp` parses whole buffers but cannot say
//! how many more bytes it needs without over-reading the socket, and what we need of it (the
//! source address; TLVs are skipped) is a hundred lines, every one of them tested with
//! malformed input. [`parse`] never panics, whatever the bytes (a property test feeds it
//! random ones).
//!
//! Reading is bounded: a v1 line is at most 107 bytes, a v2 header at most
//! [`MAX_V2_LEN`] bytes past its fixed 16, and the whole header must come within
//! `proxy.header_timeout_secs`; a sender that stops half-way is dropped then.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::cidr::Cidr;

/// The first 12 bytes of a v2 header (section 2.2).
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The start of a v1 line.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 line, CR LF included (section 2.1).
pub const V1_MAX: usize = 107;
/// The most bytes a v2 header may carry past its fixed 16 (addresses and TLVs). The format
/// allows 65,535; real senders use a few hundred at most (the addresses, and TLVs such as a
/// unique id or the TLS details), so this bounds what an unknown sender can make us read.
pub const MAX_V2_LEN: usize = 2048;

/// The `[proxy]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// Who may send PROXY headers: a listener with `proxy = true` closes connections from
    /// anywhere else at once.
    pub trusted: Vec<Cidr>,
    /// Seconds the header may take to arrive whole.
    pub header_timeout_secs: u64,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            trusted: Vec::new(),
            header_timeout_secs: 5,
        }
    }
}

impl ProxyConfig {
    /// Whether `ip` may send PROXY headers.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        crate::cidr::any_contains(&self.trusted, ip)
    }

    /// The time the header may take.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }
}

/// What a header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A connection of the proxy itself (v2 `LOCAL`, e.g. a health check): the socket's own
    /// address stands.
    Local,
    /// A proxied TCP connection from `source`.
    Proxied {
        /// The client's address and port.
        source: SocketAddr,
    },
    /// A proxied connection of a kind that has no IP source (v1 `UNKNOWN`, v2 `UNSPEC` or
    /// `UNIX`, or a datagram protocol): the socket's own address stands.
    Unknown,
}

impl Header {
    /// The address to use for a connection whose socket comes from `peer`.
    pub fn source_or(self, peer: SocketAddr) -> SocketAddr {
        match self {
            Header::Proxied { source } => source,
            Header::Local | Header::Unknown => peer,
        }
    }
}

/// How far [`parse`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// The header is not whole: the buffer must grow to this many bytes (never past the
    /// header's end) before parsing again.
    Incomplete(usize),
    /// A whole header, and how many bytes of the buffer it took.
    Done(Header, usize),
}

/// Why a header was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The connection does not start with a PROXY header.
    #[error("no PROXY protocol header")]
    Missing,
    /// A v2 header of another version, or a command other than LOCAL and PROXY.
    #[error("unsupported PROXY v2 version or command {0:#04x}")]
    Version(u8),
    /// A v2 header longer than [`MAX_V2_LEN`].
    #[error("PROXY v2 header too long ({0} bytes)")]
    TooLong(usize),
    /// A v2 header too short for the addresses of its family.
    #[error("PROXY v2 header too short for its address family")]
    Truncated,
    /// A v1 line that is malformed or longer than [`V1_MAX`].
    #[error("malformed PROXY v1 line")]
    BadLine,
    /// The socket closed or failed before the header was whole.
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
    /// The header did not come whole in time.
    #[error("the PROXY header did not come in time")]
    Timeout,
}

/// Parses the PROXY header at the start of `buf`. Never panics, whatever `buf` holds.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let Some(&first) = buf.first() else {
        return Ok(Parsed::Incomplete(1));
    };
    if first == V2_SIGNATURE[0] {
        parse_v2(buf)
    } else if first == V1_PREFIX[0] {
        parse_v1(buf)
    } else {
        Err(ProxyError::Missing)
    }
}

/// Section 2.2: signature, version and command, family and protocol, length, addresses, TLVs.
fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let sig = buf.len().min(V2_SIGNATURE.len());
    if buf[..sig] != V2_SIGNATURE[..sig] {
        return Err(ProxyError::Missing);
    }
    let Some(fixed) = buf.get(..16) else {
        return Ok(Parsed::Incomplete(16));
    };
    let ver_cmd = fixed[12];
    let family = fixed[13];
    let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    if ver_cmd >> 4 != 2 || ver_cmd & 0x0F > 1 {
        return Err(ProxyError::Version(ver_cmd));
    }
    if len > MAX_V2_LEN {
        return Err(ProxyError::TooLong(len));
    }
    let total = 16 + len;
    let Some(body) = buf.get(16..total) else {
        return Ok(Parsed::Incomplete(total));
    };
    if ver_cmd & 0x0F == 0 {
        // LOCAL: the proxy speaking for itself; the addresses, if any, are ignored.
        return Ok(Parsed::Done(Header::Local, total));
    }
    const STREAM: u8 = 0x1;
    let header = match (family >> 4, family & 0x0F) {
        // AF_INET over STREAM: source 4, destination 4, source port 2, destination port 2.
        (0x1, STREAM) => {
            let a = body.get(..12).ok_or(ProxyError::Truncated)?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            let port = u16::from_be_bytes([a[8], a[9]]);
            Header::Proxied {
                source: SocketAddr::new(IpAddr::V4(ip), port),
            }
        }
        // AF_INET6 over STREAM: source 16, destination 16, source port 2, destination port 2.
        (0x2, STREAM) => {
            let a = body.get(..36).ok_or(ProxyError::Truncated)?;
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&a[..16]);
            let port = u16::from_be_bytes([a[32], a[33]]);
            Header::Proxied {
                source: SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port),
            }
        }
        // UNSPEC, AF_UNIX, datagrams: nothing we can use; section 2.2 lets the receiver keep
        // its own idea of the address.
        _ => Header::Unknown,
    };
    Ok(Parsed::Done(header, total))
}

/// Section 2.1: `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` or `PROXY UNKNOWN ...\r\n`.
fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let start = buf.len().min(V1_PREFIX.len());
    if buf[..start] != V1_PREFIX[..start] {
        return Err(ProxyError::Missing);
    }
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        // A bare LF, or no end within the longest line, is malformed; else read on, one byte
        // at a time (the line's length is not known in advance).
        if buf.contains(&b'\n') || buf.len() >= V1_MAX {
            return Err(ProxyError::BadLine);
        }
        return Ok(Parsed::Incomplete(buf.len() + 1));
    };
    let total = end + 2;
    // A bare LF before the end is malformed, as it is while the line is still coming.
    if total > V1_MAX || buf[..end].contains(&b'\n') {
        return Err(ProxyError::BadLine);
    }
    let line = std::str::from_utf8(&buf[..end]).map_err(|_| ProxyError::BadLine)?;
    let mut words = line.split(' ');
    let _proxy = words.next();
    let header = match words.next() {
        // Whatever follows UNKNOWN is to be ignored (section 2.1).
        Some("UNKNOWN") => Header::Unknown,
        Some(proto @ ("TCP4" | "TCP6")) => {
            let fields: Vec<&str> = words.collect();
            let [src, dst, sport, dport] = fields[..] else {
                return Err(ProxyError::BadLine);
            };
            let src = v1_ip(proto, src)?;
            // The destination is checked, not used.
            v1_ip(proto, dst)?;
            let sport = port(sport)?;
            port(dport)?;
            Header::Proxied {
                source: SocketAddr::new(src, sport),
            }
        }
        _ => return Err(ProxyError::BadLine),
    };
    Ok(Parsed::Done(header, total))
}

/// A v1 address of `proto` (`TCP4` or `TCP6`).
fn v1_ip(proto: &str, text: &str) -> Result<IpAddr, ProxyError> {
    match proto {
        "TCP4" => text.parse::<Ipv4Addr>().map(IpAddr::V4),
        _ => text.parse::<Ipv6Addr>().map(IpAddr::V6),
    }
    .map_err(|_| ProxyError::BadLine)
}

/// A v1 port: decimal, no sign, no leading zero (section 2.1).
fn port(text: &str) -> Result<u16, ProxyError> {
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return Err(ProxyError::BadLine);
    }
    text.parse().map_err(|_| ProxyError::BadLine)
}

/// Reads the header at the start of `stream`, taking exactly its bytes and none after, within
/// `timeout`.
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
    timeout: Duration,
) -> Result<Header, ProxyError> {
    let read = async {
        let mut buf = Vec::new();
        loop {
            match parse(&buf)? {
                Parsed::Done(header, _) => return Ok(header),
                Parsed::Incomplete(want) => {
                    let had = buf.len();
                    buf.resize(want, 0);
                    let n = stream.read(&mut buf[had..]).await?;
                    if n == 0 {
                        return Err(ProxyError::Io(std::io::ErrorKind::UnexpectedEof.into()));
                    }
                    buf.truncate(had + n);
                }
            }
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| ProxyError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A v2 header: version/command, family/protocol, then `body`.
    fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(ver_cmd);
        h.push(fam);
        h.extend_from_slice(&u16::try_from(body.len()).expect("short").to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    fn tcp4_body() -> Vec<u8> {
        let mut b = vec![203, 0, 113, 7, 10, 0, 0, 1];
        b.extend_from_slice(&51000u16.to_be_bytes());
        b.extend_from_slice(&6697u16.to_be_bytes());
        b
    }

    fn done(bytes: &[u8]) -> Header {
        match parse(bytes) {
            Ok(Parsed::Done(h, n)) => {
                assert_eq!(n, bytes.len(), "consumed");
                h
            }
            other => panic!("{bytes:?}: {other:?}"),
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn v2_proxy_tcp4_and_tcp6_give_the_source() {
        assert_eq!(
            done(&v2(0x21, 0x11, &tcp4_body())),
            Header::Proxied {
                source: addr("203.0.113.7:51000")
            }
        );
        let mut body = Vec::new();
        body.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().expect("ip").octets());
        body.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        body.extend_from_slice(&4242u16.to_be_bytes());
        body.extend_from_slice(&6667u16.to_be_bytes());
        assert_eq!(
            done(&v2(0x21, 0x21, &body)),
            Header::Proxied {
                source: addr("[2001:db8::7]:4242")
            }
        );
        // TLVs after the addresses are skipped, and counted.
        let mut with_tlv = tcp4_body();
        with_tlv.extend_from_slice(&[0x05, 0x00, 0x03, b'a', b'b', b'c']);
        assert_eq!(
            done(&v2(0x21, 0x11, &with_tlv)),
            Header::Proxied {
                source: addr("203.0.113.7:51000")
            }
        );
    }

    #[test]
    fn v2_local_unspec_and_unix_keep_the_socket_address() {
        assert_eq!(done(&v2(0x20, 0x00, &[])), Header::Local);
        assert_eq!(done(&v2(0x20, 0x11, &tcp4_body())), Header::Local);
        assert_eq!(done(&v2(0x21, 0x00, &[])), Header::Unknown);
        assert_eq!(done(&v2(0x21, 0x31, &[0; 216])), Header::Unknown);
        // UDP over INET: no TCP source to speak of.
        assert_eq!(done(&v2(0x21, 0x12, &tcp4_body())), Header::Unknown);
        let peer = addr("10.0.0.1:1");
        assert_eq!(Header::Local.source_or(peer), peer);
        assert_eq!(Header::Unknown.source_or(peer), peer);
    }

    #[test]
    fn v2_header_arrives_in_pieces_without_reading_past_it() {
        let full = v2(0x21, 0x11, &tcp4_body());
        assert_eq!(parse(&[]).ok(), Some(Parsed::Incomplete(1)));
        assert_eq!(parse(&full[..1]).ok(), Some(Parsed::Incomplete(16)));
        assert_eq!(parse(&full[..15]).ok(), Some(Parsed::Incomplete(16)));
        assert_eq!(parse(&full[..16]).ok(), Some(Parsed::Incomplete(28)));
        assert_eq!(parse(&full[..27]).ok(), Some(Parsed::Incomplete(28)));
        // Bytes after the header (a TLS ClientHello, an IRC line) are not the header's.
        let mut more = full.clone();
        more.extend_from_slice(b"NICK ana\r\n");
        assert!(matches!(parse(&more), Ok(Parsed::Done(_, 28))));
    }

    #[test]
    fn v2_malformed_headers_are_refused() {
        let mut bad_sig = v2(0x21, 0x11, &tcp4_body());
        bad_sig[5] = b'X';
        assert!(matches!(parse(&bad_sig), Err(ProxyError::Missing)));
        assert!(matches!(parse(b"\r\nNICK"), Err(ProxyError::Missing)));
        assert!(matches!(
            parse(&v2(0x11, 0x11, &tcp4_body())),
            Err(ProxyError::Version(0x11))
        ));
        assert!(matches!(
            parse(&v2(0x22, 0x11, &tcp4_body())),
            Err(ProxyError::Version(0x22))
        ));
        // Too short for its family.
        assert!(matches!(
            parse(&v2(0x21, 0x11, &[1, 2, 3])),
            Err(ProxyError::Truncated)
        ));
        assert!(matches!(
            parse(&v2(0x21, 0x21, &tcp4_body())),
            Err(ProxyError::Truncated)
        ));
        // Longer than we accept: refused as soon as the length is known.
        let mut long = V2_SIGNATURE.to_vec();
        long.extend_from_slice(&[0x21, 0x11, 0xFF, 0xFF]);
        assert!(matches!(parse(&long), Err(ProxyError::TooLong(65535))));
    }

    #[test]
    fn v1_lines() {
        assert_eq!(
            done(b"PROXY TCP4 198.51.100.22 203.0.113.7 35646 6667\r\n"),
            Header::Proxied {
                source: addr("198.51.100.22:35646")
            }
        );
        assert_eq!(
            done(b"PROXY TCP6 2001:db8::1 ::1 65535 6697\r\n"),
            Header::Proxied {
                source: addr("[2001:db8::1]:65535")
            }
        );
        assert_eq!(done(b"PROXY UNKNOWN\r\n"), Header::Unknown);
        assert_eq!(
            done(b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"),
            Header::Unknown
        );
        assert_eq!(parse(b"PROX").ok(), Some(Parsed::Incomplete(5)));
        assert_eq!(
            parse(b"PROXY TCP4 1.2.3.4").ok(),
            Some(Parsed::Incomplete(19))
        );
    }

    #[test]
    fn v1_malformed_lines_are_refused() {
        let bad: &[&[u8]] = &[
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY \xff\xfe 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY\r\n",
            b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"NICK ana\r\n",
        ];
        for line in bad {
            assert!(
                parse(line).is_err(),
                "{:?} was taken",
                String::from_utf8_lossy(line)
            );
        }
        // No end within 107 bytes.
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX, b'a');
        assert!(matches!(parse(&long), Err(ProxyError::BadLine)));
    }

    #[tokio::test]
    async fn reading_takes_the_header_and_leaves_the_rest() {
        let mut bytes = v2(0x21, 0x11, &tcp4_body());
        bytes.extend_from_slice(b"NICK ana\r\n");
        let mut stream: &[u8] = &bytes;
        let header = read_header(&mut stream, Duration::from_secs(1))
            .await
            .expect("header");
        assert_eq!(header.source_or(addr("10.0.0.1:1")).port(), 51000);
        assert_eq!(stream, b"NICK ana\r\n");

        let mut v1: &[u8] = b"PROXY TCP4 198.51.100.22 203.0.113.7 35646 6667\r\nNICK ana\r\n";
        read_header(&mut v1, Duration::from_secs(1))
            .await
            .expect("header");
        assert_eq!(v1, b"NICK ana\r\n");

        let mut cut: &[u8] = &bytes[..20];
        assert!(matches!(
            read_header(&mut cut, Duration::from_secs(1)).await,
            Err(ProxyError::Io(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn half_a_header_times_out() {
        let (mut ours, mut theirs) = tokio::io::duplex(64);
        let full = v2(0x21, 0x11, &tcp4_body());
        tokio::io::AsyncWriteExt::write_all(&mut theirs, &full[..10])
            .await
            .expect("write");
        assert!(matches!(
            read_header(&mut ours, Duration::from_secs(5)).await,
            Err(ProxyError::Timeout)
        ));
    }

    /// If `bytes` start with a whole header of `n` bytes, every shorter prefix asks for more,
    /// and never for more than `n`: reading never takes a byte past the header.
    fn check_prefixes(bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(Parsed::Done(header, n)) = parse(bytes) {
            prop_assert_eq!(parse(&bytes[..n]).ok(), Some(Parsed::Done(header, n)));
            for k in 0..n {
                match parse(&bytes[..k]) {
                    Ok(Parsed::Incomplete(want)) => prop_assert!(k < want && want <= n),
                    other => prop_assert!(false, "prefix {} of {}: {:?}", k, n, other),
                }
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_never_asks_to_shrink(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(Parsed::Incomplete(want)) = parse(&bytes) {
                prop_assert!(want > bytes.len());
                prop_assert!(want <= 16 + MAX_V2_LEN);
            }
            if let Ok(Parsed::Done(_, n)) = parse(&bytes) {
                prop_assert!(n <= bytes.len());
            }
        }

        #[test]
        fn a_header_is_read_to_its_end_and_never_past_it(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            check_prefixes(&bytes)?;
        }

        #[test]
        fn v1_like_lines_are_read_to_their_end_and_never_past_it(
            kind in prop_oneof![
                Just("UNKNOWN".to_owned()),
                Just("TCP4 198.51.100.1 203.0.113.7 1 6667".to_owned()),
                Just("TCP6 2001:db8::1 ::1 65535 6697".to_owned()),
                "[A-Z0-9 .:]{0,24}",
            ],
            tail in "[ -~\\r\\n]{0,24}",
            after in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let mut bytes = format!("PROXY {kind}{tail}\r\n").into_bytes();
            bytes.extend_from_slice(&after);
            check_prefixes(&bytes)?;
        }

        #[test]
        fn v2_like_headers_are_read_to_their_end_and_never_past_it(
            ver_cmd in prop_oneof![Just(0x20u8), Just(0x21u8), any::<u8>()],
            family in prop_oneof![Just(0x11u8), Just(0x21u8), Just(0x00u8), any::<u8>()],
            body in proptest::collection::vec(any::<u8>(), 0..64),
            after in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let mut bytes = v2(ver_cmd, family, &body);
            bytes.extend_from_slice(&after);
            check_prefixes(&bytes)?;
        }

        #[test]
        fn v2_prefixes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut bytes = V2_SIGNATURE.to_vec();
            bytes.extend_from_slice(&tail);
            let _ = parse(&bytes);
            let mut line = b"PROXY ".to_vec();
            line.extend_from_slice(&tail);
            let _ = parse(&line);
        }
    }
}
