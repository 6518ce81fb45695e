//! `strHCPResponse`: the HostQuery, CompanyQuery and PreferencesQuery
//! answers the Web Connector sends with the first `sendRequestXML`.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::{Deserialize, Serialize};

use super::{xml_error, QbxmlError, Version, MAX_DEPTH};

/// `HostRet/QBFileMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileMode {
    /// Only this user has the file open.
    SingleUser,
    /// The file is shared.
    MultiUser,
}

/// What qbwcd learns about the host and the open company file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hcp {
    /// `HostRet/ProductName`, e.g. `QuickBooks Pro 2006`.
    pub product_name: Option<String>,
    /// `HostRet/Country`.
    pub country: Option<String>,
    /// Every `HostRet/SupportedQBXMLVersion`.
    pub supported_versions: Vec<Version>,
    /// `HostRet/IsAutomaticLogin`.
    pub is_automatic_login: Option<bool>,
    /// `HostRet/QBFileMode`.
    pub file_mode: Option<FileMode>,
    /// `CompanyRet/CompanyName`.
    pub company_name: Option<String>,
    /// The `FileID` DataExt stamped under the user's OwnerID.
    pub file_id: Option<String>,
    /// `PreferencesRet/CurrentAppAccessRights/IsAutomaticLoginAllowed`.
    pub automatic_login_allowed: Option<bool>,
    /// `PreferencesRet/CurrentAppAccessRights/IsPersonalDataAccessAllowed`.
    pub personal_data_allowed: Option<bool>,
}

impl Hcp {
    /// The highest supported qbXML version, if the host listed any.
    pub fn ceiling(&self) -> Option<Version> {
        self.supported_versions.iter().copied().max()
    }
}

/// Parses the HCP answer. `owner_id` selects the `FileID` stamped by this
/// user's application (GUIDs compare case-insensitively, braces optional).
///
/// # Errors
/// [`QbxmlError`] when the text is not well-formed XML. A POS host's plain
/// text answer is not XML either: callers treat any error as "no facts".
pub fn parse_hcp(text: &str, owner_id: &str) -> Result<Hcp, QbxmlError> {
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut hcp = Hcp::default();
    let mut ext = DataExt::default();
    let mut text_buf = String::new();
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::DocType(_) => return Err(QbxmlError::Doctype),
            Event::Start(e) => {
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                if path.len() > MAX_DEPTH {
                    return Err(QbxmlError::TooDeep(MAX_DEPTH));
                }
                text_buf.clear();
            }
            Event::Text(t) => text_buf.push_str(&t.unescape().map_err(xml_error)?),
            Event::CData(c) => text_buf.push_str(&String::from_utf8_lossy(&c)),
            Event::End(_) => {
                let value = text_buf.trim().to_owned();
                text_buf.clear();
                take(&path, value, &mut hcp, &mut ext, owner_id);
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(hcp)
}

#[derive(Default)]
struct DataExt {
    owner: String,
    name: String,
    value: String,
}

fn take(path: &[String], value: String, hcp: &mut Hcp, ext: &mut DataExt, owner_id: &str) {
    let n = path.len();
    let leaf = path[n - 1].as_str();
    let parent = if n >= 2 { path[n - 2].as_str() } else { "" };
    let flag = |v: &str| match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    match (parent, leaf) {
        ("HostRet", "ProductName") => hcp.product_name = Some(value),
        ("HostRet", "Country") => hcp.country = Some(value),
        ("HostRet", "SupportedQBXMLVersion") => {
            if let Ok(v) = Version::parse(&value) {
                hcp.supported_versions.push(v);
            }
        }
        ("HostRet", "IsAutomaticLogin") => hcp.is_automatic_login = flag(&value),
        ("HostRet", "QBFileMode") => {
            hcp.file_mode = match value.as_str() {
                "SingleUser" => Some(FileMode::SingleUser),
                "MultiUser" => Some(FileMode::MultiUser),
                _ => None,
            }
        }
        ("CompanyRet", "CompanyName") => hcp.company_name = Some(value),
        ("CurrentAppAccessRights", "IsAutomaticLoginAllowed") => hcp.automatic_login_allowed = flag(&value),
        ("CurrentAppAccessRights", "IsPersonalDataAccessAllowed") => hcp.personal_data_allowed = flag(&value),
        ("DataExtRet", "OwnerID") => ext.owner = value,
        ("DataExtRet", "DataExtName") => ext.name = value,
        ("DataExtRet", "DataExtValue") => ext.value = value,
        ("CompanyRet", "DataExtRet") => {
            let done = std::mem::take(ext);
            if done.name == "FileID" && same_guid(&done.owner, owner_id) {
                hcp.file_id = Some(done.value);
            }
        }
        _ => {}
    }
}

/// GUIDs as QuickBooks and `.qwc` files write them: `{…}`, any case.
pub fn same_guid(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_start_matches('{').trim_end_matches('}').to_ascii_lowercase();
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "<?xml version=\"1.0\" ?>\n<QBXML>\n<QBXMLMsgsRs>\n<HostQueryRs requestID=\"0\" statusCode=\"0\"><HostRet><ProductName>QuickBooks Pro 2006</ProductName><Country>US</Country><SupportedQBXMLVersion>1.0</SupportedQBXMLVersion><SupportedQBXMLVersion>5.0</SupportedQBXMLVersion><SupportedQBXMLVersion>4.1</SupportedQBXMLVersion><IsAutomaticLogin>false</IsAutomaticLogin><QBFileMode>SingleUser</QBFileMode></HostRet></HostQueryRs>\n<CompanyQueryRs requestID=\"1\"><CompanyRet><CompanyName>Test &amp; Co</CompanyName><DataExtRet><OwnerID>{68B5925B-4347-4784-E58D-35A2D190962F}</OwnerID><DataExtName>FileID</DataExtName><DataExtType>STR255TYPE</DataExtType><DataExtValue>{ee032e95-47f7-2564-096f-2d4545fcb021}</DataExtValue></DataExtRet><DataExtRet><OwnerID>{00000000-0000-0000-0000-000000000001}</OwnerID><DataExtName>FileID</DataExtName><DataExtValue>{other}</DataExtValue></DataExtRet></CompanyRet></CompanyQueryRs>\n<PreferencesQueryRs requestID=\"2\"><PreferencesRet><CurrentAppAccessRights><IsAutomaticLoginAllowed>true</IsAutomaticLoginAllowed><IsPersonalDataAccessAllowed>false</IsPersonalDataAccessAllowed></CurrentAppAccessRights></PreferencesRet></PreferencesQueryRs>\n</QBXMLMsgsRs>\n</QBXML>\n";

    #[test]
    fn host_company_and_rights_are_read() {
        let h = parse_hcp(SAMPLE, "68b5925b-4347-4784-e58d-35a2d190962f").unwrap();
        assert_eq!(h.product_name.as_deref(), Some("QuickBooks Pro 2006"));
        assert_eq!(h.ceiling(), Some(Version::new(5, 0)));
        assert_eq!(h.file_mode, Some(FileMode::SingleUser));
        assert_eq!(h.is_automatic_login, Some(false));
        assert_eq!(h.company_name.as_deref(), Some("Test & Co"));
        assert_eq!(h.file_id.as_deref(), Some("{ee032e95-47f7-2564-096f-2d4545fcb021}"));
        assert_eq!(h.automatic_login_allowed, Some(true));
        assert_eq!(h.personal_data_allowed, Some(false));
    }

    #[test]
    fn file_ids_of_other_applications_are_ignored() {
        let h = parse_hcp(SAMPLE, "{11111111-0000-0000-0000-000000000000}").unwrap();
        assert_eq!(h.file_id, None);
    }

    #[test]
    fn a_pos_host_answer_is_not_xml() {
        assert!(parse_hcp("HOSTQUERY/COMPANYQUERY/PREFQUERY is currently not supported in QBPOS.", "x")
            .map(|h| h == Hcp::default())
            .unwrap_or(true));
    }
}
