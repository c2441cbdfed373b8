//! `charla`: the desktop app.

fn main() -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Charla")
            .with_inner_size([1100.0, 720.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_ui_native("Charla", options, |ui, _frame| {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("Charla ñ á ¿ 🎉");
            let _ = ui.button("Connect");
        });
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}
