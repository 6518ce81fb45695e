//! The diagnostics catalog: every error code qbwcd can meet, mapped to what
//! happened and the clicks that fix it. The catalog is data
//! (`catalog.toml`, embedded at build time); the same entry reaches the Web
//! Connector (`getLastError`), the logs, the API and `qbwcd explain`.

mod classify;
pub mod qwclog;

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

pub use classify::{classify_hresult, classify_status, hresult_means_not_processed, parse_hresult};

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; nothing failed.
    Info,
    /// Something is off or will fail later.
    Warning,
    /// Something failed.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// Who can fix a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fixer {
    /// The person at the QuickBooks PC.
    QuickbooksAdmin,
    /// Whoever runs qbwcd.
    ServerOperator,
    /// The application that enqueues the qbXML.
    IntegratingDeveloper,
}

impl std::fmt::Display for Fixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Fixer::QuickbooksAdmin => "the QuickBooks admin",
            Fixer::ServerOperator => "the qbwcd operator",
            Fixer::IntegratingDeveloper => "the integrating developer",
        })
    }
}

/// One catalog entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Stable code: `0x80040420`, `qbxml.3260`, `QBWC1012`, `auth.bad_password`.
    pub code: String,
    /// How bad.
    pub severity: Severity,
    /// Whether it clears by itself (retry later) rather than needing a person.
    pub transient: bool,
    /// Who fixes it.
    pub fixer: Fixer,
    /// One line a QuickBooks admin understands.
    pub title: String,
    /// Why it happens.
    pub cause: String,
    /// What to do, first step first, with exact menu paths.
    pub steps: Vec<String>,
    /// QuickBooks' own message for this code, where known verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Other codes with the same cause or fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub see_also: Vec<String>,
}

/// All entries, by code.
pub struct Catalog {
    entries: Vec<Entry>,
    by_code: HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    entry: Vec<Entry>,
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    // A malformed catalog is a build defect, caught by this module's tests.
    let file: CatalogFile = match toml::from_str(include_str!("catalog.toml")) {
        Ok(f) => f,
        Err(e) => panic!("src/diagnostics/catalog.toml is invalid: {e}"),
    };
    let by_code = file.entry.iter().enumerate().map(|(i, e)| (e.code.clone(), i)).collect();
    Catalog { entries: file.entry, by_code }
});

/// The catalog, parsed once.
pub fn catalog() -> &'static Catalog {
    &CATALOG
}

impl Catalog {
    /// An entry by canonical code.
    pub fn get(&self, code: &str) -> Option<&Entry> {
        self.by_code.get(code).map(|&i| &self.entries[i])
    }

    /// Every entry, in catalog order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Explains a code in any form people paste: `0x80040420`, `80040420`,
    /// `-2147220448`, `3260`, `qbxml.3260`, `QBWC1012`, `auth.bad_password`.
    /// Unknown HRESULTs and status codes get their family's entry.
    pub fn explain(&'static self, input: &str) -> Option<Finding> {
        let s = input.trim();
        if s.is_empty() {
            return None;
        }
        if let Some(e) = self.get(s) {
            return Some(Finding::new(s.to_owned(), e));
        }
        let lower = s.to_ascii_lowercase();
        if let Some(n) = lower.strip_prefix("qbwc") {
            let code = format!("QBWC{n}");
            return self.get(&code).map(|e| Finding::new(code, e));
        }
        if let Some(n) = lower.strip_prefix("qbxml.") {
            return n.parse::<i64>().ok().and_then(|n| classify::status_finding(n, None, ""));
        }
        if lower.contains('.') {
            return None;
        }
        // A bare decimal that fits a status code is one; anything else
        // numeric is an HRESULT (hex, or the signed decimal form).
        if let Ok(n) = s.parse::<i64>() {
            if (0..100_000).contains(&n) {
                return classify::status_finding(n, None, "");
            }
        }
        parse_hresult(s).map(|_| classify_hresult(s, ""))
    }
}

/// A classified problem: a catalog entry plus what QuickBooks said.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Canonical code (`0x80040420`, `qbxml.3045`, …); for a family entry
    /// this is the specific code met, not the family's.
    pub code: String,
    /// The entry that explains it.
    pub entry: &'static Entry,
    /// QuickBooks' own message verbatim, or qbwcd's context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Finding {
    fn new(code: String, entry: &'static Entry) -> Self {
        Finding { code, entry, detail: None }
    }

    /// The finding for one of qbwcd's own codes (`company.wrong_file`, …).
    /// An unknown code falls back to `server.internal`, keeping the code.
    pub fn from_code(code: &str) -> Finding {
        let entry = catalog().get(code).or_else(|| catalog().get("server.internal"));
        match entry {
            Some(e) => Finding::new(code.to_owned(), e),
            None => Finding::new(code.to_owned(), &FALLBACK),
        }
    }

    /// The same finding with context attached.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Finding {
        let d = detail.into();
        self.detail = (!d.trim().is_empty()).then_some(d);
        self
    }

    /// What is said about it on a job: the detail, else the entry's title.
    pub fn detail_or_title(&self) -> String {
        self.detail.clone().unwrap_or_else(|| self.entry.title.clone())
    }

    /// Whether it clears by itself.
    pub fn is_transient(&self) -> bool {
        self.entry.transient
    }

    /// One line for the Web Connector (`getLastError`, the status column):
    /// `[code] title. First step. (ref REF)`. Authentication entries all
    /// read the same, so nothing tells whether an account exists.
    pub fn one_line(&self, reference: &str) -> String {
        if self.code.starts_with("auth.") {
            return format!(
                "[auth] The user name or password was not accepted. Check both in the Web Connector, or ask the qbwcd administrator. (ref {reference})"
            );
        }
        let mut line = format!("[{}] {}", self.code, self.entry.title.trim_end_matches('.'));
        if let Some(first) = self.entry.steps.first() {
            line.push_str(". ");
            line.push_str(first.trim_end_matches('.'));
        }
        line.push_str(&format!(". (ref {reference})"));
        truncate_chars(line, 480)
    }
}

fn truncate_chars(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// Used only if the catalog lacks `server.internal` (a test forbids that).
static FALLBACK: LazyLock<Entry> = LazyLock::new(|| Entry {
    code: "server.internal".into(),
    severity: Severity::Error,
    transient: false,
    fixer: Fixer::ServerOperator,
    title: "qbwcd met an internal problem".into(),
    cause: "An error qbwcd has no catalog entry for.".into(),
    steps: vec!["Look up the reference in the qbwcd logs and events.".into()],
    message: None,
    see_also: Vec::new(),
});

#[cfg(test)]
mod tests;
