//! The side list: each server with its buffers (server, channels, private conversations),
//! unread and mention counts, and a way to open a new connection.

use charla_client::{BufferId, Command, ConnectionStatus};
use egui::{RichText, Ui};

use crate::chat::badge_color;
use crate::session::Session;
use crate::theme;

/// What the user did in the side list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListAction {
    /// Show this buffer of this session (by index).
    Select(usize, BufferId),
    /// Close a buffer (part a channel, forget a query).
    Close(usize, BufferId),
    /// Disconnect and forget a session.
    CloseSession(usize),
    /// Reconnect a session now.
    Reconnect(usize),
    /// Open the connect screen for another server.
    NewConnection,
}

/// Draws the side list; `current` is the session on screen.
pub fn show(ui: &mut Ui, sessions: &[Session], current: Option<usize>) -> Option<ListAction> {
    let mut action = None;
    egui::ScrollArea::vertical()
        .id_salt("buffer-list")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (index, session) in sessions.iter().enumerate() {
                let dot = match session.state.status {
                    ConnectionStatus::Connected => theme::OK,
                    ConnectionStatus::Disconnected { .. } | ConnectionStatus::WaitingForTrust => {
                        theme::DANGER
                    }
                    _ => theme::MENTION_BADGE,
                };
                // The label takes clicks, so that its menu opens on a right click (a row's own
                // response does not sense them). A TLS connection says so: two sessions to one
                // host are told apart.
                let secure = if session.config.tls { " (TLS)" } else { "" };
                ui.horizontal(|ui| {
                    theme::dot(ui, dot).on_hover_text(session.status_text());
                    ui.add(
                        egui::Label::new(
                            RichText::new(format!("{}{secure}", session.label)).strong(),
                        )
                        .sense(egui::Sense::click()),
                    )
                    .on_hover_text("Right-click: reconnect or disconnect")
                })
                .inner
                .context_menu(|ui| {
                    if ui.button("Reconnect now").clicked() {
                        action = Some(ListAction::Reconnect(index));
                    }
                    if ui.button("Disconnect and close").clicked() {
                        action = Some(ListAction::CloseSession(index));
                    }
                });
                for buffer in &session.state.buffers {
                    let selected = current == Some(index) && session.active.same(&buffer.id);
                    let name = match &buffer.id {
                        BufferId::Server => "server messages".to_owned(),
                        BufferId::Channel(name) => name.clone(),
                        BufferId::Query(nick) => format!("✉ {nick}"),
                    };
                    ui.horizontal(|ui| {
                        ui.add_space(12.0);
                        let mut text = RichText::new(&name);
                        if buffer.mentions > 0 || buffer.unread > 0 {
                            text = text.strong();
                        }
                        if matches!(buffer.id, BufferId::Channel(_)) && !buffer.joined {
                            text = text.weak();
                        }
                        let response = ui.selectable_label(selected, text);
                        if response.clicked() {
                            action = Some(ListAction::Select(index, buffer.id.clone()));
                        }
                        if buffer.id != BufferId::Server {
                            response.context_menu(|ui| {
                                let label = if matches!(buffer.id, BufferId::Channel(_)) {
                                    "Leave channel"
                                } else {
                                    "Close conversation"
                                };
                                if ui.button(label).clicked() {
                                    action = Some(ListAction::Close(index, buffer.id.clone()));
                                }
                            });
                        }
                        let count = if buffer.mentions > 0 {
                            buffer.mentions
                        } else {
                            buffer.unread
                        };
                        if count > 0 && !selected {
                            // Body size: a small badge is hard to read at a glance.
                            let badge = RichText::new(format!(" {count} "))
                                .strong()
                                .color(egui::Color32::WHITE)
                                .background_color(badge_color(buffer.mentions));
                            let what = if buffer.mentions > 0 {
                                "mentions"
                            } else {
                                "unread"
                            };
                            ui.label(badge).on_hover_text(format!("{count} {what}"));
                        }
                    });
                }
                ui.add_space(6.0);
            }
            ui.separator();
            if ui.button("+ Connect to a server…").clicked() {
                action = Some(ListAction::NewConnection);
            }
        });
    action
}

/// Applies a list action that concerns one session (selecting, closing a buffer, reconnecting).
pub fn apply(sessions: &mut [Session], action: &ListAction) {
    match action {
        ListAction::Select(index, id) => {
            if let Some(session) = sessions.get_mut(*index) {
                session.select(id.clone());
            }
        }
        ListAction::Close(index, id) => {
            if let Some(session) = sessions.get_mut(*index) {
                session.send(Command::CloseBuffer { buffer: id.clone() });
            }
        }
        ListAction::Reconnect(index) => {
            if let Some(session) = sessions.get_mut(*index) {
                session.send(Command::Reconnect);
            }
        }
        ListAction::CloseSession(_) | ListAction::NewConnection => {}
    }
}
