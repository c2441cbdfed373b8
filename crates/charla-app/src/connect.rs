//! The connect screen: the saved servers on the left, the form on the right (host, port, TLS,
//! nick, account), and the choice to register the account on connect.

use charla_client::{SaslConfig, ServerConfig};
use egui::{RichText, Ui};

use crate::config::SavedServer;
use crate::theme;

/// What the user asked for on this screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectAction {
    /// Connect with this configuration; register the account first when asked to.
    Connect {
        /// Where and who.
        config: ServerConfig,
        /// Register this account once connected.
        register: Option<Registration>,
    },
    /// Save the form as a saved server (replacing the selected one).
    Save(SavedServer, Option<usize>),
    /// Delete the saved server at this index.
    Delete(usize),
}

/// An account to register from the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The account name.
    pub account: String,
    /// Its password.
    pub password: String,
    /// An e-mail address, when the server asks for one.
    pub email: Option<String>,
}

/// The form's editable state.
#[derive(Debug, Clone)]
pub struct ConnectForm {
    /// Display name of the saved entry.
    pub name: String,
    /// Host name or address.
    pub host: String,
    /// Port, as typed (validated on connect).
    pub port: String,
    /// Use TLS.
    pub tls: bool,
    /// Nick.
    pub nick: String,
    /// Account name (empty: no account).
    pub account: String,
    /// Account password (never saved to disk).
    pub password: String,
    /// Register the account on connect.
    pub register: bool,
    /// E-mail for registration.
    pub email: String,
    /// Channels to join, separated by spaces or commas.
    pub autojoin: String,
    /// Which saved server the form was filled from.
    pub selected: Option<usize>,
    /// The last problem with what the user entered (or with the connection), in words.
    pub error: Option<String>,
}

impl Default for ConnectForm {
    fn default() -> Self {
        Self::from_saved(&SavedServer::default(), None)
    }
}

impl ConnectForm {
    /// Fills the form from a saved server.
    pub fn from_saved(saved: &SavedServer, index: Option<usize>) -> Self {
        Self {
            name: saved.name.clone(),
            host: saved.host.clone(),
            port: saved.port.to_string(),
            tls: saved.tls,
            nick: saved.nick.clone(),
            account: saved.account.clone().unwrap_or_default(),
            password: String::new(),
            register: false,
            email: String::new(),
            autojoin: saved.autojoin.join(" "),
            selected: index,
            error: None,
        }
    }

    fn port(&self) -> Result<u16, String> {
        match self.port.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(format!(
                "The port must be a number from 1 to 65535, not “{}”.",
                self.port.trim()
            )),
            Ok(port) => Ok(port),
        }
    }

    fn autojoin(&self) -> Vec<String> {
        self.autojoin
            .split([' ', ','])
            .filter(|c| !c.is_empty())
            .map(|c| {
                if c.starts_with(['#', '&']) {
                    c.to_owned()
                } else {
                    format!("#{c}")
                }
            })
            .collect()
    }

    /// The form as a saved server (without the password).
    pub fn to_saved(&self) -> Result<SavedServer, String> {
        let account = self.account.trim();
        Ok(SavedServer {
            name: self.name.trim().to_owned(),
            host: self.host.trim().to_owned(),
            port: self.port()?,
            tls: self.tls,
            nick: self.nick.trim().to_owned(),
            account: (!account.is_empty()).then(|| account.to_owned()),
            autojoin: self.autojoin(),
        })
    }

    /// Checks the form and builds what the client needs, or says what is missing.
    pub fn to_action(&self) -> Result<ConnectAction, String> {
        let saved = self.to_saved()?;
        if saved.host.is_empty() {
            return Err("Enter the server's host name or address.".to_owned());
        }
        if saved.nick.is_empty() {
            return Err("Choose a nick: the name others see you by.".to_owned());
        }
        if !charla_proto::validate::is_valid_nick(&saved.nick) {
            return Err(format!(
                "“{}” cannot be a nick: use letters, digits and - _ [ ] {{ }} | ^ ` (not a digit \
                 or - first), at most {} characters.",
                saved.nick,
                charla_proto::validate::NICKLEN
            ));
        }
        let mut config = ServerConfig::new(&saved.host, saved.port, &saved.nick);
        config.tls = saved.tls;
        config.autojoin = saved.autojoin.clone();
        let register = if let Some(account) = &saved.account {
            if self.password.is_empty() {
                return Err(format!("Enter the password of the account “{account}”."));
            }
            if self.register {
                Some(Registration {
                    account: account.clone(),
                    password: self.password.clone(),
                    email: (!self.email.trim().is_empty()).then(|| self.email.trim().to_owned()),
                })
            } else {
                config.sasl = Some(SaslConfig {
                    account: account.clone(),
                    password: self.password.clone(),
                });
                None
            }
        } else {
            None
        };
        Ok(ConnectAction::Connect { config, register })
    }
}

/// Draws the saved servers; a click fills the form with one.
pub fn saved_list(ui: &mut Ui, form: &mut ConnectForm, saved: &[SavedServer]) {
    ui.heading("Saved servers");
    ui.add_space(4.0);
    if saved.is_empty() {
        ui.weak("None yet: fill in the form and press “Save”.");
    }
    for (index, server) in saved.iter().enumerate() {
        let selected = form.selected == Some(index);
        let label = format!("{}  ·  {}", server.label(), server.nick);
        if ui.selectable_label(selected, label).clicked() {
            *form = ConnectForm::from_saved(server, Some(index));
        }
    }
}

/// Draws the connect form; returns what the user asked for, if anything.
pub fn show(ui: &mut Ui, form: &mut ConnectForm) -> Option<ConnectAction> {
    ui.heading("Connect to a server");
    ui.add_space(6.0);
    form_ui(ui, form)
}

fn field(
    ui: &mut Ui,
    label: &str,
    value: &mut String,
    hint: &str,
    password: bool,
) -> egui::Response {
    ui.label(label);
    let response = ui
        .add(
            egui::TextEdit::singleline(value)
                .hint_text(hint.to_owned())
                .password(password)
                .desired_width(260.0),
        )
        .accessible_name(label);
    ui.end_row();
    response
}

fn form_ui(ui: &mut Ui, form: &mut ConnectForm) -> Option<ConnectAction> {
    let mut submitted = false;
    egui::Grid::new("connect-form")
        .num_columns(2)
        .spacing([12.0, 8.0])
        .show(ui, |ui| {
            field(ui, "Name", &mut form.name, "optional, e.g. Casa", false);
            let host = field(ui, "Host", &mut form.host, "irc.example.org", false);
            let port = field(ui, "Port", &mut form.port, "6697", false);
            ui.label("");
            ui.checkbox(&mut form.tls, "Use TLS (encrypted)");
            ui.end_row();
            let nick = field(ui, "Nick", &mut form.nick, "e.g. Ñandú", false);
            field(ui, "Account", &mut form.account, "optional", false);
            let password = field(ui, "Password", &mut form.password, "not saved", true);
            ui.label("");
            ui.add_enabled(
                !form.account.trim().is_empty(),
                egui::Checkbox::new(&mut form.register, "Register this account on connect"),
            )
            .on_disabled_hover_text("Enter an account name to register it.");
            ui.end_row();
            if form.register && !form.account.trim().is_empty() {
                field(ui, "E-mail", &mut form.email, "if the server asks", false);
            }
            field(ui, "Channels", &mut form.autojoin, "#charla #ayuda", false);
            let enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
            submitted = enter
                && (host.lost_focus()
                    || port.lost_focus()
                    || nick.lost_focus()
                    || password.lost_focus());
        });
    ui.add_space(8.0);
    let mut action = None;
    ui.horizontal(|ui| {
        if ui.button(RichText::new("Connect").strong()).clicked() || submitted {
            match form.to_action() {
                Ok(a) => {
                    form.error = None;
                    action = Some(a);
                }
                Err(e) => form.error = Some(e),
            }
        }
        if ui.button("Save").clicked() {
            match form.to_saved() {
                Ok(saved) => {
                    form.error = None;
                    action = Some(ConnectAction::Save(saved, form.selected));
                }
                Err(e) => form.error = Some(e),
            }
        }
        if let Some(index) = form.selected
            && ui.button("Delete").clicked()
        {
            action = Some(ConnectAction::Delete(index));
            *form = ConnectForm::default();
        }
    });
    if let Some(error) = &form.error {
        ui.add_space(6.0);
        ui.colored_label(theme::DANGER, error);
    }
    action
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ConnectForm {
        ConnectForm {
            host: "127.0.0.1".into(),
            port: "6667".into(),
            nick: "Ñandú".into(),
            autojoin: "charla, #ayuda".into(),
            ..ConnectForm::default()
        }
    }

    #[test]
    fn a_good_form_becomes_a_client_config() {
        let Ok(ConnectAction::Connect { config, register }) = form().to_action() else {
            panic!("form should be valid");
        };
        assert_eq!(config.nick, "Ñandú");
        assert_eq!(config.port, 6667);
        assert!(!config.tls);
        assert_eq!(config.autojoin, vec!["#charla", "#ayuda"]);
        assert!(config.sasl.is_none() && register.is_none());
    }

    #[test]
    fn mistakes_are_explained_in_words() {
        let mut bad = form();
        bad.port = "seis".into();
        assert!(
            bad.to_action()
                .err()
                .is_some_and(|e| e.contains("1 to 65535"))
        );
        let mut bad = form();
        bad.nick = "a b".into();
        assert!(
            bad.to_action()
                .err()
                .is_some_and(|e| e.contains("cannot be a nick"))
        );
        let mut bad = form();
        bad.account = "ana".into();
        assert!(
            bad.to_action()
                .err()
                .is_some_and(|e| e.contains("password"))
        );
    }

    #[test]
    fn account_means_sasl_or_registration() {
        let mut f = form();
        f.account = "ana".into();
        f.password = "secreto".into();
        let Ok(ConnectAction::Connect { config, register }) = f.to_action() else {
            panic!("valid");
        };
        assert_eq!(config.sasl.map(|s| s.account), Some("ana".to_owned()));
        assert!(register.is_none());
        f.register = true;
        let Ok(ConnectAction::Connect { config, register }) = f.to_action() else {
            panic!("valid");
        };
        assert!(config.sasl.is_none());
        assert_eq!(register.map(|r| r.account), Some("ana".to_owned()));
    }
}
