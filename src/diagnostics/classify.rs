//! Classifiers: raw codes from the Web Connector and QuickBooks to findings.

use super::{catalog, Finding};

/// Parses an HRESULT written as hex (`0x80040420`, `80040420`, any case)
/// or as the signed 32-bit decimal .NET prints (`-2147220448`).
pub fn parse_hresult(s: &str) -> Option<u32> {
    let s = s.trim();
    if let Some(neg) = s.strip_prefix('-') {
        return neg.parse::<u32>().ok().and_then(|n| i32::try_from(-i64::from(n)).ok()).map(|n| n as u32);
    }
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return u32::from_str_radix(hex, 16).ok();
    }
    None
}

/// The canonical form: `0x` and eight upper-case hex digits.
fn canonical_hresult(n: u32) -> String {
    format!("0x{n:08X}")
}

/// Classifies an HRESULT from `connectionError` or `receiveResponseXML`.
/// Never blank: an unknown code gets the generic entry with QuickBooks'
/// message verbatim.
pub fn classify_hresult(hresult: &str, message: &str) -> Finding {
    let code = parse_hresult(hresult).map(canonical_hresult).unwrap_or_else(|| hresult.trim().to_owned());
    let entry =
        catalog().get(&code).or_else(|| catalog().get("hresult.unknown")).or_else(|| catalog().get("server.internal"));
    let finding = match entry {
        Some(e) => Finding { code, entry: e, detail: None },
        None => Finding::from_code(&code),
    };
    finding.with_detail(message.trim())
}

/// Classifies one `…Rs` status. `None` when it is not a problem: 0, and
/// Info-severity codes such as 1 ("no match").
pub fn classify_status(status_code: i64, severity: &str, message: &str) -> Option<Finding> {
    if status_code == 0 || severity == "Info" {
        return None;
    }
    status_finding(status_code, Some(severity), message)
}

/// The finding for a status code: its own entry, its family's, or the
/// generic one for its severity.
pub(super) fn status_finding(status_code: i64, severity: Option<&str>, message: &str) -> Option<Finding> {
    let code = format!("qbxml.{status_code}");
    let family = match status_code {
        3000..=3070 => Some("qbxml.3000-3070"),
        9100..=9199 => Some("qbxml.9100-9199"),
        _ => None,
    };
    let generic = match severity {
        Some("Warn") => "qbxml.warning",
        Some("Info") => "qbxml.info",
        _ if (500..1000).contains(&status_code) => "qbxml.warning",
        _ if status_code < 500 => "qbxml.info",
        _ => "qbxml.error",
    };
    let entry =
        catalog().get(&code).or_else(|| family.and_then(|f| catalog().get(f))).or_else(|| catalog().get(generic))?;
    Some(Finding { code, entry, detail: None }.with_detail(message.trim()))
}

/// Whether an HRESULT from `receiveResponseXML` proves QuickBooks did not
/// process the request, so a write may be marked failed rather than
/// unknown: the request could not be parsed, asked for an unsupported
/// version, or carried a dead ticket.
pub fn hresult_means_not_processed(hresult: &str) -> bool {
    matches!(parse_hresult(hresult), Some(0x8004_0400 | 0x8004_0423 | 0x8004_040D))
}
