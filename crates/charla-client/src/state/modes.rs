//! MODE lines: splitting their parameters into changes (ISUPPORT says which modes take an
//! argument), and applying them to a channel's settings, our user modes and members' prefixes.

use super::{Buffer, Isupport};

/// One change from a MODE line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange {
    /// `+` (true) or `-`.
    pub set: bool,
    /// The mode letter.
    pub mode: char,
    /// Its argument, if it takes one.
    pub arg: Option<String>,
}

/// Splits MODE parameters (`+ov-k`, `ana`, `bob`, `key`) into changes, using ISUPPORT to know
/// which modes take an argument (<https://modern.ircdocs.horse/#mode-message>).
pub fn parse_mode_changes(params: &[String], isupport: &Isupport) -> Vec<ModeChange> {
    let mut out = Vec::new();
    let Some((modes, args)) = params.split_first() else {
        return out;
    };
    let mut args = args.iter();
    let mut set = true;
    for c in modes.chars() {
        match c {
            '+' => set = true,
            '-' => set = false,
            mode => {
                let takes_arg = isupport.prefix.iter().any(|(m, _)| *m == mode)
                    || isupport.chanmodes[0].contains(mode)
                    || isupport.chanmodes[1].contains(mode)
                    || (set && isupport.chanmodes[2].contains(mode));
                let arg = if takes_arg {
                    args.next().cloned()
                } else {
                    None
                };
                out.push(ModeChange { set, mode, arg });
            }
        }
    }
    out
}

/// Applies channel-setting changes (types B, C and D of CHANMODES; not lists, not prefixes) to
/// a buffer's known modes.
pub(super) fn apply_channel_modes(
    buffer: &mut Buffer,
    changes: &[ModeChange],
    isupport: &Isupport,
) {
    let Some(modes) = &mut buffer.modes else {
        return;
    };
    for change in changes {
        let is_setting = !isupport.chanmodes[0].contains(change.mode)
            && !isupport.prefix.iter().any(|(m, _)| *m == change.mode);
        if !is_setting {
            continue;
        }
        if change.set {
            if !modes.contains(change.mode) {
                modes.push(change.mode);
            }
        } else {
            modes.retain(|c| c != change.mode);
        }
    }
    let mut letters: Vec<char> = modes.chars().filter(|c| *c != '+').collect();
    letters.sort_unstable();
    *modes = std::iter::once('+').chain(letters).collect();
}

/// Applies a user mode string (`+iw-x`) to our modes (`+i`), sorted.
pub(super) fn apply_user_modes(current: &str, change: &str) -> String {
    let mut letters: Vec<char> = current.chars().filter(|c| *c != '+').collect();
    let mut set = true;
    for c in change.chars() {
        match c {
            '+' => set = true,
            '-' => set = false,
            m if set => {
                if !letters.contains(&m) {
                    letters.push(m);
                }
            }
            m => letters.retain(|x| *x != m),
        }
    }
    letters.sort_unstable();
    if letters.is_empty() {
        String::new()
    } else {
        std::iter::once('+').chain(letters).collect()
    }
}

/// Orders prefix symbols as PREFIX does (highest first).
pub(super) fn sort_prefixes(prefixes: &str, order: &[(char, char)]) -> String {
    let mut chars: Vec<char> = prefixes.chars().collect();
    chars.sort_by_key(|c| order.iter().position(|(_, s)| s == c).unwrap_or(usize::MAX));
    chars.dedup();
    chars.into_iter().collect()
}
