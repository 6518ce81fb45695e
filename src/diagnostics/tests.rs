use std::collections::HashSet;

use super::*;

#[test]
fn every_entry_has_a_title_a_cause_and_steps() {
    for e in catalog().entries() {
        assert!(!e.title.trim().is_empty(), "{} has no title", e.code);
        assert!(!e.cause.trim().is_empty(), "{} has no cause", e.code);
        assert!(!e.steps.is_empty(), "{} has no steps", e.code);
        assert!(e.steps.iter().all(|s| !s.trim().is_empty()), "{} has an empty step", e.code);
    }
}

#[test]
fn every_code_is_unique_and_canonical() {
    let mut seen = HashSet::new();
    for e in catalog().entries() {
        assert!(seen.insert(e.code.clone()), "{} appears twice", e.code);
        if let Some(hex) = e.code.strip_prefix("0x") {
            assert_eq!(hex.len(), 8, "{}", e.code);
            assert!(
                hex.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
                "{} is not upper-case hex",
                e.code
            );
        } else if let Some(n) = e.code.strip_prefix("QBWC") {
            assert!(n.parse::<u32>().is_ok(), "{}", e.code);
        } else {
            assert!(e.code.contains('.'), "{} is not namespaced", e.code);
        }
    }
}

#[test]
fn codes_the_server_emits_are_in_the_catalog() {
    for code in [
        "server.internal",
        "server.database_unavailable",
        "hresult.unknown",
        "qbxml.error",
        "qbxml.warning",
        "qbxml.info",
        "qbxml.3000-3070",
        "auth.unknown_user",
        "auth.bad_password",
        "auth.disabled",
        "auth.locked_out",
        "auth.no_company",
        "company.wrong_file",
        "company.path_mismatch",
        "company.unc_path",
        "company.name_changed",
        "hcp.auto_login_not_allowed",
        "hcp.personal_data_not_allowed",
        "hcp.multi_user_mode",
        "version.qbxml_above_ceiling",
        "iterator.page_limit",
        "version.qbwc_too_old",
        "session.concurrent_connector",
        "session.unknown_ticket",
        "session.answer_lost",
        "session.no_more_work",
        "job.dependency_failed",
        "job.attempts_exhausted",
    ] {
        assert!(catalog().get(code).is_some(), "{code} is missing");
    }
}

#[test]
fn hresults_are_explained_in_every_form() {
    for form in ["0x80040420", "0X80040420", "0x80040420 ", "80040420", "-2147220448"] {
        let f = catalog().explain(form).unwrap_or_else(|| panic!("{form} not explained"));
        assert_eq!(f.code, "0x80040420", "{form}");
    }
    assert_eq!(parse_hresult("-2147220448"), Some(0x8004_0420));
    assert_eq!(parse_hresult("nonsense"), None);
}

#[test]
fn status_codes_are_explained_bare_and_prefixed() {
    assert_eq!(catalog().explain("3260").unwrap().code, "qbxml.3260");
    assert_eq!(catalog().explain("qbxml.3260").unwrap().entry.code, "qbxml.3260");
    let family = catalog().explain("3045").unwrap();
    assert_eq!((family.code.as_str(), family.entry.code.as_str()), ("qbxml.3045", "qbxml.3000-3070"));
    assert_eq!(catalog().explain("auth.bad_password").unwrap().code, "auth.bad_password");
    assert!(catalog().explain("no.such.code").is_none());
    assert!(catalog().explain("").is_none());
}

#[test]
fn unknown_codes_are_never_blank_and_keep_quickbooks_words() {
    let f = classify_hresult("0x8004FFFF", "Something odd happened.");
    assert_eq!(f.code, "0x8004FFFF");
    assert_eq!(f.entry.code, "hresult.unknown");
    assert_eq!(f.detail.as_deref(), Some("Something odd happened."));
    let s = classify_status(3999, "Error", "Strange.").unwrap();
    assert_eq!((s.code.as_str(), s.entry.code.as_str()), ("qbxml.3999", "qbxml.error"));
    assert_eq!(s.detail.as_deref(), Some("Strange."));
}

#[test]
fn ok_and_no_match_are_not_problems_and_500_is_a_warning() {
    assert!(classify_status(0, "Info", "Status OK").is_none());
    assert!(classify_status(1, "Info", "A query request did not find a matching object").is_none());
    assert_eq!(classify_status(500, "Warn", "x").unwrap().entry.severity, Severity::Warning);
}

#[test]
fn only_provably_unprocessed_hresults_clear_a_write() {
    assert!(hresult_means_not_processed("0x80040400"));
    assert!(hresult_means_not_processed("-2147220480"));
    assert!(!hresult_means_not_processed("0x80040402"));
}

#[test]
fn the_web_connector_line_names_the_code_and_reference() {
    let line = Finding::from_code("company.wrong_file").one_line("E42");
    assert!(line.starts_with("[company.wrong_file] "), "{line}");
    assert!(line.ends_with("(ref E42)"), "{line}");
    assert!(line.chars().count() <= 480);
}

#[test]
fn auth_lines_do_not_tell_which_part_was_wrong() {
    let lines: HashSet<String> = ["auth.unknown_user", "auth.bad_password", "auth.disabled", "auth.locked_out"]
        .iter()
        .map(|c| Finding::from_code(c).one_line("R"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = lines.into_iter().next().unwrap_or_default().to_lowercase();
    assert!(!line.contains("unknown user") && !line.contains("locked") && !line.contains("disabled"));
}
