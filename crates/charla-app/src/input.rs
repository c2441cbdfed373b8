//! The input line's own behaviour: history (Up/Down) and Tab nick completion. What a line
//! *means* (/join, /msg, ...) is decided by charla-client, not here.

/// How many sent lines the history keeps.
const HISTORY_LIMIT: usize = 200;

/// Sent lines, browsed with Up/Down like a shell.
#[derive(Debug, Default, Clone)]
pub struct History {
    lines: Vec<String>,
    /// Index into `lines` while browsing; `None` when editing a fresh line.
    cursor: Option<usize>,
    /// The unsent line the user had typed before pressing Up, given back past the newest entry.
    draft: String,
}

impl History {
    /// Records a sent line (consecutive duplicates are kept once) and stops browsing.
    pub fn push(&mut self, line: &str) {
        self.cursor = None;
        self.draft.clear();
        if line.trim().is_empty() || self.lines.last().is_some_and(|last| last == line) {
            return;
        }
        if self.lines.len() == HISTORY_LIMIT {
            self.lines.remove(0);
        }
        self.lines.push(line.to_owned());
    }

    /// Up: the previous line, remembering `current` as the draft when browsing starts.
    pub fn older(&mut self, current: &str) -> Option<&str> {
        let next = match self.cursor {
            None if self.lines.is_empty() => return None,
            None => {
                self.draft = current.to_owned();
                self.lines.len() - 1
            }
            Some(0) => 0,
            Some(i) => i - 1,
        };
        self.cursor = Some(next);
        self.lines.get(next).map(String::as_str)
    }

    /// Down: the next line, and the draft again after the newest one.
    pub fn newer(&mut self) -> Option<&str> {
        let i = self.cursor?;
        if i + 1 < self.lines.len() {
            self.cursor = Some(i + 1);
            self.lines.get(i + 1).map(String::as_str)
        } else {
            self.cursor = None;
            Some(&self.draft)
        }
    }
}

/// Tab completion state: repeated Tab cycles through the nicks matching the same prefix.
#[derive(Debug, Default, Clone)]
pub struct Completion {
    /// (text before the word, the typed prefix, index of the last candidate offered)
    cycle: Option<(String, String, usize)>,
    /// The line as this completer last left it; any other text means the user typed.
    last_result: String,
}

impl Completion {
    /// Completes the last word of `line` against `nicks` (case-insensitively). At the start of
    /// the line a nick gets ": " after it, elsewhere a space. Returns the new line, or `None`
    /// when nothing matches.
    pub fn complete(&mut self, line: &str, nicks: &[String]) -> Option<String> {
        if self.cycle.is_none() || line != self.last_result {
            let start = line.rfind(' ').map_or(0, |i| i + 1);
            let prefix = line.get(start..)?.to_owned();
            if prefix.is_empty() {
                return None;
            }
            self.cycle = Some((line.get(..start)?.to_owned(), prefix, usize::MAX));
        }
        let (before, prefix, last) = self.cycle.as_mut()?;
        let folded = prefix.to_lowercase();
        let mut matches: Vec<&String> = nicks
            .iter()
            .filter(|nick| nick.to_lowercase().starts_with(&folded))
            .collect();
        if matches.is_empty() {
            self.cycle = None;
            return None;
        }
        matches.sort_by_key(|nick| nick.to_lowercase());
        let index = last.wrapping_add(1) % matches.len();
        *last = index;
        let suffix = if before.is_empty() { ": " } else { " " };
        let result = format!("{before}{}{suffix}", matches.get(index)?);
        self.last_result.clone_from(&result);
        Some(result)
    }

    /// Forgets the cycle (the user typed something else).
    pub fn reset(&mut self) {
        self.cycle = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_browses_back_and_returns_the_draft() {
        let mut history = History::default();
        history.push("uno");
        history.push("dos");
        history.push("dos");
        assert_eq!(history.older("borrador"), Some("dos"));
        assert_eq!(history.older(""), Some("uno"));
        assert_eq!(history.older(""), Some("uno"), "stays at the oldest");
        assert_eq!(history.newer(), Some("dos"));
        assert_eq!(history.newer(), Some("borrador"));
        assert_eq!(history.newer(), None);
    }

    #[test]
    fn empty_history_gives_nothing() {
        let mut history = History::default();
        assert_eq!(history.older("x"), None);
        assert_eq!(history.newer(), None);
    }

    #[test]
    fn tab_completes_and_cycles_case_insensitively() {
        let nicks: Vec<String> = ["Ñandú", "ñoño", "alice"].map(String::from).into();
        let mut completion = Completion::default();
        let first = completion.complete("ñ", &nicks);
        assert_eq!(first.as_deref(), Some("Ñandú: "));
        let second = completion.complete("Ñandú: ", &nicks);
        assert_eq!(second.as_deref(), Some("ñoño: "));
        let third = completion.complete("ñoño: ", &nicks);
        assert_eq!(third.as_deref(), Some("Ñandú: "));
        completion.reset();
        assert_eq!(
            completion.complete("hola al", &nicks).as_deref(),
            Some("hola alice ")
        );
        assert_eq!(completion.complete("zz", &nicks), None);
    }
}
