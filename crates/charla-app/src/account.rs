//! "Create an account" while connected: a small window with the account name (the nick by
//! default), an optional e-mail and a masked password, sent as `REGISTER` by charla-client;
//! the answer comes back in the client state (`State::registration`) and is shown in words.

use charla_client::Command;
use egui::RichText;

use crate::theme;

/// The window's fields while it is open.
#[derive(Debug, Clone, Default)]
pub struct CreateAccount {
    /// The account name; empty means "my nick".
    pub account: String,
    /// An e-mail address, if the server wants one.
    pub email: String,
    /// The password (masked, never saved).
    pub password: String,
    /// What is wrong with the fields, in words.
    pub error: Option<String>,
}

impl CreateAccount {
    /// The command for these fields, or what is missing.
    pub fn to_command(&self) -> Result<Command, String> {
        if self.password.is_empty() {
            return Err("Choose a password for the account.".to_owned());
        }
        if self.password.contains(' ') {
            return Err("The password cannot contain spaces.".to_owned());
        }
        let account = self.account.trim();
        let email = self.email.trim();
        Ok(Command::RegisterAccount {
            account: (!account.is_empty()).then(|| account.to_owned()),
            email: (!email.is_empty()).then(|| email.to_owned()),
            password: self.password.clone(),
        })
    }
}

/// Draws the window while `dialog` is open; returns the command to send when the user
/// confirms (and closes it), or nothing.
pub fn window(
    ctx: &egui::Context,
    dialog: &mut Option<CreateAccount>,
    nick: &str,
) -> Option<Command> {
    let form = dialog.as_mut()?;
    let mut open = true;
    let mut command = None;
    let mut close = false;
    egui::Window::new("Create an account")
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .show(ctx, |ui| {
            egui::Grid::new("create-account")
                .num_columns(2)
                .spacing([12.0, 8.0])
                .show(ui, |ui| {
                    ui.label("Account name");
                    ui.add(
                        egui::TextEdit::singleline(&mut form.account)
                            .hint_text(format!("empty: your nick, {nick}")),
                    )
                    .accessible_name("New account name");
                    ui.end_row();
                    ui.label("E-mail");
                    ui.add(
                        egui::TextEdit::singleline(&mut form.email).hint_text("if the server asks"),
                    )
                    .accessible_name("New account e-mail");
                    ui.end_row();
                    ui.label("Password");
                    ui.add(egui::TextEdit::singleline(&mut form.password).password(true))
                        .accessible_name("New account password");
                    ui.end_row();
                });
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                if ui.button(RichText::new("Create").strong()).clicked() {
                    match form.to_command() {
                        Ok(c) => {
                            command = Some(c);
                            close = true;
                        }
                        Err(e) => form.error = Some(e),
                    }
                }
                if ui.button("Cancel").clicked() {
                    close = true;
                }
            });
            if let Some(error) = &form.error {
                ui.colored_label(theme::DANGER, error);
            }
        });
    if close || !open {
        *dialog = None;
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_a_register_command() {
        let mut form = CreateAccount::default();
        assert!(form.to_command().is_err(), "a password is needed");
        form.password = "contraseña".into();
        form.email = " ana@example.org ".into();
        assert_eq!(
            form.to_command(),
            Ok(Command::RegisterAccount {
                account: None,
                email: Some("ana@example.org".into()),
                password: "contraseña".into(),
            })
        );
    }
}
