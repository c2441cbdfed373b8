//! The certificate prompt: trust on first use shows the fingerprint with Trust/Cancel; a
//! certificate that differs from the pinned one is refused in red, both fingerprints shown.
//! The decision goes to charla-client, which pins and reconnects.

use charla_client::{CertificateIssue, Command};
use egui::{RichText, Ui};

use crate::session::Session;
use crate::theme;

/// The certificate question of the first session that has one: a modal with the
/// fingerprint and Trust/Cancel, or a red refusal when the pinned certificate changed.
pub fn show(ui: &mut Ui, sessions: &mut [Session]) {
    let Some(session) = sessions
        .iter_mut()
        .find(|s| s.state.certificate.is_some() && !s.certificate_dismissed)
    else {
        return;
    };
    let Some(issue) = session.state.certificate.clone() else {
        return;
    };
    let mut command = None;
    let mut dismiss = false;
    egui::Modal::new(egui::Id::unique(("certificate", session.key))).show(ui.ctx(), |ui| {
        ui.set_max_width(if matches!(issue, CertificateIssue::Changed { .. }) {
            820.0
        } else {
            520.0
        });
        match &issue {
            CertificateIssue::Unknown {
                host,
                port,
                fingerprint,
            } => {
                ui.heading("Trust this server's certificate?");
                ui.add_space(6.0);
                ui.label(format!(
                    "{host}:{port} presented a certificate that no known authority signed \
                     (self-signed). If its fingerprint matches the one the server's operator \
                     gave you, trust it: Charla will remember it and warn you if it ever changes."
                ));
                ui.add_space(6.0);
                ui.label(RichText::new("SHA-256 fingerprint").strong());
                ui.label(RichText::new(fingerprint).monospace());
                ui.add_space(10.0);
                ui.horizontal(|ui| {
                    if ui.button(RichText::new("Trust").strong()).clicked() {
                        command = Some(Command::TrustCertificate {
                            fingerprint: fingerprint.clone(),
                        });
                        dismiss = true;
                    }
                    if ui.button("Cancel").clicked() {
                        command = Some(Command::Disconnect { reason: None });
                        dismiss = true;
                    }
                });
            }
            CertificateIssue::Changed {
                host,
                port,
                expected,
                got,
            } => {
                egui::Frame::new()
                    .fill(theme::DANGER)
                    .inner_margin(10.0)
                    .corner_radius(6.0)
                    .show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        ui.label(
                            RichText::new("⚠ Connection refused: the certificate has CHANGED")
                                .heading()
                                .strong()
                                .color(egui::Color32::WHITE),
                        );
                        ui.label(
                            RichText::new(format!(
                                "{host}:{port} presented a different certificate from the one \
                                 you trusted. Someone may be intercepting the connection. \
                                 Charla did not connect."
                            ))
                            .color(egui::Color32::WHITE),
                        );
                    });
                ui.add_space(6.0);
                egui::Grid::new("fingerprints")
                    .num_columns(2)
                    .show(ui, |ui| {
                        ui.label("Trusted:");
                        ui.label(RichText::new(expected).monospace());
                        ui.end_row();
                        ui.label("Presented:");
                        ui.label(RichText::new(got).monospace().color(theme::DANGER));
                        ui.end_row();
                    });
                ui.add_space(10.0);
                if ui.button("Close").clicked() {
                    // Not connecting is the answer: the client says so in the status.
                    command = Some(Command::Disconnect { reason: None });
                    dismiss = true;
                }
                ui.add_space(6.0);
                ui.collapsing("The operator changed the certificate on purpose", |ui| {
                    ui.label(
                        "Only if the operator told you the new fingerprint above and it \
                         matches, you may trust the new certificate.",
                    );
                    if ui.button("Trust the new certificate").clicked() {
                        command = Some(Command::TrustCertificate {
                            fingerprint: got.clone(),
                        });
                        dismiss = true;
                    }
                });
            }
        }
    });
    if let Some(command) = command {
        session.send(command);
    }
    if dismiss {
        session.certificate_dismissed = true;
    }
}
