//! `qbwcd diagnose FILE|-`: explains every error in a Web Connector log.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use anyhow::Context;

use crate::diagnostics::qwclog::{decode, diagnose_log, LogFinding};

/// Steps printed under a code; `qbwcd explain CODE` shows them all.
const FIRST_STEPS: usize = 3;

/// Reads the log (a file or stdin), decodes it and prints what each error
/// means. Finding nothing is not a failure.
pub(super) fn run(file: &Path, json: bool) -> anyhow::Result<()> {
    let bytes = if file.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b).context("cannot read stdin")?;
        b
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let text = decode(&bytes);
    let findings = diagnose_log(&text);
    if json {
        super::output::json(&findings)?;
    } else {
        crate::outln!("{}", report(&findings, text.lines().count()).trim_end())?;
    }
    Ok(())
}

/// The human report: each finding with its line, code and title; the first
/// steps once per code.
fn report(findings: &[LogFinding], lines: usize) -> String {
    let mut out = String::new();
    if findings.is_empty() {
        out.push_str(&format!("No errors found in {lines} lines.\n"));
        return out;
    }
    let mut explained = HashSet::new();
    for f in findings {
        let (code, entry) = (&f.finding.code, f.finding.entry);
        let also = match f.also_on_lines.as_slice() {
            [] => String::new(),
            lines => format!(" (again on {})", lines.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
        };
        out.push_str(&format!("line {}{also}: {code}  {}\n", f.line_number, entry.title));
        out.push_str(&format!("    {}\n", f.line.trim()));
        if let Some(d) = &f.finding.detail {
            out.push_str(&format!("    QuickBooks says: {d}\n"));
        }
        if explained.insert(code.clone()) {
            for (i, step) in entry.steps.iter().take(FIRST_STEPS).enumerate() {
                out.push_str(&format!("    {}. {step}\n", i + 1));
            }
            if entry.steps.len() > FIRST_STEPS {
                out.push_str(&format!("    … `qbwcd explain {code}` shows all {} steps\n", entry.steps.len()));
            }
        } else {
            out.push_str("    (steps above)\n");
        }
        out.push('\n');
    }
    let codes: Vec<&str> = {
        let mut seen = HashSet::new();
        findings.iter().map(|f| f.finding.code.as_str()).filter(|c| seen.insert(*c)).collect()
    };
    out.push_str(&format!(
        "{} error{} in {lines} lines: {}\n",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        codes.join(", ")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_gives_steps_once_per_code() {
        let findings = diagnose_log("a QBWC1012: x\nb QBWC1012: y\n");
        let r = report(&findings, 2);
        assert!(r.contains("line 1: QBWC1012") && r.contains("line 2: QBWC1012"), "{r}");
        assert_eq!(r.matches("    1. ").count(), 1, "{r}");
        assert!(r.contains("(steps above)"));
        assert!(report(&[], 7).contains("No errors found in 7 lines"));
    }
}
