//! Mode strings: `MODE #canal +ov-k ana bob clave` split into single changes, and changes packed
//! back into MODE lines (<https://modern.ircdocs.horse/#mode-message>).
//!
//! Which modes take an argument depends on their type, as advertised in `CHANMODES` and
//! `PREFIX` (<https://modern.ircdocs.horse/#chanmodes-parameter>):
//!
//! | type | example | argument when set | when unset |
//! |------|---------|-------------------|------------|
//! | A (list) | `b e I` | yes | yes |
//! | B | `k` | yes | yes |
//! | C | `l` | yes | no |
//! | D (flag) | `imnst` | no | no |
//! | prefix | `o v` | yes | yes |
//!
//! A type A mode with no argument left is not an error: it asks for the list (`MODE #c +b`),
//! and is reported in [`ParsedModes::list_queries`]. User modes are all type D: parse them with
//! [`ModeTypes::user`].

use crate::isupport::ChanModes;

/// How a mode letter takes its argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeKind {
    /// Type A: a list (bans, exceptions, invite exceptions).
    List,
    /// Type B: always an argument (the key).
    Always,
    /// Type C: an argument only when set (the limit).
    WhenSet,
    /// Type D: never an argument.
    Flag,
    /// A membership prefix mode (`o`, `v`): always a nick.
    Prefix,
}

impl ModeKind {
    /// Whether a change of this kind carries an argument when adding (`add`) or removing.
    pub fn takes_arg(self, add: bool) -> bool {
        match self {
            ModeKind::List | ModeKind::Always | ModeKind::Prefix => true,
            ModeKind::WhenSet => add,
            ModeKind::Flag => false,
        }
    }
}

/// The known modes and their kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModeTypes {
    /// `CHANMODES` A, B, C, D.
    pub chanmodes: ChanModes,
    /// The mode letters of `PREFIX` (`"ov"`).
    pub prefix_modes: String,
}

impl ModeTypes {
    /// Channel mode types from `CHANMODES` and the `PREFIX` mode letters.
    pub fn channel(chanmodes: ChanModes, prefix_modes: &str) -> Self {
        ModeTypes {
            chanmodes,
            prefix_modes: prefix_modes.to_owned(),
        }
    }

    /// User modes: every letter in `modes` is a flag.
    pub fn user(modes: &str) -> Self {
        ModeTypes {
            chanmodes: ChanModes {
                a: String::new(),
                b: String::new(),
                c: String::new(),
                d: modes.to_owned(),
            },
            prefix_modes: String::new(),
        }
    }

    /// The kind of `mode`, or `None` if it is not known.
    pub fn kind(&self, mode: char) -> Option<ModeKind> {
        let c = &self.chanmodes;
        if self.prefix_modes.contains(mode) {
            Some(ModeKind::Prefix)
        } else if c.a.contains(mode) {
            Some(ModeKind::List)
        } else if c.b.contains(mode) {
            Some(ModeKind::Always)
        } else if c.c.contains(mode) {
            Some(ModeKind::WhenSet)
        } else if c.d.contains(mode) {
            Some(ModeKind::Flag)
        } else {
            None
        }
    }
}

/// One mode change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeChange<'a> {
    /// `+` (true) or `-` (false).
    pub add: bool,
    /// The mode letter.
    pub mode: char,
    /// Its argument, for modes that take one.
    pub arg: Option<&'a str>,
}

impl<'a> ModeChange<'a> {
    /// A change with no argument.
    pub fn flag(add: bool, mode: char) -> Self {
        ModeChange {
            add,
            mode,
            arg: None,
        }
    }

    /// A change with an argument.
    pub fn with_arg(add: bool, mode: char, arg: &'a str) -> Self {
        ModeChange {
            add,
            mode,
            arg: Some(arg),
        }
    }
}

/// What was wrong with part of a mode string; the rest is still applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    /// The letter is not a known mode (the server answers `ERR_UNKNOWNMODE`, 472).
    #[error("unknown mode {mode:?}")]
    Unknown {
        /// Set or unset.
        add: bool,
        /// The letter.
        mode: char,
    },
    /// The mode needs an argument and none was left (the server ignores the change, as
    /// established servers do, or answers `ERR_NEEDMOREPARAMS`).
    #[error("mode {mode:?} needs an argument")]
    MissingArgument {
        /// Set or unset.
        add: bool,
        /// The letter.
        mode: char,
    },
}

/// The result of [`parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedModes<'a> {
    /// The complete changes, in order.
    pub changes: Vec<ModeChange<'a>>,
    /// List modes given without an argument: requests to see that list.
    pub list_queries: Vec<char>,
    /// Unknown letters and missing arguments, in order.
    pub errors: Vec<ModeError>,
    /// Arguments left over after every mode took its own (ignored).
    pub unused_args: Vec<&'a str>,
}

/// Splits a mode string and its arguments into changes. A mode string may switch sign several
/// times (`+o-v+l`); it starts as `+` when it has no sign.
pub fn parse<'a>(modestring: &str, args: &[&'a str], types: &ModeTypes) -> ParsedModes<'a> {
    let mut out = ParsedModes::default();
    let mut args = args.iter().copied();
    let mut add = true;
    for mode in modestring.chars() {
        match mode {
            '+' => add = true,
            '-' => add = false,
            _ => match types.kind(mode) {
                None => out.errors.push(ModeError::Unknown { add, mode }),
                Some(kind) if kind.takes_arg(add) => match args.next() {
                    Some(arg) => out.changes.push(ModeChange::with_arg(add, mode, arg)),
                    None if kind == ModeKind::List => out.list_queries.push(mode),
                    None => out.errors.push(ModeError::MissingArgument { add, mode }),
                },
                Some(_) => out.changes.push(ModeChange::flag(add, mode)),
            },
        }
    }
    out.unused_args = args.collect();
    out
}

/// Parses the parameters of a MODE message after the target: the mode string, then its
/// arguments.
pub fn parse_params<'a>(params: &[&'a str], types: &ModeTypes) -> ParsedModes<'a> {
    match params.split_first() {
        Some((modestring, args)) => parse(modestring, args, types),
        None => ParsedModes::default(),
    }
}

/// One MODE line's worth of changes: the mode string and its arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModeLine {
    /// The mode string, e.g. `+ov-k`.
    pub modes: String,
    /// The arguments, in the order of the letters that take them.
    pub args: Vec<String>,
}

impl ModeLine {
    /// The mode string followed by the arguments, as MODE parameters after the target.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.modes.as_str()).chain(self.args.iter().map(String::as_str))
    }

    /// Bytes this takes in a line: the mode string and each argument with a space before it.
    fn len(&self) -> usize {
        self.modes.len() + self.args.iter().map(|a| a.len() + 1).sum::<usize>()
    }
}

/// Packs changes into as few MODE lines as possible, with at most `max_args` changes that carry
/// an argument per line (ISUPPORT `MODES`; `None` for no limit) and at most `max_bytes` bytes of
/// mode string and arguments per line (what is left of 510 after `:source MODE target `).
/// A sign is written only when it changes. A change whose argument holds a space or is empty
/// (it could not be sent as a middle parameter) is dropped.
pub fn pack(
    changes: &[ModeChange<'_>],
    max_args: Option<usize>,
    max_bytes: usize,
) -> Vec<ModeLine> {
    let max_args = max_args.unwrap_or(usize::MAX).max(1);
    let mut lines = Vec::new();
    let mut line = ModeLine::default();
    let mut sign = None;
    let mut args_in_line = 0;
    for change in changes {
        if change
            .arg
            .is_some_and(|a| a.is_empty() || a.contains(' ') || a.starts_with(':'))
        {
            continue;
        }
        let sign_cost = usize::from(sign != Some(change.add));
        let arg_cost = change.arg.map_or(0, |a| a.len() + 1);
        let cost = sign_cost + change.mode.len_utf8() + arg_cost;
        let full_args = change.arg.is_some() && args_in_line == max_args;
        if !line.modes.is_empty() && (full_args || line.len() + cost > max_bytes) {
            lines.push(std::mem::take(&mut line));
            sign = None;
            args_in_line = 0;
        }
        if sign != Some(change.add) {
            line.modes.push(if change.add { '+' } else { '-' });
            sign = Some(change.add);
        }
        line.modes.push(change.mode);
        if let Some(arg) = change.arg {
            line.args.push(arg.to_owned());
            args_in_line += 1;
        }
    }
    if !line.modes.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> ModeTypes {
        ModeTypes::channel(ChanModes::parse("beI,k,l,imnst"), "ov")
    }

    #[test]
    fn kinds_follow_chanmodes_and_prefix() {
        let t = types();
        let want = [
            ('b', Some(ModeKind::List)),
            ('k', Some(ModeKind::Always)),
            ('l', Some(ModeKind::WhenSet)),
            ('m', Some(ModeKind::Flag)),
            ('o', Some(ModeKind::Prefix)),
            ('z', None),
        ];
        for (mode, kind) in want {
            assert_eq!(t.kind(mode), kind, "{mode}");
        }
    }

    #[test]
    fn table_of_mode_strings() {
        let t = types();
        let w = ModeChange::with_arg;
        let f = ModeChange::flag;
        let cases: &[(&str, &[&str], &[ModeChange<'_>])] = &[
            ("+nt", &[], &[f(true, 'n'), f(true, 't')]),
            ("nt", &[], &[f(true, 'n'), f(true, 't')]),
            (
                "+o-v",
                &["ana", "bob"],
                &[w(true, 'o', "ana"), w(false, 'v', "bob")],
            ),
            (
                "+kl",
                &["clave", "10"],
                &[w(true, 'k', "clave"), w(true, 'l', "10")],
            ),
            ("-kl", &["clave"], &[w(false, 'k', "clave"), f(false, 'l')]),
            (
                "+b-b",
                &["*!*@a", "*!*@b"],
                &[w(true, 'b', "*!*@a"), w(false, 'b', "*!*@b")],
            ),
            (
                "+ov-ovn+l",
                &["Ñandú", "José", "ana", "bob", "5"],
                &[
                    w(true, 'o', "Ñandú"),
                    w(true, 'v', "José"),
                    w(false, 'o', "ana"),
                    w(false, 'v', "bob"),
                    f(false, 'n'),
                    w(true, 'l', "5"),
                ],
            ),
            ("", &[], &[]),
            ("+-+", &[], &[]),
        ];
        for (modes, args, want) in cases {
            let got = parse(modes, args, &t);
            assert_eq!(got.changes, *want, "{modes} {args:?}");
            assert!(got.errors.is_empty(), "{modes}: {:?}", got.errors);
        }
    }

    #[test]
    fn errors_list_queries_and_leftovers() {
        let t = types();
        let got = parse("+zo-k+b", &["ana"], &t);
        assert_eq!(got.changes, [ModeChange::with_arg(true, 'o', "ana")]);
        assert_eq!(
            got.errors,
            [
                ModeError::Unknown {
                    add: true,
                    mode: 'z'
                },
                ModeError::MissingArgument {
                    add: false,
                    mode: 'k'
                },
            ]
        );
        assert_eq!(got.list_queries, ['b']);

        let got = parse("+m", &["extra", "more"], &t);
        assert_eq!(got.changes, [ModeChange::flag(true, 'm')]);
        assert_eq!(got.unused_args, ["extra", "more"]);

        let got = parse_params(&["b"], &t);
        assert_eq!(got.list_queries, ['b']);
        assert!(got.changes.is_empty() && got.errors.is_empty());
        assert_eq!(parse_params(&[], &t), ParsedModes::default());
    }

    #[test]
    fn user_modes_are_flags() {
        let t = ModeTypes::user("iow");
        let got = parse("+iw-o", &["ignored"], &t);
        assert_eq!(
            got.changes,
            [
                ModeChange::flag(true, 'i'),
                ModeChange::flag(true, 'w'),
                ModeChange::flag(false, 'o')
            ]
        );
        assert_eq!(got.unused_args, ["ignored"]);
        assert_eq!(
            parse("+x", &[], &t).errors,
            [ModeError::Unknown {
                add: true,
                mode: 'x'
            }]
        );
    }

    #[test]
    fn packs_within_the_modes_limit() {
        let nicks = ["a", "b", "c", "d", "e"];
        let changes: Vec<_> = nicks
            .iter()
            .map(|n| ModeChange::with_arg(true, 'o', n))
            .chain([ModeChange::flag(false, 'm'), ModeChange::flag(true, 't')])
            .collect();
        let lines = pack(&changes, Some(4), 400);
        assert_eq!(
            lines,
            [
                ModeLine {
                    modes: "+oooo".into(),
                    args: vec!["a".into(), "b".into(), "c".into(), "d".into()]
                },
                ModeLine {
                    modes: "+o-m+t".into(),
                    args: vec!["e".into()]
                },
            ]
        );
        assert_eq!(lines[1].params().collect::<Vec<_>>(), ["+o-m+t", "e"]);
    }

    #[test]
    fn packs_within_the_byte_budget_and_round_trips() {
        let masks: Vec<String> = (0..40)
            .map(|i| format!("*!*@host-{i:02}.example.org"))
            .collect();
        let changes: Vec<_> = masks
            .iter()
            .map(|m| ModeChange::with_arg(true, 'b', m))
            .collect();
        let budget = 200;
        let lines = pack(&changes, None, budget);
        assert!(lines.len() > 1);
        let t = types();
        let mut back = Vec::new();
        for line in &lines {
            assert!(line.len() <= budget, "{}", line.len());
            let params: Vec<&str> = line.params().collect();
            back.extend(parse_params(&params, &t).changes.into_iter().map(|c| c.arg));
        }
        let want: Vec<_> = masks.iter().map(|m| Some(m.as_str())).collect();
        assert_eq!(back, want);
    }

    #[test]
    fn pack_drops_unsendable_arguments() {
        let changes = [
            ModeChange::with_arg(true, 'k', "has space"),
            ModeChange::with_arg(true, 'k', ""),
            ModeChange::with_arg(true, 'l', "9"),
        ];
        let lines = pack(&changes, Some(0), 100);
        assert_eq!(
            lines,
            [ModeLine {
                modes: "+l".into(),
                args: vec!["9".into()]
            }]
        );
        assert!(pack(&[], Some(3), 100).is_empty());
    }
}
