//! The nick list of a channel: members with their op/voice prefixes, live from the client
//! state (roles and their words come from charla-client), and a small badge by those logged
//! in to an account (its name on hover); a click opens a private conversation, the menu
//! offers more. Members who chose a display name or an avatar (draft/metadata-2) show under
//! it, with their nick beside it, and their picture (or a dot of their colour) before it.

use charla_client::{Buffer, BufferId, Command, State};
use egui::{RichText, Ui};

use crate::avatars::Avatars;
use crate::theme;

/// The badge by a member logged in to an account.
pub const LOGGED_IN_BADGE: &str = "✔";

/// Where the pictures come from: the app's avatars and what the user allows.
pub struct Pictures<'a> {
    /// The pictures fetched so far.
    pub avatars: &'a mut Avatars,
    /// The chat server's host (pictures from there are always fetched).
    pub server_host: &'a str,
    /// Pictures from other sites are fetched too.
    pub other_sites: bool,
}

/// The side of a picture in the list (points).
const PICTURE: f32 = 16.0;

/// Draws the member list of `buffer` (one of `state`'s); returns a command the user asked for.
pub fn show(
    ui: &mut Ui,
    state: &State,
    buffer: &Buffer,
    pictures: Pictures<'_>,
) -> Option<Command> {
    let BufferId::Channel(channel) = &buffer.id else {
        return None;
    };
    let dark = ui.visuals().dark_mode;
    let mut command = None;
    let we_are_op = buffer.is_op(&state.nick);
    ui.heading(format!("{} here", buffer.members.len()));
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt(("nicks", channel))
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for member in &buffer.members {
                let prefix = member.prefix().map(String::from).unwrap_or_default();
                // The name they chose (draft/metadata-2), with the nick beside it.
                let display = state.display_name(&member.nick);
                let mut text =
                    RichText::new(format!("{prefix}{}", display.unwrap_or(&member.nick)))
                        .color(theme::nick_color(&member.nick, dark));
                if member.away {
                    text = text.italics().weak();
                }
                let account = state.account_of(&member.nick);
                let response = ui
                    .horizontal(|ui| {
                        let avatar = state
                            .profile(&member.nick)
                            .and_then(|p| p.avatar.as_deref())
                            .and_then(|url| {
                                pictures.avatars.get(
                                    ui.ctx(),
                                    url,
                                    pictures.server_host,
                                    pictures.other_sites,
                                )
                            });
                        let size = egui::vec2(PICTURE, PICTURE);
                        match avatar {
                            Some(texture) => {
                                ui.add(
                                    egui::Image::new(&texture)
                                        .fit_to_exact_size(size)
                                        .corner_radius(PICTURE / 2.0),
                                );
                            }
                            None => {
                                // The same room with or without a picture: nothing moves
                                // when one arrives.
                                let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                                ui.painter().circle_filled(
                                    rect.center(),
                                    PICTURE / 4.0,
                                    theme::nick_color(&member.nick, dark),
                                );
                            }
                        }
                        ui.add_space(4.0);
                        let response = ui.add(egui::Label::new(text).sense(egui::Sense::click()));
                        if display.is_some() {
                            ui.add(egui::Label::new(
                                RichText::new(format!(" {}", member.nick))
                                    .small()
                                    .color(theme::muted(ui.visuals())),
                            ));
                        }
                        if let Some(account) = account {
                            let words = format!("{} is logged in as {account}", member.nick);
                            ui.add(egui::Label::new(
                                RichText::new(LOGGED_IN_BADGE).color(theme::OK),
                            ))
                            .on_hover_text(&words)
                            .accessible_name(words);
                        }
                        response
                    })
                    .inner;
                let role = member.role().describe();
                let away = if member.away { ", away" } else { "" };
                let logged_in = account
                    .map(|a| format!(", logged in as {a}"))
                    .unwrap_or_default();
                let response =
                    response.on_hover_text(format!("{} ({role}{away}{logged_in})", member.nick));
                if response.double_clicked() {
                    command = Some(Command::OpenQuery {
                        nick: member.nick.clone(),
                    });
                }
                response.context_menu(|ui| {
                    if ui.button("Private conversation").clicked() {
                        command = Some(Command::OpenQuery {
                            nick: member.nick.clone(),
                        });
                    }
                    if we_are_op
                        && !state.is_me(&member.nick)
                        && ui.button("Kick from channel").clicked()
                    {
                        command = Some(Command::Kick {
                            channel: channel.clone(),
                            nick: member.nick.clone(),
                            reason: None,
                        });
                    }
                });
            }
        });
    command
}
