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
    /// The cycle in progress, if the line is still the one this completer produced.
    cycle: Option<Cycle>,
}

#[derive(Debug, Clone)]
struct Cycle {
    /// Text before the completed word.
    before: String,
    /// The candidates, in the order offered.
    candidates: Vec<String>,
    /// Index of the candidate offered last.
    index: usize,
    /// The line as this completer left it; any other text means the user typed.
    result: String,
}

impl Completion {
    /// Completes the last word of `line`. `candidates` gives the nicks for a prefix (the client
    /// core's `Buffer::complete_nick`: recent speakers first). At the start of the line a nick
    /// gets ": " after it, elsewhere a space. Returns the new line, or `None` when nothing
    /// matches.
    pub fn complete(
        &mut self,
        line: &str,
        candidates: impl FnOnce(&str) -> Vec<String>,
    ) -> Option<String> {
        match &mut self.cycle {
            Some(cycle) if cycle.result == line => {
                cycle.index = (cycle.index + 1) % cycle.candidates.len().max(1);
            }
            _ => {
                let start = line.rfind(' ').map_or(0, |i| i + 1);
                let prefix = line.get(start..)?;
                if prefix.is_empty() {
                    return None;
                }
                let candidates = candidates(prefix);
                if candidates.is_empty() {
                    self.cycle = None;
                    return None;
                }
                self.cycle = Some(Cycle {
                    before: line.get(..start)?.to_owned(),
                    candidates,
                    index: 0,
                    result: String::new(),
                });
            }
        }
        let cycle = self.cycle.as_mut()?;
        let nick = cycle.candidates.get(cycle.index)?;
        // "nick: " addresses someone at the start of a line; a /command takes a plain space.
        let suffix = if cycle.before.is_empty() && !nick.starts_with('/') {
            ": "
        } else {
            " "
        };
        cycle.result = format!("{}{nick}{suffix}", cycle.before);
        Some(cycle.result.clone())
    }

    /// The known /commands starting with `prefix` (which starts with "/"), for Tab and hints.
    pub fn commands(prefix: &str) -> Vec<String> {
        let Some(word) = prefix.strip_prefix('/') else {
            return Vec::new();
        };
        let word = word.to_lowercase();
        charla_client::input::KNOWN
            .iter()
            .filter(|c| c.starts_with(&word))
            .map(|c| format!("/{c}"))
            .collect()
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
    fn tab_completes_and_cycles() {
        let nicks = ["Ñandú", "ñoño", "alice"];
        let lookup = |prefix: &str| -> Vec<String> {
            let prefix = prefix.to_lowercase();
            nicks
                .iter()
                .filter(|n| n.to_lowercase().starts_with(&prefix))
                .map(|n| (*n).to_owned())
                .collect()
        };
        let mut completion = Completion::default();
        assert_eq!(completion.complete("ñ", lookup).as_deref(), Some("Ñandú: "));
        assert_eq!(
            completion.complete("Ñandú: ", lookup).as_deref(),
            Some("ñoño: ")
        );
        assert_eq!(
            completion.complete("ñoño: ", lookup).as_deref(),
            Some("Ñandú: ")
        );
        assert_eq!(
            completion.complete("hola al", lookup).as_deref(),
            Some("hola alice "),
            "typing something else starts a new cycle"
        );
        assert_eq!(completion.complete("zz", lookup), None);
        assert_eq!(
            completion.complete("/jo", Completion::commands).as_deref(),
            Some("/join ")
        );
        assert_eq!(completion.complete("", lookup), None);
    }
}
