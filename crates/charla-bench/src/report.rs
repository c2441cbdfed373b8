//! A scenario's result: named figures with units, a verdict, notes; printed for people or as
//! one JSON object for `bench/compare.sh`.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

/// How a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Measured; no pass/fail criterion applies.
    Measured,
    /// The abuse criterion held.
    Pass,
    /// The abuse criterion did not hold (see the notes).
    Fail,
    /// The server does not offer what the scenario needs; no figures were made up.
    Unsupported,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Self::Measured => "measured",
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Unsupported => "not supported",
        }
    }
}

/// One figure.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Stable key for scripts, e.g. `deliveries_per_cpu_s`.
    pub key: String,
    /// The value.
    pub value: f64,
    /// Unit shown to people, e.g. `lines/s`.
    pub unit: &'static str,
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Scenario name.
    pub scenario: &'static str,
    /// The server's label.
    pub label: String,
    /// The address measured.
    pub addr: String,
    /// How it ended.
    pub verdict: Verdict,
    /// The figures, in the order they are printed.
    pub metrics: Vec<Metric>,
    /// Free-form remarks: parameters, reasons for a FAIL, what was not measured.
    pub notes: Vec<String>,
}

impl Report {
    /// A report with no figures yet.
    pub fn new(scenario: &'static str, label: &str, addr: &str) -> Self {
        Self {
            scenario,
            label: label.to_owned(),
            addr: addr.to_owned(),
            verdict: Verdict::Measured,
            metrics: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a figure.
    pub fn metric(&mut self, key: impl Into<String>, value: f64, unit: &'static str) {
        self.metrics.push(Metric {
            key: key.into(),
            value,
            unit,
        });
    }

    /// Adds a remark.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Checks one abuse criterion: the verdict becomes FAIL (with the reason noted) if it does
    /// not hold, PASS if it holds and nothing failed before.
    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        if ok {
            if self.verdict != Verdict::Fail {
                self.verdict = Verdict::Pass;
            }
            self.notes.push(format!("ok: {what}"));
        } else {
            self.verdict = Verdict::Fail;
            self.notes.push(format!("FAILED: {what}"));
        }
    }

    /// One JSON object: `{"scenario", "label", "addr", "verdict", "metrics": {key: value},
    /// "units": {key: unit}, "notes": [...]}`.
    pub fn to_json(&self) -> Value {
        let mut metrics = Map::new();
        let mut units = Map::new();
        for m in &self.metrics {
            let value = if m.value.is_finite() {
                json!(m.value)
            } else {
                Value::Null
            };
            metrics.insert(m.key.clone(), value);
            units.insert(m.key.clone(), json!(m.unit));
        }
        json!({
            "scenario": self.scenario,
            "label": self.label,
            "addr": self.addr,
            "verdict": self.verdict.as_str(),
            "metrics": metrics,
            "units": units,
            "notes": self.notes,
        })
    }

    /// The summary for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "charla-bench {} against {} ({})",
            self.scenario, self.label, self.addr
        );
        let width = self.metrics.iter().map(|m| m.key.len()).max().unwrap_or(0);
        for m in &self.metrics {
            let _ = writeln!(
                out,
                "  {:<width$}  {:>14} {}",
                m.key,
                format_number(m.value),
                m.unit
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "  - {n}");
        }
        let _ = writeln!(out, "  verdict: {}", self.verdict.as_str());
        out
    }
}

/// Thousands separated by `,` for large numbers, three decimals for small ones.
pub fn format_number(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v.abs() >= 1_000.0 {
        let rounded = v.round() as i64;
        let digits = rounded.unsigned_abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if rounded < 0 {
            grouped.insert(0, '-');
        }
        grouped
    } else if v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_readable() {
        assert_eq!(format_number(1_234_567.4), "1,234,567");
        assert_eq!(format_number(-1_000.0), "-1,000");
        assert_eq!(format_number(12.0), "12");
        assert_eq!(format_number(0.1234), "0.123");
        assert_eq!(format_number(f64::NAN), "n/a");
    }

    #[test]
    fn checks_turn_the_verdict() {
        let mut r = Report::new("flood", "charla", "127.0.0.1:1");
        r.check(true, "a");
        assert_eq!(r.verdict, Verdict::Pass);
        r.check(false, "b");
        r.check(true, "c");
        assert_eq!(r.verdict, Verdict::Fail);
        r.metric("x", 2.5, "ms");
        let j = r.to_json();
        assert_eq!(j["verdict"], "FAIL");
        assert_eq!(j["metrics"]["x"], 2.5);
        assert!(r.to_text().contains("FAILED: b"));
    }
}
