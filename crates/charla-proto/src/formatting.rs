//! IRC text formatting, as <https://modern.ircdocs.horse/formatting> describes it: the
//! control characters for bold, italics, underline, strikethrough, monospace, reverse, reset,
//! and colours (`\x03` with the 16 + 83 numbered colours and 99 for "default", `\x04` with
//! hexadecimal RGB).
//!
//! [`parse`] turns a message's text into plain text and the styled runs that cover it, for a
//! client to draw; [`strip`] keeps only the plain text (for notifications, logs, search).
//! Both drop every other control character (CTCP's `\x01`, bells, C1 codes) so that nothing
//! unprintable reaches the screen, and keep line breaks and tabs. Neither can fail or panic:
//! malformed codes (`\x03` without digits, `\x0399,` with nothing after the comma, `\x04`
//! with too few hex digits) are read the way the specification's examples read them.

use std::borrow::Cow;
use std::ops::Range;

/// Bold (a toggle).
pub const BOLD: char = '\x02';
/// Italics (a toggle).
pub const ITALICS: char = '\x1D';
/// Underline (a toggle).
pub const UNDERLINE: char = '\x1F';
/// Strikethrough (a toggle).
pub const STRIKETHROUGH: char = '\x1E';
/// Monospace (a toggle).
pub const MONOSPACE: char = '\x11';
/// Colour: `\x03<fg>[,<bg>]` with one or two digits each; alone, back to the default colours.
pub const COLOUR: char = '\x03';
/// Hexadecimal colour: `\x04RRGGBB[,RRGGBB]`; alone, back to the default colours.
pub const HEX_COLOUR: char = '\x04';
/// Swap foreground and background (a toggle).
pub const REVERSE: char = '\x16';
/// Back to plain text.
pub const RESET: char = '\x0F';

/// The RGB values of colours 16 to 98 ("Colors 16-98" in the specification), in order.
const EXTENDED: [u32; 83] = [
    0x470000, 0x472100, 0x474700, 0x324700, 0x004700, 0x00472c, 0x004747, 0x002747, 0x000047,
    0x2e0047, 0x470047, 0x47002a, 0x740000, 0x743a00, 0x747400, 0x517400, 0x007400, 0x007449,
    0x007474, 0x004074, 0x000074, 0x4b0074, 0x740074, 0x740045, 0xb50000, 0xb56300, 0xb5b500,
    0x7db500, 0x00b500, 0x00b571, 0x00b5b5, 0x0063b5, 0x0000b5, 0x7500b5, 0xb500b5, 0xb5006b,
    0xff0000, 0xff8c00, 0xffff00, 0xb2ff00, 0x00ff00, 0x00ffa0, 0x00ffff, 0x008cff, 0x0000ff,
    0xa500ff, 0xff00ff, 0xff0098, 0xff5959, 0xffb459, 0xffff71, 0xcfff60, 0x6fff6f, 0x65ffc9,
    0x6dffff, 0x59b4ff, 0x5959ff, 0xc459ff, 0xff66ff, 0xff59bc, 0xff9c9c, 0xffd39c, 0xffff9c,
    0xe2ff9c, 0x9cff9c, 0x9cffdb, 0x9cffff, 0x9cd3ff, 0x9c9cff, 0xdc9cff, 0xff9cff, 0xff94d3,
    0x000000, 0x131313, 0x282828, 0x363636, 0x4d4d4d, 0x656565, 0x818181, 0x9f9f9f, 0xbcbcbc,
    0xe2e2e2, 0xffffff,
];

/// The usual RGB values of colours 0 to 15 (white, black, blue, green, red, brown, magenta,
/// orange, yellow, light green, cyan, light cyan, light blue, pink, grey, light grey). The
/// specification leaves their exact shades to clients; these are mIRC's.
const BASIC: [u32; 16] = [
    0xffffff, 0x000000, 0x00007f, 0x009300, 0xff0000, 0x7f0000, 0x9c009c, 0xfc7f00, 0xffff00,
    0x00fc00, 0x009393, 0x00ffff, 0x0000fc, 0xff00ff, 0x7f7f7f, 0xd2d2d2,
];

/// A colour a message asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Colour {
    /// A numbered colour, 0 to 98 (99 means "default" and is no colour at all).
    Code(u8),
    /// A colour given in hexadecimal after `\x04`.
    Rgb([u8; 3]),
}

impl Colour {
    /// Its red, green and blue values.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Self::Rgb(rgb) => rgb,
            Self::Code(code) => {
                let code = usize::from(code);
                let value = BASIC
                    .get(code)
                    .or_else(|| EXTENDED.get(code.wrapping_sub(BASIC.len())))
                    .copied()
                    // Unreachable through `parse` (codes stop at 98); black is harmless.
                    .unwrap_or(0);
                let [_, r, g, b] = value.to_be_bytes();
                [r, g, b]
            }
        }
    }
}

/// How a run of text looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Style {
    /// Bold.
    pub bold: bool,
    /// Italics.
    pub italics: bool,
    /// Underlined.
    pub underline: bool,
    /// Struck through.
    pub strikethrough: bool,
    /// In a fixed-width font.
    pub monospace: bool,
    /// Foreground and background swapped (the swap is the drawer's: it knows the defaults).
    pub reverse: bool,
    /// The text's colour; `None`: the default.
    pub foreground: Option<Colour>,
    /// The background's colour; `None`: the default.
    pub background: Option<Colour>,
}

impl Style {
    /// Whether this is plain text.
    pub fn is_plain(&self) -> bool {
        *self == Self::default()
    }
}

/// A message's text with its formatting read: the plain text, and the styled runs that cover
/// it, in order, without gaps, none empty, no two neighbours alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Formatted {
    /// The text without any control character.
    pub text: String,
    /// Byte ranges of [`Self::text`] and their style.
    pub runs: Vec<(Range<usize>, Style)>,
}

impl Formatted {
    /// The runs that overlap `range` (byte offsets of [`Self::text`]), cut to it.
    pub fn runs_in(&self, range: Range<usize>) -> impl Iterator<Item = (Range<usize>, Style)> {
        self.runs.iter().filter_map(move |(run, style)| {
            let start = run.start.max(range.start);
            let end = run.end.min(range.end);
            (start < end).then_some((start..end, *style))
        })
    }
}

/// Whether `c` is removed from text: a control character other than a line break or a tab.
fn is_hidden(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Reads formatting codes out of `input`.
pub fn parse(input: &str) -> Formatted {
    let mut out = Formatted {
        text: String::with_capacity(input.len()),
        runs: Vec::new(),
    };
    let mut style = Style::default();
    let mut rest = input;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            BOLD => style.bold ^= true,
            ITALICS => style.italics ^= true,
            UNDERLINE => style.underline ^= true,
            STRIKETHROUGH => style.strikethrough ^= true,
            MONOSPACE => style.monospace ^= true,
            REVERSE => style.reverse ^= true,
            RESET => style = Style::default(),
            COLOUR => rest = read_colours(rest, &mut style, numbered),
            HEX_COLOUR => rest = read_colours(rest, &mut style, hexadecimal),
            c if is_hidden(c) => {}
            c => {
                let start = out.text.len();
                out.text.push(c);
                let end = out.text.len();
                match out.runs.last_mut() {
                    Some((run, last)) if *last == style && run.end == start => run.end = end,
                    _ => out.runs.push((start..end, style)),
                }
            }
        }
    }
    out
}

/// The plain text of `input`: borrowed when it holds no control character to remove.
pub fn strip(input: &str) -> Cow<'_, str> {
    if input.chars().any(is_hidden) {
        Cow::Owned(parse(input).text)
    } else {
        Cow::Borrowed(input)
    }
}

/// After a colour code: reads `<fg>[,<bg>]` with `read` from the start of `rest` into
/// `style`, and returns what follows. Without a foreground, both colours go back to the
/// default and nothing is read; a comma not followed by a background stays text.
fn read_colours<'a>(rest: &'a str, style: &mut Style, read: fn(&str) -> Option<Read>) -> &'a str {
    let Some((foreground, used)) = read(rest) else {
        style.foreground = None;
        style.background = None;
        return rest;
    };
    style.foreground = foreground;
    let rest = &rest[used..];
    match rest
        .strip_prefix(',')
        .and_then(|after| Some((after, read(after)?)))
    {
        Some((after, (background, used))) => {
            style.background = background;
            &after[used..]
        }
        None => rest,
    }
}

/// A colour read from the text (`None`: the default colour), and the bytes it took.
type Read = (Option<Colour>, usize);

/// One or two decimal digits: a numbered colour (99: the default), and the bytes read.
fn numbered(text: &str) -> Option<Read> {
    let digits = text
        .bytes()
        .take(2)
        .take_while(u8::is_ascii_digit)
        .fold((0u8, 0usize), |(value, n), d| {
            (value * 10 + (d - b'0'), n + 1)
        });
    match digits {
        (_, 0) => None,
        (99, n) => Some((None, n)),
        (code, n) => Some((Some(Colour::Code(code)), n)),
    }
}

/// Six hexadecimal digits: an RGB colour, and the bytes read.
fn hexadecimal(text: &str) -> Option<Read> {
    let digits = text.get(..6)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let value = u32::from_str_radix(digits, 16).ok()?;
    let [_, r, g, b] = value.to_be_bytes();
    Some((Some(Colour::Rgb([r, g, b])), 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain text and, for each run, its text and style.
    fn runs(input: &str) -> (String, Vec<(String, Style)>) {
        let f = parse(input);
        let runs = f
            .runs
            .iter()
            .map(|(r, s)| (f.text[r.clone()].to_owned(), *s))
            .collect();
        (f.text, runs)
    }

    fn plain() -> Style {
        Style::default()
    }
    fn bold() -> Style {
        Style {
            bold: true,
            ..Style::default()
        }
    }
    fn fg(code: u8) -> Style {
        Style {
            foreground: Some(Colour::Code(code)),
            ..Style::default()
        }
    }
    fn fg_bg(f: u8, b: u8) -> Style {
        Style {
            background: Some(Colour::Code(b)),
            ..fg(f)
        }
    }

    #[test]
    fn codes_are_read_and_removed() {
        let italic = Style {
            italics: true,
            ..Style::default()
        };
        // Input, plain text, and the runs: their text and style.
        type Case = (&'static str, &'static str, Vec<(&'static str, Style)>);
        let cases: Vec<Case> = vec![
            ("hola", "hola", vec![("hola", plain())]),
            ("", "", vec![]),
            (
                "\x02negrita\x02 no",
                "negrita no",
                vec![("negrita", bold()), (" no", plain())],
            ),
            ("\x1Dcursiva", "cursiva", vec![("cursiva", italic)]),
            (
                "\x1Fsub\x1Etachado\x11mono",
                "subtachadomono",
                vec![
                    (
                        "sub",
                        Style {
                            underline: true,
                            ..Style::default()
                        },
                    ),
                    (
                        "tachado",
                        Style {
                            underline: true,
                            strikethrough: true,
                            ..Style::default()
                        },
                    ),
                    (
                        "mono",
                        Style {
                            underline: true,
                            strikethrough: true,
                            monospace: true,
                            ..Style::default()
                        },
                    ),
                ],
            ),
            (
                "\x16al revés\x16",
                "al revés",
                vec![(
                    "al revés",
                    Style {
                        reverse: true,
                        ..Style::default()
                    },
                )],
            ),
            // Reset ends everything, colours too.
            (
                "\x02\x0304a\x0Fb",
                "ab",
                vec![
                    (
                        "a",
                        Style {
                            bold: true,
                            ..fg(4)
                        },
                    ),
                    ("b", plain()),
                ],
            ),
            // Colours: one or two digits, then an optional background.
            ("\x034rojo", "rojo", vec![("rojo", fg(4))]),
            ("\x0304rojo", "rojo", vec![("rojo", fg(4))]),
            (
                "\x0304,12sobre azul",
                "sobre azul",
                vec![("sobre azul", fg_bg(4, 12))],
            ),
            ("\x034,2x", "x", vec![("x", fg_bg(4, 2))]),
            // Only two digits are a colour: the third is text.
            ("\x031234", "34", vec![("34", fg(12))]),
            ("\x0352extendido", "extendido", vec![("extendido", fg(52))]),
            // A lone \x03 goes back to the default colours, keeping the rest of the style.
            (
                "\x0304,02a\x03b",
                "ab",
                vec![("a", fg_bg(4, 2)), ("b", plain())],
            ),
            ("\x03", "", vec![]),
            ("\x03,05coma", ",05coma", vec![(",05coma", plain())]),
            // 99 is the default colour; a comma without digits after it is text.
            ("\x0399,a", ",a", vec![(",a", plain())]),
            ("\x0399,", ",", vec![(",", plain())]),
            ("\x0304,", ",", vec![(",", fg(4))]),
            ("\x0304,99x", "x", vec![("x", fg(4))]),
            // A new foreground keeps the background.
            (
                "\x0304,02a\x0305b",
                "ab",
                vec![("a", fg_bg(4, 2)), ("b", fg_bg(5, 2))],
            ),
            // Hex colours.
            (
                "\x04FF8800naranja",
                "naranja",
                vec![(
                    "naranja",
                    Style {
                        foreground: Some(Colour::Rgb([0xff, 0x88, 0x00])),
                        ..Style::default()
                    },
                )],
            ),
            (
                "\x04ff8800,000000x",
                "x",
                vec![(
                    "x",
                    Style {
                        foreground: Some(Colour::Rgb([0xff, 0x88, 0x00])),
                        background: Some(Colour::Rgb([0, 0, 0])),
                        ..Style::default()
                    },
                )],
            ),
            // Too few hex digits: a reset of the colours, and the digits stay text.
            ("\x04FF88", "FF88", vec![("FF88", plain())]),
            ("\x04FF88ñandú", "FF88ñandú", vec![("FF88ñandú", plain())]),
            // Other control characters are dropped; line breaks and tabs stay.
            (
                "\x01ACTION baila\x01\x07",
                "ACTION baila",
                vec![("ACTION baila", plain())],
            ),
            (
                "a\nb\tc\u{85}d\x7f",
                "a\nb\tcd",
                vec![("a\nb\tcd", plain())],
            ),
            // Spanish and emoji right after codes.
            (
                "\x02¿Qué tal?\x02 \x0303ñandú 🎉",
                "¿Qué tal? ñandú 🎉",
                vec![("¿Qué tal?", bold()), (" ", plain()), ("ñandú 🎉", fg(3))],
            ),
            // Toggling twice is no change: one run.
            ("a\x02\x02b", "ab", vec![("ab", plain())]),
        ];
        for (input, text, want) in cases {
            let want: Vec<(String, Style)> =
                want.into_iter().map(|(t, s)| (t.to_owned(), s)).collect();
            assert_eq!(runs(input), (text.to_owned(), want), "input {input:?}");
            assert_eq!(strip(input), text, "strip {input:?}");
        }
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(strip("¿sin formato? ñ"), Cow::Borrowed(_)));
        assert!(matches!(strip("\x02con\x02"), Cow::Owned(_)));
    }

    #[test]
    fn colours_have_their_specified_values() {
        assert_eq!(Colour::Code(0).rgb(), [0xff, 0xff, 0xff]);
        assert_eq!(Colour::Code(4).rgb(), [0xff, 0, 0]);
        assert_eq!(Colour::Code(16).rgb(), [0x47, 0, 0]);
        assert_eq!(Colour::Code(52).rgb(), [0xff, 0, 0]);
        assert_eq!(Colour::Code(98).rgb(), [0xff, 0xff, 0xff]);
        assert_eq!(Colour::Rgb([1, 2, 3]).rgb(), [1, 2, 3]);
        // Every code `parse` can produce has a value of its own.
        for code in 0..=98 {
            let _ = Colour::Code(code).rgb();
        }
    }

    #[test]
    fn runs_in_cuts_to_a_range() {
        let f = parse("ab\x02cd\x02ef");
        let cut: Vec<_> = f.runs_in(1..5).collect();
        assert_eq!(cut, vec![(1..2, plain()), (2..4, bold()), (4..5, plain())]);
    }

    proptest::proptest! {
        /// Any text, however malformed: no panic, no control character left but line breaks
        /// and tabs, and the runs cover the text exactly.
        #[test]
        fn any_text_parses_to_covering_runs(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![2u8, 3, 4, 0x0f, 0x11, 0x16, 0x1d, 0x1e, 0x1f, b',', b'9', b'0', b'f', 1, 0x7f]),
                    proptest::num::u8::ANY,
                ],
                0..64,
            )
        ) {
            let input = String::from_utf8_lossy(&bytes);
            let f = parse(&input);
            proptest::prop_assert!(!f.text.chars().any(is_hidden));
            let mut at = 0;
            for (range, _) in &f.runs {
                proptest::prop_assert_eq!(range.start, at);
                proptest::prop_assert!(range.end > range.start);
                proptest::prop_assert!(f.text.is_char_boundary(range.end));
                at = range.end;
            }
            proptest::prop_assert_eq!(at, f.text.len());
            proptest::prop_assert_eq!(strip(&input), f.text.as_str());
        }
    }
}
