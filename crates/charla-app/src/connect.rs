//! The connect screen: the saved servers on the left, the form on the right (host, port, TLS,
//! nick), "Log in with an account" (account, password, how, an optional client certificate)
//! and "Create an account" after connecting.
//!
//! The password field is masked and never saved with the server: the app keeps it in the
//! system keyring when it can ([`secrets`](crate::secrets)), and asks for it otherwise.

use charla_client::{ClientCertificate, SaslConfig, SaslMechanism, ServerConfig};
use egui::{RichText, Ui};

use crate::config::SavedServer;
use crate::secrets::SecretKey;
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
    /// Account password (never saved to the settings file).
    pub password: String,
    /// Keep the password in the system keyring.
    pub remember_password: bool,
    /// How to log in.
    pub mechanism: SaslMechanism,
    /// The client certificate's PEM file (empty: none).
    pub certificate: String,
    /// The client certificate's key, PEM (empty: in the certificate's file).
    pub key: String,
    /// Disconnect when logging in fails.
    pub require_login: bool,
    /// Create the account once connected (`REGISTER`) instead of logging in.
    pub register: bool,
    /// E-mail for registration.
    pub email: String,
    /// Channels to join, separated by spaces or commas.
    pub autojoin: String,
    /// Other servers of the same network, separated by spaces or commas.
    pub also: String,
    /// Which saved server the form was filled from.
    pub selected: Option<usize>,
    /// "Delete" was pressed: the dialog asks before the saved server goes.
    pub confirm_delete: bool,
    /// The last problem with what the user entered (or with the connection), in words.
    pub error: Option<String>,
    /// What the keyring said about the password, in words (no keyring, not remembered...).
    pub keyring_note: Option<String>,
    /// The server and account whose password was last looked up in the keyring.
    pub looked_up: Option<SecretKey>,
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
            remember_password: saved.use_keyring,
            mechanism: saved.mechanism,
            certificate: saved
                .client_certificate
                .as_ref()
                .map(|c| c.certificate.display().to_string())
                .unwrap_or_default(),
            key: saved
                .client_certificate
                .as_ref()
                .map(|c| c.key.display().to_string())
                .unwrap_or_default(),
            require_login: saved.require_login,
            register: false,
            email: String::new(),
            autojoin: saved.autojoin.join(" "),
            also: saved.also.join(" "),
            selected: index,
            confirm_delete: false,
            error: None,
            keyring_note: None,
            looked_up: None,
        }
    }

    /// The keyring entry for the account in the form, if it names a server and an account.
    pub fn secret_key(&self) -> Option<SecretKey> {
        let port = self.port().ok()?;
        let (host, account) = (self.host.trim(), self.account.trim());
        (!host.is_empty() && !account.is_empty()).then(|| SecretKey::new(host, port, account))
    }

    fn client_certificate(&self) -> Option<ClientCertificate> {
        let certificate = self.certificate.trim();
        if certificate.is_empty() {
            return None;
        }
        let key = match self.key.trim() {
            "" => certificate,
            key => key,
        };
        Some(ClientCertificate {
            certificate: certificate.into(),
            key: key.into(),
        })
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
            mechanism: self.mechanism,
            client_certificate: self.client_certificate(),
            require_login: self.require_login,
            use_keyring: self.remember_password,
            autojoin: self.autojoin(),
            also: self
                .also
                .split([' ', ','])
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
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
        config.also = saved.also.clone();
        if saved.client_certificate.is_some() && !saved.tls {
            return Err("A client certificate needs TLS: tick “Use TLS”.".to_owned());
        }
        config.client_certificate = saved.client_certificate.clone();
        let by_certificate = saved.mechanism == SaslMechanism::External
            || (self.password.is_empty() && saved.client_certificate.is_some());
        if saved.mechanism == SaslMechanism::External && saved.client_certificate.is_none() {
            return Err(
                "Choose the client certificate file to log in with a certificate.".to_owned(),
            );
        }
        let register = match &saved.account {
            Some(account) if self.register => {
                if self.password.is_empty() {
                    return Err(format!(
                        "Choose a password for the new account “{account}”."
                    ));
                }
                Some(Registration {
                    account: account.clone(),
                    password: self.password.clone(),
                    email: (!self.email.trim().is_empty()).then(|| self.email.trim().to_owned()),
                })
            }
            None if self.register => {
                return Err("Enter the name of the account to create.".to_owned());
            }
            account => {
                let account = account.clone().unwrap_or_default();
                if by_certificate {
                    config.sasl = Some(SaslConfig {
                        account,
                        password: String::new(),
                        mechanism: SaslMechanism::External,
                        required: saved.require_login,
                    });
                } else if !account.is_empty() {
                    if self.password.is_empty() {
                        return Err(format!("Enter the password of the account “{account}”."));
                    }
                    config.sasl = Some(SaslConfig {
                        account,
                        password: self.password.clone(),
                        mechanism: saved.mechanism,
                        required: saved.require_login,
                    });
                }
                None
            }
        };
        Ok(ConnectAction::Connect { config, register })
    }
}

/// The login method in words, for the method menu.
pub fn method_name(mechanism: SaslMechanism) -> &'static str {
    match mechanism {
        SaslMechanism::Auto => "Automatic (the safest the server offers)",
        SaslMechanism::ScramSha256 => "SCRAM-SHA-256 (password never sent)",
        SaslMechanism::Plain => "PLAIN (password sent over TLS)",
        SaslMechanism::External => "Client certificate (EXTERNAL)",
    }
}

/// Draws the saved servers; a click fills the form with one.
pub fn saved_list(ui: &mut Ui, form: &mut ConnectForm, saved: &[SavedServer]) {
    ui.heading("Saved servers");
    ui.add_space(4.0);
    if saved.is_empty() {
        theme::hint(ui, "None yet: fill in the form and press “Save”.");
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
            let was_tls = form.tls;
            ui.checkbox(&mut form.tls, "Use TLS (encrypted)");
            if form.tls != was_tls {
                form.port = usual_port(&form.port, form.tls);
            }
            ui.end_row();
            let nick = field(ui, "Nick", &mut form.nick, "e.g. Ñandú", false);
            ui.label(RichText::new("Log in with an account").strong());
            theme::hint(ui, "optional");
            ui.end_row();
            field(ui, "Account", &mut form.account, "account name", false);
            let password = field(
                ui,
                "Password",
                &mut form.password,
                "kept in the system keyring",
                true,
            );
            ui.label("");
            ui.checkbox(
                &mut form.remember_password,
                "Remember the password (system keyring)",
            );
            ui.end_row();
            if let Some(note) = &form.keyring_note {
                ui.label("");
                theme::hint(ui, note);
                ui.end_row();
            }
            ui.label("Method");
            egui::ComboBox::from_id_salt("login-method")
                .selected_text(method_name(form.mechanism))
                .show_ui(ui, |ui| {
                    for m in [
                        SaslMechanism::Auto,
                        SaslMechanism::ScramSha256,
                        SaslMechanism::Plain,
                        SaslMechanism::External,
                    ] {
                        ui.selectable_value(&mut form.mechanism, m, method_name(m));
                    }
                })
                .response
                .accessible_name("Login method");
            ui.end_row();
            field(
                ui,
                "Client certificate",
                &mut form.certificate,
                "optional: PEM file, for logging in without a password",
                false,
            );
            if !form.certificate.trim().is_empty() {
                field(
                    ui,
                    "Certificate key",
                    &mut form.key,
                    "PEM file; empty if in the certificate's file",
                    false,
                );
            }
            ui.label("");
            ui.checkbox(&mut form.require_login, "Disconnect if logging in fails");
            ui.end_row();
            ui.label("");
            ui.add_enabled(
                !form.account.trim().is_empty(),
                egui::Checkbox::new(&mut form.register, "Create this account after connecting"),
            )
            .on_disabled_hover_text("Enter an account name to create it.");
            ui.end_row();
            if form.register && !form.account.trim().is_empty() {
                field(ui, "E-mail", &mut form.email, "if the server asks", false);
            }
            field(ui, "Channels", &mut form.autojoin, "#charla #ayuda", false);
            field(
                ui,
                "Other servers",
                &mut form.also,
                "of the same network, if this one is down: dos.example.org:6697",
                false,
            );
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
        // Always there (greyed out without a saved server), so that no button moves when one
        // is selected or saved; and it asks first.
        if ui
            .add_enabled(form.selected.is_some(), egui::Button::new("Delete"))
            .on_disabled_hover_text("Choose a saved server on the left to delete it.")
            .clicked()
        {
            form.confirm_delete = true;
        }
    });
    if form.confirm_delete
        && let Some(index) = form.selected
    {
        let mut answer = None;
        egui::Modal::new(egui::Id::unique("confirm-delete-server")).show(ui.ctx(), |ui| {
            ui.set_max_width(360.0);
            ui.heading("Delete this saved server?");
            ui.label("Its host, nick and settings are forgotten on this computer.");
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button("Delete server").clicked() {
                    answer = Some(true);
                }
                if ui.button("Cancel").clicked() {
                    answer = Some(false);
                }
            });
        });
        match answer {
            Some(true) => {
                action = Some(ConnectAction::Delete(index));
                *form = ConnectForm::default();
            }
            Some(false) => form.confirm_delete = false,
            None => {}
        }
    }
    if let Some(error) = &form.error {
        ui.add_space(6.0);
        ui.colored_label(theme::DANGER, error);
    }
    action
}

/// The port to show when TLS is switched: the usual one for the new choice (6697 with TLS, 6667
/// without) if the port was the usual one for the old; a port the user chose stays.
fn usual_port(port: &str, tls: bool) -> String {
    match (port.trim(), tls) {
        ("6667", true) => "6697".to_owned(),
        ("6697", false) => "6667".to_owned(),
        _ => port.to_owned(),
    }
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
        assert!(config.also.is_empty());
    }

    #[test]
    fn other_servers_of_the_network_are_kept_and_given_to_the_client() {
        let mut f = form();
        f.also = "dos.example.org:6697, tres.example.org".into();
        let saved = f.to_saved().expect("saved");
        assert_eq!(saved.also, vec!["dos.example.org:6697", "tres.example.org"]);
        assert_eq!(
            ConnectForm::from_saved(&saved, None).also,
            "dos.example.org:6697 tres.example.org"
        );
        let Ok(ConnectAction::Connect { config, .. }) = f.to_action() else {
            panic!("form should be valid");
        };
        assert_eq!(config.also, saved.also);
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
        assert_eq!(
            f.secret_key(),
            Some(SecretKey::new("127.0.0.1", 6667, "ana")),
            "the keyring entry is the server and the account"
        );
        f.register = true;
        let Ok(ConnectAction::Connect { config, register }) = f.to_action() else {
            panic!("valid");
        };
        assert!(config.sasl.is_none());
        assert_eq!(register.map(|r| r.account), Some("ana".to_owned()));
    }

    #[test]
    fn a_certificate_without_a_password_logs_in_with_external() {
        let mut f = form();
        f.certificate = "/home/ana/ana.pem".into();
        assert!(
            f.to_action().err().is_some_and(|e| e.contains("needs TLS")),
            "a certificate travels in the TLS handshake"
        );
        f.tls = true;
        let Ok(ConnectAction::Connect { config, .. }) = f.to_action() else {
            panic!("valid");
        };
        let sasl = config.sasl.expect("sasl");
        assert_eq!(sasl.mechanism, SaslMechanism::External);
        assert!(sasl.password.is_empty());
        let cert = config.client_certificate.expect("certificate");
        assert_eq!(cert.key, cert.certificate, "the key may share the file");
        let mut f = form();
        f.mechanism = SaslMechanism::External;
        assert!(
            f.to_action()
                .err()
                .is_some_and(|e| e.contains("client certificate file"))
        );
    }
}
