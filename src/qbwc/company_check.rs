//! Checks at the first `sendRequestXML`: is the company file QuickBooks
//! opened the one this company is registered with?

use crate::diagnostics::Finding;
use crate::qbxml::{FileMode, Hcp};
use crate::store::Company;

/// What the checks concluded.
#[derive(Debug, Default)]
pub(super) struct FileVerdict {
    /// A problem that must stop the session before anything is sent.
    pub stop: Option<Finding>,
    /// Problems worth telling an admin that do not stop the session.
    pub warnings: Vec<Finding>,
}

/// Compares the opened file (`strCompanyFileName` and the HCP's `FileID`)
/// with the company's registration.
///
/// The `FileID` stamp is the proof of identity: a different one means
/// another company's file is open, and nothing — not even a read, whose
/// answer would be filed under the wrong company — may be sent. Without a
/// stamp (first connection) the path decides: a different file name stops
/// the session, a different route to the same name (UNC versus a mapped
/// drive) only warns.
pub(super) fn check_file(company: &Company, opened_path: &str, hcp: Option<&Hcp>) -> FileVerdict {
    let mut v = FileVerdict::default();
    let stamped = hcp.and_then(|h| h.file_id.as_deref());
    let id_matches = match stamped {
        Some(id) if !crate::qbxml::same_guid(id, &company.file_id.to_string()) => {
            v.stop = Some(Finding::from_code("company.wrong_file").with_detail(format!(
                "the open company file carries FileID {id}; {} is registered with {{{}}}. Opened: {opened_path}",
                company.slug, company.file_id
            )));
            return v;
        }
        Some(_) => true,
        None => false,
    };
    if let (Some(registered), false) = (company.file_path.as_deref(), opened_path.trim().is_empty()) {
        if !same_path(registered, opened_path) {
            let detail = format!("registered: {registered}; opened: {opened_path}");
            if file_name(registered).eq_ignore_ascii_case(file_name(opened_path)) {
                let code = if is_unc(registered) != is_unc(opened_path) {
                    "company.unc_path"
                } else {
                    "company.path_mismatch"
                };
                v.warnings.push(Finding::from_code(code).with_detail(detail));
            } else if id_matches {
                v.warnings.push(Finding::from_code("company.path_mismatch").with_detail(detail));
            } else {
                v.stop = Some(Finding::from_code("company.path_mismatch").with_detail(detail));
                return v;
            }
        }
    }
    if let Some(h) = hcp {
        if let (Some(old), Some(new)) = (company.qb_company_name.as_deref(), h.company_name.as_deref()) {
            if old != new {
                v.warnings
                    .push(Finding::from_code("company.name_changed").with_detail(format!("was {old:?}, now {new:?}")));
            }
        }
        if h.automatic_login_allowed == Some(false) {
            v.warnings.push(Finding::from_code("hcp.auto_login_not_allowed"));
        }
        if h.file_mode == Some(FileMode::MultiUser) {
            v.warnings.push(Finding::from_code("hcp.multi_user_mode"));
        }
    }
    v
}

fn normalize(p: &str) -> String {
    p.trim().replace('/', "\\").to_ascii_lowercase()
}

fn same_path(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

fn is_unc(p: &str) -> bool {
    normalize(p).starts_with("\\\\")
}

fn file_name(p: &str) -> &str {
    let p = p.trim();
    p.rsplit(['\\', '/']).next().unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::CompanySlug;

    fn company(path: Option<&str>) -> Company {
        Company {
            id: 1,
            slug: CompanySlug::parse("acme").unwrap(),
            name: "Acme".into(),
            file_path: path.map(str::to_owned),
            file_id: uuid::Uuid::parse_str("ee032e95-47f7-2564-096f-2d4545fcb021").unwrap(),
            qbxml_version: None,
            qb_company_name: Some("Acme".into()),
            qb_product: None,
            last_seen_at: None,
            created_at: chrono::Utc::now(),
            disabled_at: None,
        }
    }

    fn hcp(file_id: Option<&str>) -> Hcp {
        Hcp { file_id: file_id.map(str::to_owned), company_name: Some("Acme".into()), ..Hcp::default() }
    }

    #[test]
    fn another_file_id_stops_the_session() {
        let v = check_file(&company(None), "C:\\x.QBW", Some(&hcp(Some("{00000000-0000-0000-0000-000000000001}"))));
        assert_eq!(v.stop.map(|f| f.code), Some("company.wrong_file".to_owned()));
    }

    #[test]
    fn a_unc_path_to_the_same_file_only_warns() {
        let v = check_file(&company(Some("Q:\\Acme.QBW")), "\\\\SERVER\\Share\\Acme.QBW", Some(&hcp(None)));
        assert!(v.stop.is_none());
        assert_eq!(v.warnings[0].code, "company.unc_path");
    }

    #[test]
    fn a_different_file_without_a_stamp_stops_and_with_a_matching_stamp_warns() {
        let c = company(Some("C:\\Acme.QBW"));
        let v = check_file(&c, "C:\\Other.QBW", Some(&hcp(None)));
        assert_eq!(v.stop.map(|f| f.code), Some("company.path_mismatch".to_owned()));
        let v = check_file(&c, "C:\\Other.QBW", Some(&hcp(Some("{EE032E95-47F7-2564-096F-2D4545FCB021}"))));
        assert!(v.stop.is_none());
        assert_eq!(v.warnings[0].code, "company.path_mismatch");
    }

    #[test]
    fn the_same_path_in_another_case_is_the_same_file() {
        let v = check_file(&company(Some("C:\\QB\\Acme.QBW")), "c:/qb/acme.qbw", None);
        assert!(v.stop.is_none() && v.warnings.is_empty());
    }
}
