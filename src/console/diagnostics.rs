//! `/admin/diagnostics`: the catalog searched by any code form (HRESULT in
//! hex or signed decimal, qbXML status, `QBWC1012`, `auth.bad_password`)
//! or by words of a title, and a pasted or uploaded QWCLog.txt read by the
//! same `diagnose` logic as `qbwcd diagnose`
//! ([`crate::diagnostics::qwclog`]).

use askama::Template;
use axum::extract::{Multipart, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::csrf::FORM_MAX_BYTES;
use super::page::{render, ConsoleError, Layout};
use super::session::Console;
use crate::app::AppState;
use crate::diagnostics::qwclog::{decode, diagnose_log, LogFinding};
use crate::diagnostics::{catalog, Entry, Finding};

/// Most entries a word search lists.
const MAX_MATCHES: usize = 25;

/// `?code=`.
#[derive(Debug, Default, Deserialize)]
pub struct DiagnosticsQuery {
    #[serde(default)]
    code: String,
}

/// One code found in a log, with every line that shows it.
struct LogGroup {
    finding: Finding,
    /// `(line number, the line)` in log order.
    lines: Vec<(usize, String)>,
}

/// What the log said, when one was sent.
struct LogReport {
    /// Lines read.
    lines: usize,
    /// Findings (one per event and code) in the log.
    findings: usize,
    groups: Vec<LogGroup>,
}

#[derive(Template)]
#[template(path = "console/diagnostics.html")]
struct DiagnosticsPage {
    layout: Layout,
    code: String,
    /// The entry the code names, in whatever form it was typed.
    found: Option<Finding>,
    /// Entries whose code or title holds the words, when no code matched.
    matches: Vec<&'static Entry>,
    log: Option<LogReport>,
    /// What is wrong with the log sent.
    log_error: Option<String>,
}

impl DiagnosticsPage {
    fn new(layout: Layout) -> Self {
        DiagnosticsPage { layout, code: String::new(), found: None, matches: Vec::new(), log: None, log_error: None }
    }
}

/// `GET /admin/diagnostics?code=`.
pub async fn show(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<DiagnosticsQuery>,
) -> Result<Response, ConsoleError> {
    let mut page = DiagnosticsPage::new(console.layout(&state, "Diagnostics", "diagnostics"));
    page.code = q.code.trim().chars().take(200).collect();
    if !page.code.is_empty() {
        page.found = catalog().explain(&page.code);
        if page.found.is_none() {
            page.matches = search(&page.code);
        }
    }
    Ok(render(&page))
}

/// Entries whose code or title contains every word of `words`
/// (case-insensitive), in catalog order.
fn search(words: &str) -> Vec<&'static Entry> {
    let words: Vec<String> = words.split_whitespace().map(str::to_lowercase).collect();
    catalog()
        .entries()
        .filter(|e| {
            let hay = format!("{} {}", e.code, e.title).to_lowercase();
            words.iter().all(|w| hay.contains(w.as_str()))
        })
        .take(MAX_MATCHES)
        .collect()
}

/// `POST /admin/diagnostics/log` (multipart: `file`, or `log` pasted):
/// the problems the log shows, grouped by code, with their steps. Nothing
/// is stored; the answer is the page itself.
pub async fn read_log(
    State(state): State<AppState>,
    console: Console,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ConsoleError> {
    let mut page = DiagnosticsPage::new(console.layout(&state, "Diagnostics", "diagnostics"));
    match log_text(multipart).await {
        Ok(text) if text.trim().is_empty() => {
            page.log_error = Some("the log is empty: paste its text or choose QWCLog.txt".into());
        }
        Ok(text) => page.log = Some(report(&text)),
        Err(why) => page.log_error = Some(why),
    }
    Ok(render(&page))
}

/// The log's text: the uploaded file when one was chosen, else the pasted
/// text, decoded as `qbwcd diagnose` decodes a file.
async fn log_text(
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<String, String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("the form could not be read: {e}");
    let mut multipart = multipart.map_err(|e| unreadable(&e))?;
    let (mut file, mut pasted) = (None, None);
    while let Some(field) = multipart.next_field().await.map_err(|e| unreadable(&e))? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| unreadable(&e))?;
        match name.as_str() {
            "file" if !bytes.is_empty() => file = Some(bytes),
            "log" => pasted = Some(bytes),
            _ => {}
        }
    }
    if file.as_ref().is_some_and(|f| f.len() > FORM_MAX_BYTES) {
        return Err(format!("the log is larger than {} MiB", FORM_MAX_BYTES >> 20));
    }
    Ok(file.or(pasted).map(|b| decode(&b)).unwrap_or_default())
}

/// Findings grouped by code, in order of first appearance.
fn report(text: &str) -> LogReport {
    let findings = diagnose_log(text);
    let mut groups: Vec<LogGroup> = Vec::new();
    for LogFinding { line_number, line, finding, .. } in &findings {
        match groups.iter_mut().find(|g| g.finding.code == finding.code) {
            Some(g) => g.lines.push((*line_number, line.clone())),
            None => groups.push(LogGroup { finding: finding.clone(), lines: vec![(*line_number, line.clone())] }),
        }
    }
    LogReport { lines: text.lines().count(), findings: findings.len(), groups }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_is_grouped_by_code_in_order_of_first_appearance() {
        let log = "20240312.09:15:40 QBWC1012: Authentication failed\n\
                   20240312.09:16:00 HResult = 0x80040408\n\
                   20240312.09:17:00 QBWC1012: Authentication failed\n";
        let r = report(log);
        assert_eq!(r.lines, 3);
        assert_eq!(r.findings, 3);
        let codes: Vec<&str> = r.groups.iter().map(|g| g.finding.code.as_str()).collect();
        assert_eq!(codes, ["QBWC1012", "0x80040408"]);
        assert_eq!(r.groups[0].lines.iter().map(|l| l.0).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn words_find_entries_by_title_when_no_code_matches() {
        assert!(catalog().explain("permission").is_none());
        let found = search("PERMISSION");
        assert!(
            found.iter().any(|e| e.code == "qbxml.3260"),
            "{:?}",
            found.iter().map(|e| &e.code).collect::<Vec<_>>()
        );
        assert!(search("no-such-words-anywhere").is_empty());
    }
}
