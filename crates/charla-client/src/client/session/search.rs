//! Searches in an open connection (`soju.im/search`): asking, and reading the answers, built
//! like the history requests next door (`history.rs`).
//!
//! `SEARCH text=…[;in=…];limit=<n>` is answered by a `soju.im/search` batch (no parameters), whose
//! lines are collected apart from live ones and reported as one [`Event::SearchResults`].
//! Requests are matched to answers in the order they were sent; a refusal (`FAIL SEARCH`) ends
//! the oldest with no lines and the server's words.

use std::collections::{HashMap, VecDeque};

use charla_proto::OwnedMessage;

use super::Session;
use crate::client::Task;
use crate::event::Event;
use crate::search::{CAP_SEARCH, SearchLine, SearchQuery};

/// The searches of one connection and the answers coming in.
#[derive(Debug, Default)]
pub(super) struct Searches {
    /// Sent, not answered yet, oldest first.
    pending: VecDeque<SearchQuery>,
    /// Batches being collected, by reference.
    open: HashMap<String, Vec<OwnedMessage>>,
}

impl Session {
    /// `SEARCH`, if the server offers it; otherwise an empty result saying why.
    pub(super) fn search(&mut self, task: &mut Task, query: SearchQuery) {
        let error = if !task.state.has_cap(CAP_SEARCH) || !task.state.has_cap("batch") {
            Some("This server does not offer search")
        } else if query.text.trim().is_empty() {
            Some("Type some words to search for")
        } else {
            None
        };
        if let Some(error) = error {
            task.emit(Event::SearchResults {
                query,
                lines: Vec::new(),
                error: Some(error.to_owned()),
            });
            return;
        }
        let limit = task.state.isupport.history_page();
        self.send_msg("SEARCH", &[&query.attributes(limit)]);
        self.searches.pending.push_back(query);
    }

    /// Takes the lines that belong to search answers; gives back any other.
    pub(super) fn search_inbound(
        &mut self,
        task: &mut Task,
        msg: OwnedMessage,
    ) -> Option<OwnedMessage> {
        if let Some(reference) = msg.tag("batch")
            && let Some(open) = self.searches.open.get_mut(reference)
        {
            open.push(msg);
            return None;
        }
        let command = msg.command.to_ascii_uppercase();
        match command.as_str() {
            "BATCH" => self.search_batch(task, msg),
            "FAIL" if matches!(msg.param(0), Some("SEARCH")) => {
                tracing::debug!(line = %msg, "SEARCH refused");
                let query = self.searches.pending.pop_front().unwrap_or_default();
                let error = msg.params.last().cloned().unwrap_or_default();
                task.emit(Event::SearchResults {
                    query,
                    lines: Vec::new(),
                    error: Some(error),
                });
                None
            }
            _ => Some(msg),
        }
    }

    /// `BATCH +ref soju.im/search` and its `BATCH -ref`; other batches pass on.
    fn search_batch(&mut self, task: &mut Task, msg: OwnedMessage) -> Option<OwnedMessage> {
        let reference = msg.param(0).unwrap_or("");
        if let Some(id) = reference.strip_prefix('+') {
            if msg.param(1) != Some(CAP_SEARCH) {
                return Some(msg);
            }
            self.searches.open.insert(id.to_owned(), Vec::new());
            return None;
        }
        let Some(found) = reference
            .strip_prefix('-')
            .and_then(|id| self.searches.open.remove(id))
        else {
            return Some(msg);
        };
        // Someone typed SEARCH by hand: an answer to no query of ours, shown all the same.
        let query = self.searches.pending.pop_front().unwrap_or_default();
        let lines = found
            .iter()
            .filter_map(|m| SearchLine::from_message(m, |n| task.state.is_me(n)))
            .collect();
        task.emit(Event::SearchResults {
            query,
            lines,
            error: None,
        });
        None
    }
}
