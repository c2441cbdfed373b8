//! RPL_ISUPPORT (`005`): the server advertises its features and limits as tokens
//! (modern.ircdocs.horse, "Feature Advertisement" <https://modern.ircdocs.horse/#feature-advertisement>,
//! the `RPL_ISUPPORT` reply <https://modern.ircdocs.horse/#rplisupport-005> and
//! "RPL_ISUPPORT Parameters" <https://modern.ircdocs.horse/#rplisupport-parameters>).
//!
//! - [`IsupportBuilder`] is the server side: it collects tokens (`NAME`, `NAME=value`, `-NAME`),
//!   escapes values and packs them into `005` lines of at most [`MAX_TOKENS_PER_LINE`] tokens
//!   that also fit the 512-byte line limit.
//! - [`Isupport`] is the client side: it folds the tokens of every `005` it receives and answers
//!   typed questions (`PREFIX`, `CHANMODES`, `CHANTYPES`, `CASEMAPPING`, `NICKLEN`, `NETWORK`,
//!   `TARGMAX`, `STATUSMSG`, `UTF8ONLY`, ...), with the spec's defaults for tokens never sent.
//!
//! Values may hold the escapes `\x20` (space), `\x5C` (backslash) and `\x3D` (equals sign), as the
//! spec says. We write those three plus ASCII control characters as `\xHH`; when reading, any
//! `\xHH` is decoded, byte by byte, so a server that escapes more (UTF-8 bytes, say) still reads
//! right.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Display;

use crate::Message;
use crate::limits::MAX_LINE;
use crate::line::LineBuilder;
use crate::numeric::RPL_ISUPPORT;

/// Most tokens in one `005`: 15 parameters less the client's nick and the closing text.
pub const MAX_TOKENS_PER_LINE: usize = 13;

/// The human-readable last parameter of every `005`.
pub const TRAILING_TEXT: &str = "are supported by this server";

/// Escapes a token value: space, `\`, `=` and ASCII control characters become `\xHH`.
pub fn escape_value(value: &str) -> Cow<'_, str> {
    let needs = |c: char| c == ' ' || c == '\\' || c == '=' || c.is_ascii_control();
    if !value.contains(needs) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if needs(c) {
            // Only ASCII reaches here, so the code point is one byte.
            out.push_str(&format!("\\x{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Unescapes a token value: every `\xHH` becomes the byte `HH`; a backslash not followed by
/// `x` and two hex digits is kept as it is. Bytes that do not form UTF-8 are replaced (U+FFFD).
pub fn unescape_value(value: &str) -> Cow<'_, str> {
    if !value.contains("\\x") {
        return Cow::Borrowed(value);
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && bytes.get(i + 1) == Some(&b'x')
            && let Some(b) = hex_byte(bytes.get(i + 2..i + 4))
        {
            out.push(b);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex_byte(digits: Option<&[u8]>) -> Option<u8> {
    let d = digits?;
    let hi = (d[0] as char).to_digit(16)?;
    let lo = (d[1] as char).to_digit(16)?;
    u8::try_from(hi * 16 + lo).ok()
}

/// One token as sent in a `005`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    /// `NAME` or `NAME=value`; the value is unescaped, and `None` when there is no `=`.
    Set {
        /// The parameter name.
        name: &'a str,
        /// The unescaped value.
        value: Option<Cow<'a, str>>,
    },
    /// `-NAME`: the parameter is withdrawn.
    Negate(&'a str),
}

impl<'a> Token<'a> {
    /// Parses one token; `None` for an empty token or an empty name.
    pub fn parse(token: &'a str) -> Option<Self> {
        if let Some(name) = token.strip_prefix('-') {
            // "Tokens of this form MUST NOT contain a value field": ignore one if sent anyway.
            let name = name.split_once('=').map_or(name, |(n, _)| n);
            return (!name.is_empty()).then_some(Token::Negate(name));
        }
        let (name, value) = match token.split_once('=') {
            Some((n, v)) => (n, Some(unescape_value(v))),
            None => (token, None),
        };
        (!name.is_empty()).then_some(Token::Set { name, value })
    }
}

/// Builds the `005` lines a server sends after registration.
///
/// ```
/// use charla_proto::isupport::IsupportBuilder;
/// let mut b = IsupportBuilder::new();
/// b.set("CASEMAPPING", "ascii").set("NETWORK", "Red Hispana").flag("UTF8ONLY");
/// let lines = b.lines("irc.example", "ana");
/// assert_eq!(
///     lines[0],
///     b":irc.example 005 ana CASEMAPPING=ascii NETWORK=Red\\x20Hispana UTF8ONLY :are supported by this server\r\n"
/// );
/// ```
#[derive(Debug, Clone, Default)]
pub struct IsupportBuilder {
    /// (name, encoded token), in the order given.
    tokens: Vec<(String, String)>,
}

impl IsupportBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    fn put(&mut self, name: &str, token: String) -> &mut Self {
        if name.is_empty() {
            return self;
        }
        // A reply must not hold the same parameter twice: a later call replaces the earlier.
        match self.tokens.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = token,
            None => self.tokens.push((name.to_owned(), token)),
        }
        self
    }

    /// Advertises `NAME` with no value.
    pub fn flag(&mut self, name: &str) -> &mut Self {
        let name = clean_name(name);
        self.put(&name, name.clone())
    }

    /// Advertises `NAME=value`, the value escaped.
    pub fn set(&mut self, name: &str, value: impl Display) -> &mut Self {
        let name = clean_name(name);
        let value = value.to_string();
        let token = format!("{name}={}", escape_value(&value));
        self.put(&name, token)
    }

    /// Withdraws a parameter advertised before (`-NAME`).
    pub fn negate(&mut self, name: &str) -> &mut Self {
        let name = clean_name(name);
        self.put(&name, format!("-{name}"))
    }

    /// The encoded tokens, in order.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().map(|(_, t)| t.as_str())
    }

    /// The tokens grouped as they go into lines: at most [`MAX_TOKENS_PER_LINE`] per group, and
    /// each group fits one line from `server` to `nick`.
    pub fn groups(&self, server: &str, nick: &str) -> Vec<Vec<&str>> {
        // ":server 005 nick " + tokens + " :text", within MAX_LINE less CR LF.
        let overhead = 1 + server.len() + 5 + nick.len() + 1 + 2 + TRAILING_TEXT.len();
        let budget = (MAX_LINE - 2).saturating_sub(overhead);
        let mut groups: Vec<Vec<&str>> = Vec::new();
        let mut current: Vec<&str> = Vec::new();
        let mut used = 0;
        for token in self.tokens() {
            let cost = token.len() + usize::from(!current.is_empty());
            if !current.is_empty() && (current.len() == MAX_TOKENS_PER_LINE || used + cost > budget)
            {
                groups.push(std::mem::take(&mut current));
                used = 0;
            }
            used += token.len() + usize::from(!current.is_empty());
            current.push(token);
        }
        if !current.is_empty() {
            groups.push(current);
        }
        groups
    }

    /// The finished `005` lines (with CR LF) from `server` to `nick`.
    pub fn lines(&self, server: &str, nick: &str) -> Vec<Vec<u8>> {
        self.groups(server, nick)
            .into_iter()
            .map(|group| {
                let mut b = LineBuilder::new();
                b.source(server).numeric(RPL_ISUPPORT).param(nick);
                for token in group {
                    b.param(token);
                }
                b.trailing(TRAILING_TEXT);
                b.finish()
            })
            .collect()
    }
}

/// A parameter name is upper-case letters and digits ("Servers MUST send the parameter as
/// upper-case text"); anything else is dropped rather than sent broken.
fn clean_name(name: &str) -> String {
    // A vendor prefix (`soju.im/FILEHOST`, `draft/...`) is a domain name and keeps its case;
    // the name after it is upper-case letters and digits like every other.
    let (vendor, name) = match name.rsplit_once('/') {
        Some((vendor, rest)) => {
            let vendor: String = vendor
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '/'))
                .collect();
            (vendor, rest)
        }
        None => (String::new(), name),
    };
    let name: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if vendor.is_empty() || name.is_empty() {
        name
    } else {
        format!("{vendor}/{name}")
    }
}

/// The four channel mode types of `CHANMODES=A,B,C,D`
/// (<https://modern.ircdocs.horse/#chanmodes-parameter>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChanModes {
    /// Type A: list modes (`b`, `e`, `I`); an argument when set and when unset.
    pub a: String,
    /// Type B: always an argument (`k`).
    pub b: String,
    /// Type C: an argument only when set (`l`).
    pub c: String,
    /// Type D: never an argument (`imnst`).
    pub d: String,
}

impl ChanModes {
    /// Parses the value of `CHANMODES`; types past the fourth are ignored (their behaviour is
    /// undefined by the spec).
    pub fn parse(value: &str) -> Self {
        let mut parts = value.split(',').map(str::to_owned);
        ChanModes {
            a: parts.next().unwrap_or_default(),
            b: parts.next().unwrap_or_default(),
            c: parts.next().unwrap_or_default(),
            d: parts.next().unwrap_or_default(),
        }
    }
}

impl Default for ChanModes {
    /// What most servers send, for a server that never says: `beI,k,l,imnpst`.
    fn default() -> Self {
        ChanModes::parse("beI,k,l,imnpst")
    }
}

impl Display for ChanModes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{},{},{}", self.a, self.b, self.c, self.d)
    }
}

/// What a server advertised, folded over every `005` received. Accessors apply the spec's
/// defaults for parameters never advertised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Isupport {
    /// Upper-cased name -> unescaped value (empty when sent without one).
    params: BTreeMap<String, String>,
}

impl Isupport {
    /// Nothing advertised yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one token: sets, replaces or withdraws a parameter.
    pub fn apply_token(&mut self, token: &str) {
        match Token::parse(token) {
            Some(Token::Set { name, value }) => {
                self.params.insert(
                    name.to_ascii_uppercase(),
                    value.map(Cow::into_owned).unwrap_or_default(),
                );
            }
            Some(Token::Negate(name)) => {
                self.params.remove(&name.to_ascii_uppercase());
            }
            None => {}
        }
    }

    /// Applies the tokens of a `005` message (`<client> <tokens...> :text`). Returns whether the
    /// message was an `RPL_ISUPPORT`.
    pub fn apply_message(&mut self, msg: &Message<'_>) -> bool {
        if msg.command != "005" {
            return false;
        }
        // The first parameter is our nick and the last the human text; tokens sit between.
        if msg.params.len() > 2 {
            for token in &msg.params[1..msg.params.len() - 1] {
                self.apply_token(token);
            }
        }
        true
    }

    /// The unescaped value of `name`: `Some("")` when advertised without a value, `None` when not
    /// advertised (or withdrawn).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(&name.to_ascii_uppercase())
            .map(String::as_str)
    }

    /// Whether `name` is advertised.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every advertised (name, value), names upper-cased, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn number(&self, name: &str) -> Option<usize> {
        self.get(name)?.parse().ok()
    }

    /// `PREFIX`: (mode, symbol) pairs, highest first. Default `(ov)@+`; an empty value (or one
    /// that does not parse) means no prefixes.
    pub fn prefix(&self) -> Vec<(char, char)> {
        let Some(value) = self.get("PREFIX") else {
            return vec![('o', '@'), ('v', '+')];
        };
        let Some((modes, symbols)) = value.strip_prefix('(').and_then(|v| v.split_once(')')) else {
            return Vec::new();
        };
        if modes.chars().count() != symbols.chars().count() {
            return Vec::new();
        }
        modes.chars().zip(symbols.chars()).collect()
    }

    /// The mode letters of `PREFIX`, highest first (`"ov"` by default).
    pub fn prefix_modes(&self) -> String {
        self.prefix().into_iter().map(|(m, _)| m).collect()
    }

    /// The symbols of `PREFIX`, highest first (`"@+"` by default).
    pub fn prefix_symbols(&self) -> String {
        self.prefix().into_iter().map(|(_, s)| s).collect()
    }

    /// `CHANMODES`, or [`ChanModes::default`] when not advertised.
    pub fn chanmodes(&self) -> ChanModes {
        self.get("CHANMODES")
            .map(ChanModes::parse)
            .unwrap_or_default()
    }

    /// `CHANTYPES`: the channel prefixes. Default `#`; empty means no channels at all.
    pub fn chantypes(&self) -> &str {
        self.get("CHANTYPES").unwrap_or("#")
    }

    /// Whether `target` is a channel name by `CHANTYPES`.
    pub fn is_channel(&self, target: &str) -> bool {
        target
            .chars()
            .next()
            .is_some_and(|c| self.chantypes().contains(c))
    }

    /// `CASEMAPPING`, if advertised (`ascii`, `rfc1459`, `rfc8265`, ...).
    pub fn casemapping(&self) -> Option<&str> {
        self.get("CASEMAPPING").filter(|v| !v.is_empty())
    }

    /// `NICKLEN`, if advertised as a number.
    pub fn nicklen(&self) -> Option<usize> {
        self.number("NICKLEN")
    }

    /// `NETWORK`, if advertised and not empty.
    pub fn network(&self) -> Option<&str> {
        self.get("NETWORK").filter(|v| !v.is_empty())
    }

    /// `TARGMAX` as (command upper-cased, limit) pairs; `None` means no limit for that command.
    pub fn targmax(&self) -> Vec<(String, Option<usize>)> {
        let Some(value) = self.get("TARGMAX") else {
            return Vec::new();
        };
        value
            .split(',')
            .filter_map(|pair| {
                let (cmd, limit) = pair.split_once(':')?;
                (!cmd.is_empty()).then(|| (cmd.to_ascii_uppercase(), limit.parse().ok()))
            })
            .collect()
    }

    /// How many targets `command` may have: from `TARGMAX` (commands compared without case),
    /// else `MAXTARGETS` for PRIVMSG and NOTICE. `None` when there is no known limit.
    pub fn max_targets(&self, command: &str) -> Option<usize> {
        if let Some((_, limit)) = self
            .targmax()
            .into_iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(command))
        {
            return limit;
        }
        let is_message =
            command.eq_ignore_ascii_case("PRIVMSG") || command.eq_ignore_ascii_case("NOTICE");
        if is_message {
            self.number("MAXTARGETS")
        } else {
            None
        }
    }

    /// `MODES`: how many modes with an argument one MODE command may carry. Advertised without
    /// a value means no limit (`None`); never advertised means 3, the old RFC 1459 limit.
    pub fn modes(&self) -> Option<usize> {
        match self.get("MODES") {
            None => Some(3),
            Some("") => None,
            Some(v) => v.parse().ok(),
        }
    }

    /// `STATUSMSG`: the prefixes a PRIVMSG/NOTICE target may start with to reach only members
    /// of that status (`""` when not advertised).
    pub fn statusmsg(&self) -> &str {
        self.get("STATUSMSG").unwrap_or("")
    }

    /// `UTF8ONLY`: the server only accepts and sends UTF-8
    /// (<https://ircv3.net/specs/extensions/utf8-only>).
    pub fn utf8only(&self) -> bool {
        self.contains("UTF8ONLY")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_three_characters_and_controls() {
        assert_eq!(escape_value("plain"), "plain");
        assert!(matches!(escape_value("plain"), Cow::Borrowed(_)));
        assert_eq!(escape_value("Red Hispana"), "Red\\x20Hispana");
        assert_eq!(escape_value("a=b\\c"), "a\\x3Db\\x5Cc");
        assert_eq!(escape_value("tab\there"), "tab\\x09here");
        assert_eq!(escape_value("Ñandú"), "Ñandú");
    }

    #[test]
    fn unescapes_any_hex_escape() {
        assert_eq!(unescape_value("Red\\x20Hispana"), "Red Hispana");
        assert_eq!(unescape_value("a\\x3db\\x5Cc"), "a=b\\c");
        // UTF-8 bytes escaped one by one, as some servers do.
        assert_eq!(unescape_value("\\xC3\\x91and\\xC3\\xBA"), "Ñandú");
        // Not an escape: kept.
        assert_eq!(unescape_value("a\\xZZ\\x2"), "a\\xZZ\\x2");
        assert_eq!(unescape_value("\\"), "\\");
        // A lone invalid byte does not panic.
        assert_eq!(unescape_value("\\xFF"), "\u{FFFD}");
        for v in ["", "x y=z\\", "tab\t", "ñ 🎉 = \\"] {
            assert_eq!(unescape_value(&escape_value(v)), v);
        }
    }

    #[test]
    fn tokens_parse() {
        assert_eq!(
            Token::parse("NETWORK=Red\\x20Hispana"),
            Some(Token::Set {
                name: "NETWORK",
                value: Some(Cow::Borrowed("Red Hispana"))
            })
        );
        assert_eq!(
            Token::parse("SAFELIST"),
            Some(Token::Set {
                name: "SAFELIST",
                value: None
            })
        );
        assert_eq!(Token::parse("-EXCEPTS"), Some(Token::Negate("EXCEPTS")));
        assert_eq!(Token::parse(""), None);
        assert_eq!(Token::parse("-"), None);
        assert_eq!(Token::parse("=x"), None);
    }

    fn builder_with(n: usize) -> IsupportBuilder {
        let mut b = IsupportBuilder::new();
        for i in 0..n {
            b.set(&format!("T{i}"), i);
        }
        b
    }

    #[test]
    fn lines_hold_at_most_13_tokens() {
        let b = builder_with(30);
        let lines = b.lines("irc.example", "ana");
        assert_eq!(lines.len(), 3);
        let mut seen = 0;
        for line in &lines {
            let text = std::str::from_utf8(line).unwrap();
            let m = Message::parse(text).unwrap();
            assert_eq!(m.command, "005");
            assert_eq!(m.param(0), Some("ana"));
            assert_eq!(m.params.last().copied(), Some(TRAILING_TEXT));
            let tokens = m.params.len() - 2;
            assert!((1..=MAX_TOKENS_PER_LINE).contains(&tokens));
            assert!(m.params.len() <= crate::limits::MAX_PARAMS);
            seen += tokens;
        }
        assert_eq!(seen, 30);
    }

    #[test]
    fn lines_fit_512_bytes_with_long_values() {
        let mut b = IsupportBuilder::new();
        for i in 0..8 {
            b.set(&format!("LONG{i}"), "x".repeat(100));
        }
        let lines = b.lines("irc.example.org", "a-rather-long-nick");
        for line in &lines {
            assert!(line.len() <= MAX_LINE, "{}", line.len());
            assert!(line.ends_with(b" :are supported by this server\r\n"));
        }
        let tokens: usize = lines
            .iter()
            .map(|l| {
                Message::parse(std::str::from_utf8(l).unwrap())
                    .unwrap()
                    .params
                    .len()
                    - 2
            })
            .sum();
        assert_eq!(tokens, 8);
    }

    #[test]
    fn builder_replaces_duplicates_and_cleans_names() {
        let mut b = IsupportBuilder::new();
        b.set("nicklen", 30)
            .set("NICKLEN", 31)
            .negate("EXCEPTS")
            .flag("utf8 only")
            .flag("--");
        assert_eq!(
            b.tokens().collect::<Vec<_>>(),
            ["NICKLEN=31", "-EXCEPTS", "UTF8ONLY"]
        );
    }

    #[test]
    fn vendor_prefixed_names_keep_their_prefix() {
        let mut b = IsupportBuilder::new();
        b.set("soju.im/FILEHOST", "https://irc.example:8443/upload")
            .set("draft/x y", 1)
            .flag("bad prefix!/");
        assert_eq!(
            b.tokens().collect::<Vec<_>>(),
            [
                "soju.im/FILEHOST=https://irc.example:8443/upload",
                "draft/XY=1"
            ]
        );
    }

    #[test]
    fn client_reads_what_the_server_writes() {
        let mut b = IsupportBuilder::new();
        b.set("CASEMAPPING", "ascii")
            .set("CHANMODES", "beI,k,l,imnst")
            .set("CHANTYPES", "#")
            .set("NETWORK", "Red Hispana ñ")
            .set("NICKLEN", 30)
            .set("PREFIX", "(ov)@+")
            .set("STATUSMSG", "@+")
            .set("TARGMAX", "PRIVMSG:4,NOTICE:4,JOIN:,KICK:1")
            .set("MODES", 4)
            .flag("UTF8ONLY");
        let mut is = Isupport::new();
        for line in b.lines("srv", "ana") {
            let text = String::from_utf8(line).unwrap();
            assert!(is.apply_message(&Message::parse(&text).unwrap()));
        }
        assert_eq!(is.casemapping(), Some("ascii"));
        assert_eq!(
            is.chanmodes(),
            ChanModes {
                a: "beI".into(),
                b: "k".into(),
                c: "l".into(),
                d: "imnst".into()
            }
        );
        assert_eq!(is.chanmodes().to_string(), "beI,k,l,imnst");
        assert_eq!(is.chantypes(), "#");
        assert!(is.is_channel("#canal") && !is.is_channel("&local"));
        assert_eq!(is.network(), Some("Red Hispana ñ"));
        assert_eq!(is.nicklen(), Some(30));
        assert_eq!(is.prefix(), vec![('o', '@'), ('v', '+')]);
        assert_eq!(is.prefix_modes(), "ov");
        assert_eq!(is.prefix_symbols(), "@+");
        assert_eq!(is.statusmsg(), "@+");
        assert_eq!(is.max_targets("privmsg"), Some(4));
        assert_eq!(is.max_targets("JOIN"), None);
        assert_eq!(is.max_targets("KICK"), Some(1));
        assert_eq!(is.modes(), Some(4));
        assert!(is.utf8only());
        assert_eq!(is.get("nicklen"), Some("30"));
    }

    #[test]
    fn defaults_negation_and_odd_values() {
        let mut is = Isupport::new();
        assert_eq!(is.prefix(), vec![('o', '@'), ('v', '+')]);
        assert_eq!(is.chantypes(), "#");
        assert_eq!(is.chanmodes(), ChanModes::default());
        assert_eq!(is.modes(), Some(3));
        assert_eq!(is.casemapping(), None);
        assert!(!is.utf8only());

        is.apply_token("PREFIX=(qaohv)~&@%+");
        assert_eq!(is.prefix_symbols(), "~&@%+");
        is.apply_token("PREFIX=");
        assert!(is.prefix().is_empty());
        is.apply_token("PREFIX=(ov)@");
        assert!(is.prefix().is_empty(), "mismatched PREFIX is ignored");
        is.apply_token("-PREFIX");
        assert_eq!(is.prefix_modes(), "ov", "withdrawn: back to the default");

        is.apply_token("MODES");
        assert_eq!(is.modes(), None);
        is.apply_token("MAXTARGETS=5");
        assert_eq!(is.max_targets("NOTICE"), Some(5));
        assert_eq!(is.max_targets("WHOIS"), None);
        is.apply_token("NICKLEN=lots");
        assert_eq!(is.nicklen(), None);
        is.apply_token("CHANTYPES=");
        assert!(!is.is_channel("#a"));
        is.apply_token("-NEVERSENT");
        is.apply_token("");
        assert!(is.contains("modes"));
    }

    #[test]
    fn apply_message_ignores_other_commands_and_short_005s() {
        let mut is = Isupport::new();
        assert!(!is.apply_message(&Message::parse(":s 004 a b c").unwrap()));
        assert!(is.apply_message(&Message::parse(":s 005 ana :are supported").unwrap()));
        assert_eq!(is.iter().count(), 0);
    }
}
