//! The search box (Ctrl+F, or 🔍 in a buffer's header): searches the server's history
//! (`soju.im/search`, through [`Command::Search`]) in the conversation on screen or everywhere,
//! and lists what it found beside the chat, newest first, the words found highlighted; clicking a
//! result goes to its conversation. In the conversation on screen it also finds, as one types
//! and without the server, the lines loaded there ([`in_buffer`]); clicking one scrolls the
//! chat to it and marks it.
//!
//! The logic is plain state ([`SearchBox`], [`spans`]), unit-tested; [`show`] only draws it.

use charla_client::{Buffer, BufferId, Command, Event, LineKind, SearchLine, SearchQuery, State};
use egui::text::LayoutJob;
use egui::{Key, Modifiers, RichText, TextFormat, Ui};

use crate::theme;

/// Where to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The conversation on screen (everywhere from the server buffer).
    #[default]
    Conversation,
    /// Every conversation the server lets us read.
    Everywhere,
}

/// What a search found, as the panel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// What was asked.
    pub query: SearchQuery,
    /// The lines, newest first.
    pub lines: Vec<SearchLine>,
    /// Why there is nothing, when the search failed.
    pub error: Option<String>,
}

/// Where clicking a result takes the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoTo {
    /// A buffer that is open: switch to it.
    Select(BufferId),
    /// Not open: ask for it (open the private conversation, join the channel).
    Send(Command),
    /// A line of the conversation on screen, by its number ([`charla_client::Line::seq`]):
    /// scroll to it and mark it.
    Line(u64),
}

/// The most loaded lines listed as found in the conversation on screen.
const IN_BUFFER_SHOWN: usize = 50;

/// The loaded lines of `buffer` holding every word of `text` (whole words, without case or
/// accents, as the server's search), newest first, each with its number.
pub fn in_buffer(buffer: &Buffer, text: &str) -> Vec<(u64, SearchLine)> {
    let wanted: Vec<String> = words(text).map(|(_, w)| fold(w)).collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    buffer
        .lines
        .iter()
        .rev()
        .filter(|l| l.kind.is_chat())
        .filter(|l| {
            let plain = charla_proto::formatting::strip(&l.text);
            let have: Vec<String> = words(&plain).map(|(_, w)| fold(w)).collect();
            wanted.iter().all(|w| have.contains(w))
        })
        .take(IN_BUFFER_SHOWN)
        .map(|l| {
            let found = SearchLine {
                target: buffer.id.name().to_owned(),
                sender: l.nick.clone().unwrap_or_default(),
                text: l.text.clone(),
                kind: l.kind,
                time: l.time,
                msgid: l.msgid.clone(),
            };
            (l.seq, found)
        })
        .collect()
}

/// The search box of one connection.
#[derive(Debug, Clone, Default)]
pub struct SearchBox {
    /// Whether the panel shows.
    pub open: bool,
    /// The words being typed.
    pub text: String,
    /// Where to search.
    pub scope: Scope,
    /// The text field should take the keyboard (just opened).
    pub focus: bool,
    /// Sent, waiting for its answer.
    pub pending: Option<SearchQuery>,
    /// The last answer.
    pub found: Option<Found>,
}

impl SearchBox {
    /// Opens the panel (or brings the keyboard back to it).
    pub fn show_box(&mut self) {
        self.open = true;
        self.focus = true;
    }

    /// Closes the panel; the results are forgotten.
    pub fn close(&mut self) {
        *self = SearchBox {
            scope: self.scope,
            ..SearchBox::default()
        };
    }

    /// What a search from buffer `active` asks, if there are words to look for.
    pub fn query(&self, active: &BufferId) -> Option<SearchQuery> {
        let text = self.text.trim();
        if text.is_empty() {
            return None;
        }
        let target = match self.scope {
            Scope::Conversation => active.target().map(str::to_owned),
            Scope::Everywhere => None,
        };
        Some(SearchQuery {
            text: text.to_owned(),
            target,
        })
    }

    /// Enter in the box: the command to send, and the box waits for its answer.
    pub fn submit(&mut self, active: &BufferId) -> Option<Command> {
        let query = self.query(active)?;
        self.pending = Some(query.clone());
        Some(Command::Search {
            text: query.text,
            target: query.target,
        })
    }

    /// Follows the connection's events: search answers (the one waited for, or one typed by
    /// hand), and a disconnection, which leaves no answer to wait for.
    pub fn follow(&mut self, event: &Event) {
        match event {
            Event::SearchResults {
                query,
                lines,
                error,
            } => {
                // An older search answered after a newer one was sent: the newer one follows.
                if self.pending.as_ref().is_some_and(|p| p != query) {
                    return;
                }
                self.pending = None;
                self.found = Some(Found {
                    query: query.clone(),
                    lines: lines.iter().rev().cloned().collect(),
                    error: error.clone(),
                });
            }
            Event::Disconnected { reason, .. } => {
                if let Some(query) = self.pending.take() {
                    self.found = Some(Found {
                        query,
                        lines: Vec::new(),
                        error: Some(format!("Disconnected: {reason}")),
                    });
                }
            }
            _ => {}
        }
    }

    /// What the panel says above the results.
    pub fn summary(&self) -> Option<String> {
        if let Some(query) = &self.pending {
            return Some(format!("Searching for “{}”…", query.text));
        }
        let found = self.found.as_ref()?;
        let place = found
            .query
            .target
            .as_deref()
            .map_or_else(String::new, |t| format!(" in {t}"));
        Some(match (&found.error, found.lines.len()) {
            (Some(error), _) => format!("Could not search: {error}"),
            (None, 0) => format!("Nothing found for “{}”{place}.", found.query.text),
            (None, 1) => format!("1 line found{place}."),
            (None, n) => format!("{n} lines found{place}, newest first."),
        })
    }
}

/// Where a result's conversation is: its buffer if open, else how to open it.
pub fn go_to(state: &State, line: &SearchLine) -> GoTo {
    let id = state.target_buffer(&line.target);
    if let Some(buffer) = state.buffer(&id) {
        return GoTo::Select(buffer.id.clone());
    }
    match id {
        BufferId::Channel(channel) => GoTo::Send(Command::Join { channel, key: None }),
        _ => GoTo::Send(Command::OpenQuery {
            nick: line.target.clone(),
        }),
    }
}

/// A letter without its accent, lower-case (as the server matches: `Qué` is `que`).
fn fold_char(c: char) -> char {
    let c = c.to_lowercase().next().unwrap_or(c);
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'ĉ' | 'č' => 'c',
        'ď' | 'đ' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
        'ğ' | 'ģ' => 'g',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => 'i',
        'ł' | 'ľ' | 'ĺ' => 'l',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
        'ř' | 'ŕ' => 'r',
        'ś' | 'š' | 'ş' => 's',
        'ť' | 'ţ' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => 'u',
        'ý' | 'ÿ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        other => other,
    }
}

fn fold(word: &str) -> String {
    word.chars().map(fold_char).collect()
}

/// The words of `text`: runs of letters and digits, with where they start.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(move |w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
}

/// `text` cut into pieces, each with whether it is one of the `query`'s words (whole words,
/// without case or accents). The pieces put together are the text.
pub fn spans<'a>(text: &'a str, query: &str) -> Vec<(&'a str, bool)> {
    let wanted: Vec<String> = words(query).map(|(_, w)| fold(w)).collect();
    let mut out = Vec::new();
    let mut at = 0;
    for (start, word) in words(text) {
        if !wanted.contains(&fold(word)) {
            continue;
        }
        if start > at {
            out.push((&text[at..start], false));
        }
        out.push((word, true));
        at = start + word.len();
    }
    if at < text.len() {
        out.push((&text[at..], false));
    }
    out
}

/// Ctrl+F (Cmd+F): opens the search box.
pub fn shortcut(ui: &Ui, search: &mut SearchBox) {
    if ui.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::F)) {
        search.show_box();
    }
}

/// Draws the search panel's inside; returns what the user asked for (a search to send, a
/// result to go to).
pub fn show(
    ui: &mut Ui,
    search: &mut SearchBox,
    state: &State,
    active: &BufferId,
) -> (Option<Command>, Option<GoTo>) {
    let mut command = None;
    let mut go = None;
    ui.horizontal(|ui| {
        ui.heading("Search");
        if ui.small_button("✖").on_hover_text("Close (Esc)").clicked() {
            search.close();
        }
    });
    if !search.open {
        return (None, None);
    }
    let field = ui.add(
        egui::TextEdit::singleline(&mut search.text)
            .id_salt("search-text")
            .hint_text("Words to find")
            .desired_width(f32::INFINITY),
    );
    let field = field.accessible_name("Words to find");
    if std::mem::take(&mut search.focus) {
        field.request_focus();
    }
    let here = active.target().unwrap_or("this server");
    ui.horizontal(|ui| {
        ui.radio_value(&mut search.scope, Scope::Conversation, format!("In {here}"));
        ui.radio_value(&mut search.scope, Scope::Everywhere, "Everywhere");
    });
    let entered = field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
    if (entered || ui.button("Search").clicked())
        && let Some(c) = search.submit(active)
    {
        command = Some(c);
    }
    if field.has_focus() && ui.input(|i| i.key_pressed(Key::Escape)) {
        search.close();
        return (command, None);
    }
    if let Some(summary) = search.summary() {
        ui.label(
            RichText::new(summary)
                .small()
                .color(theme::muted(ui.visuals())),
        );
    }
    ui.separator();
    // Found at once among the lines loaded here (Enter asks the server for more).
    let here_found = match (search.scope, state.buffer(active)) {
        (Scope::Conversation, Some(buffer)) => in_buffer(buffer, &search.text),
        _ => Vec::new(),
    };
    if search.found.is_none() && here_found.is_empty() {
        return (command, None);
    }
    let dark = ui.visuals().dark_mode;
    let muted = theme::muted(ui.visuals());
    egui::ScrollArea::vertical()
        .id_salt("search-results")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            if !here_found.is_empty() {
                ui.label(
                    RichText::new(format!("In the lines loaded here: {}", here_found.len()))
                        .strong()
                        .color(muted),
                );
                for (seq, line) in &here_found {
                    if result_ui(ui, line, &search.text, dark) {
                        go = Some(GoTo::Line(*seq));
                    }
                    ui.separator();
                }
            }
            let Some(found) = &search.found else {
                return;
            };
            for line in &found.lines {
                if result_ui(ui, line, &found.query.text, dark) {
                    go = Some(go_to(state, line));
                }
                ui.separator();
            }
        });
    (command, go)
}

/// One result: when, where and who, then the text with the words found highlighted. True when
/// clicked.
fn result_ui(ui: &mut Ui, line: &SearchLine, query: &str, dark: bool) -> bool {
    let muted = theme::muted(ui.visuals());
    let when = line
        .time
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let about = ui
        .add(
            egui::Label::new(
                RichText::new(format!("{when}  {}", line.target))
                    .small()
                    .color(muted),
            )
            .sense(egui::Sense::click()),
        )
        .on_hover_text(format!("Go to {}", line.target));
    let font = egui::TextStyle::Body.resolve(ui.style());
    let plain = ui.visuals().text_color();
    let mut job = LayoutJob::default();
    let sender = match line.kind {
        LineKind::Action => format!("* {} ", line.sender),
        LineKind::Notice => format!("-{}- ", line.sender),
        _ => format!("{}: ", line.sender),
    };
    job.append(
        &sender,
        0.0,
        TextFormat::simple(font.clone(), theme::nick_color(&line.sender, dark)),
    );
    // Formatting codes are left out: the search shows plain text.
    let text = charla_proto::formatting::strip(&line.text);
    for (piece, hit) in spans(&text, query) {
        let mut format = TextFormat::simple(font.clone(), plain);
        if hit {
            format.background = theme::MENTION_BG;
            format.color = if dark {
                egui::Color32::WHITE
            } else {
                egui::Color32::BLACK
            };
        }
        job.append(piece, 0.0, format);
    }
    let text = ui.add(egui::Label::new(job).wrap().sense(egui::Sense::click()));
    about.clicked() || text.clicked()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn line(target: &str, text: &str, second: u32) -> SearchLine {
        SearchLine {
            target: target.into(),
            sender: "bob".into(),
            text: text.into(),
            kind: LineKind::Message,
            time: Utc
                .with_ymd_and_hms(2026, 12, 1, 10, 0, second)
                .single()
                .expect("time"),
            msgid: Some(format!("m{second}")),
        }
    }

    #[test]
    fn searches_the_conversation_on_screen_or_everywhere() {
        let mut b = SearchBox::default();
        let chan = BufferId::Channel("#a".into());
        assert_eq!(b.submit(&chan), None, "no words, no search");
        b.text = "  qué tal ".into();
        assert_eq!(
            b.submit(&chan),
            Some(Command::Search {
                text: "qué tal".into(),
                target: Some("#a".into()),
            })
        );
        assert!(b.summary().is_some_and(|s| s.starts_with("Searching")));
        b.scope = Scope::Everywhere;
        assert_eq!(
            b.submit(&chan),
            Some(Command::Search {
                text: "qué tal".into(),
                target: None,
            })
        );
        // From the server buffer, the conversation is everywhere.
        b.scope = Scope::Conversation;
        let query = b.query(&BufferId::Server).expect("query");
        assert_eq!(query.target, None);
    }

    #[test]
    fn shows_the_answer_waited_for_newest_first() {
        let mut b = SearchBox::default();
        b.show_box();
        b.text = "que".into();
        let chan = BufferId::Channel("#a".into());
        b.submit(&chan);
        b.scope = Scope::Everywhere;
        b.submit(&chan);
        // The first search's answer comes after the second was sent: not shown.
        b.follow(&Event::SearchResults {
            query: SearchQuery {
                text: "que".into(),
                target: Some("#a".into()),
            },
            lines: vec![line("#a", "stale", 0)],
            error: None,
        });
        assert!(b.found.is_none() && b.pending.is_some());
        b.follow(&Event::SearchResults {
            query: SearchQuery {
                text: "que".into(),
                target: None,
            },
            lines: vec![line("#a", "¿Qué tal?", 1), line("bob", "que sí", 2)],
            error: None,
        });
        assert!(b.pending.is_none());
        let found = b.found.as_ref().expect("found");
        let texts: Vec<&str> = found.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["que sí", "¿Qué tal?"]);
        assert_eq!(b.summary().as_deref(), Some("2 lines found, newest first."));

        // A refusal says why; so does a disconnection while waiting.
        b.submit(&chan);
        b.follow(&Event::SearchResults {
            query: SearchQuery {
                text: "que".into(),
                target: None,
            },
            lines: Vec::new(),
            error: Some("Not connected".into()),
        });
        assert_eq!(
            b.summary().as_deref(),
            Some("Could not search: Not connected")
        );
        b.submit(&chan);
        b.follow(&Event::Disconnected {
            reason: "gone".into(),
            retry_in: None,
        });
        assert!(b.pending.is_none());
        assert!(b.summary().is_some_and(|s| s.contains("gone")));

        b.close();
        assert!(!b.open && b.found.is_none() && b.text.is_empty());
        assert_eq!(b.scope, Scope::Everywhere, "the scope stays as chosen");
    }

    #[test]
    fn whole_words_are_highlighted_without_case_or_accents() {
        assert_eq!(
            spans("¿Qué tal, Ñandú?", "que NANDU"),
            [
                ("¿", false),
                ("Qué", true),
                (" tal, ", false),
                ("Ñandú", true),
                ("?", false)
            ]
        );
        // Whole words only: "queso" is not "que".
        assert_eq!(
            spans("queso y que", "que"),
            [("queso y ", false), ("que", true)]
        );
        assert_eq!(spans("nada", "que"), [("nada", false)]);
        assert_eq!(spans("", "que"), Vec::<(&str, bool)>::new());
    }

    #[test]
    fn a_result_goes_to_its_buffer_or_opens_it() {
        let mut state = State::new("ana");
        state.apply(&Event::OpenBuffer {
            buffer: BufferId::Query("Bob".into()),
            focus: false,
        });
        assert_eq!(
            go_to(&state, &line("bob", "hola", 0)),
            GoTo::Select(BufferId::Query("Bob".into()))
        );
        assert_eq!(
            go_to(&state, &line("carla", "hola", 0)),
            GoTo::Send(Command::OpenQuery {
                nick: "carla".into()
            })
        );
        assert_eq!(
            go_to(&state, &line("#a", "hola", 0)),
            GoTo::Send(Command::Join {
                channel: "#a".into(),
                key: None
            })
        );
    }
}
