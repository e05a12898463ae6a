//! Rows of measured figures against their targets, printed as a table and
//! written as Markdown. A miss is a row like any other: nothing here fails.

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy)]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
    /// Context for the analysis; no target.
    Info,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub metric: String,
    pub value: f64,
    pub unit: &'static str,
    pub target: Target,
}

impl Row {
    pub fn at_most(metric: impl Into<String>, value: f64, unit: &'static str, limit: f64) -> Self {
        Self::new(metric, value, unit, Target::AtMost(limit))
    }

    pub fn at_least(metric: impl Into<String>, value: f64, unit: &'static str, floor: f64) -> Self {
        Self::new(metric, value, unit, Target::AtLeast(floor))
    }

    pub fn info(metric: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Self::new(metric, value, unit, Target::Info)
    }

    fn new(metric: impl Into<String>, value: f64, unit: &'static str, target: Target) -> Self {
        Self {
            metric: metric.into(),
            value,
            unit,
            target,
        }
    }

    /// A value that could not be measured (NaN) never passes.
    pub fn verdict(&self) -> &'static str {
        match self.target {
            Target::AtMost(limit) if self.value <= limit => "PASS",
            Target::AtLeast(floor) if self.value >= floor => "PASS",
            Target::Info => "",
            _ => "MISS",
        }
    }

    fn measured(&self) -> String {
        with_unit(number(self.value), self.unit)
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::AtMost(limit) => format!("≤ {}", with_unit(number(limit), self.unit)),
            Target::AtLeast(floor) => format!("≥ {}", with_unit(number(floor), self.unit)),
            Target::Info => String::new(),
        }
    }
}

/// What one scenario produced, with the machine load around it.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    pub name: &'static str,
    pub load_before: String,
    pub load_after: String,
    pub seconds: f64,
    pub rows: Vec<Row>,
    /// Set when the scenario could not finish; its rows are what it got.
    pub error: Option<String>,
}

pub fn print_scenario(report: &ScenarioReport) {
    println!();
    println!(
        "{} ({:.0} s; load average {} before, {} after)",
        report.name, report.seconds, report.load_before, report.load_after
    );
    print_rows(report.rows.iter().map(|r| (report.name, r)).collect());
    if let Some(error) = &report.error {
        println!("  ERROR: {error}");
    }
}

pub fn print_summary(reports: &[ScenarioReport]) {
    println!();
    println!("Summary (targets only)");
    let rows: Vec<(&str, &Row)> = reports
        .iter()
        .flat_map(|s| s.rows.iter().map(move |r| (s.name, r)))
        .filter(|(_, r)| !matches!(r.target, Target::Info))
        .collect();
    print_rows(rows);
    for report in reports.iter().filter(|r| r.error.is_some()) {
        println!(
            "{}: ERROR {}",
            report.name,
            report.error.as_deref().unwrap_or("")
        );
    }
}

fn print_rows(rows: Vec<(&str, &Row)>) {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|(scenario, row)| {
            [
                scenario.to_string(),
                row.metric.clone(),
                row.measured(),
                row.target_text(),
                row.verdict().to_owned(),
            ]
        })
        .collect();
    let header = ["scenario", "metric", "measured", "target", "result"].map(String::from);
    let mut widths = [0usize; 5];
    for line in std::iter::once(&header).chain(cells.iter()) {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for line in std::iter::once(&header).chain(cells.iter()) {
        let mut out = String::new();
        for (i, (width, cell)) in widths.iter().zip(line).enumerate() {
            let pad = width - cell.chars().count();
            // Numbers read best right-aligned.
            if i == 2 || i == 3 {
                let _ = write!(out, "{}{}  ", " ".repeat(pad), cell);
            } else {
                let _ = write!(out, "{}{}  ", cell, " ".repeat(pad));
            }
        }
        println!("  {}", out.trim_end());
    }
}

/// The figures as a Markdown table, for `docs/benchmarks.md`.
pub fn markdown(reports: &[ScenarioReport], date: &str, machine: &[(&str, String)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Measured {date}.\n");
    for (key, value) in machine {
        let _ = writeln!(out, "- {key}: {value}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| scenario | metric | measured | target | result |\n|---|---|--:|--:|---|"
    );
    for report in reports {
        for row in &report.rows {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                report.name,
                row.metric,
                row.measured(),
                row.target_text(),
                row.verdict()
            );
        }
        if let Some(error) = &report.error {
            let _ = writeln!(out, "| `{}` | ERROR: {error} | | | |", report.name);
        }
    }
    let _ = writeln!(out, "\nLoad average (1, 5, 15 min) around each scenario:\n");
    for report in reports {
        let _ = writeln!(
            out,
            "- `{}`: {} before, {} after ({:.0} s)",
            report.name, report.load_before, report.load_after, report.seconds
        );
    }
    out
}

fn with_unit(number: String, unit: &str) -> String {
    if unit.is_empty() {
        number
    } else {
        format!("{number} {unit}")
    }
}

/// Enough digits to read, never more: 2,140 · 312 · 41.3 · 1.27 · 0.412.
fn number(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".into();
    }
    let magnitude = value.abs();
    if magnitude < 1000.0 && value.fract() == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 1000.0 {
        let digits = format!("{:.0}", magnitude);
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if value < 0.0 {
            grouped.insert(0, '-');
        }
        grouped
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}
