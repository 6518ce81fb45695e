//! The statuses of a qbXML answer: one per `…Rs` element.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::{Deserialize, Serialize};

use super::{xml_error, QbxmlError, MAX_DEPTH};

/// The status attributes of one `…Rs` element.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestStatus {
    /// Element name, e.g. `CustomerAddRs`.
    pub name: String,
    /// The echoed `requestID`, if the request had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `statusCode` (0 = OK).
    pub status_code: i64,
    /// `statusSeverity`: `Info`, `Warn` or `Error`.
    pub severity: String,
    /// `statusMessage`, QuickBooks' own words.
    pub message: String,
    /// `retCount`, on queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret_count: Option<i64>,
    /// `iteratorRemainingCount`, on iterator pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterator_remaining_count: Option<i64>,
    /// `iteratorID`, on iterator pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterator_id: Option<String>,
}

impl RequestStatus {
    /// Whether QuickBooks reports this request as failed. The severity
    /// attribute is trusted; without one, codes of 1000 and up are errors.
    pub fn is_error(&self) -> bool {
        match self.severity.as_str() {
            "Error" => true,
            "Info" | "Warn" => false,
            _ => self.status_code >= 1000,
        }
    }
}

/// What qbwcd reads from an answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedResponse {
    /// One entry per `…Rs`, in order.
    pub statuses: Vec<RequestStatus>,
    /// `QBXMLMsgsRs/@newMessageSetID` (error recovery).
    pub new_message_set_id: Option<String>,
    /// `QBXMLMsgsRs/@messageSetStatusCode` (error recovery).
    pub message_set_status_code: Option<i64>,
}

impl ParsedResponse {
    /// The first failed request, if any.
    pub fn first_error(&self) -> Option<&RequestStatus> {
        self.statuses.iter().find(|s| s.is_error())
    }
}

/// Parses the statuses of a qbXML answer without keeping its records.
///
/// # Errors
/// [`QbxmlError`] when the answer is not well-formed XML, has a DOCTYPE or
/// nests too deep.
pub fn parse_response(text: &str) -> Result<ParsedResponse, QbxmlError> {
    let mut reader = Reader::from_str(text);
    let mut out = ParsedResponse::default();
    let mut depth = 0usize;
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::DocType(_) => return Err(QbxmlError::Doctype),
            Event::Start(e) => {
                visit(&e, depth, &mut out)?;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(QbxmlError::TooDeep(MAX_DEPTH));
                }
            }
            Event::Empty(e) => visit(&e, depth, &mut out)?,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(QbxmlError::Malformed("unexpected end of input: an element is not closed".into()));
    }
    Ok(out)
}

fn visit(e: &BytesStart<'_>, depth: usize, out: &mut ParsedResponse) -> Result<(), QbxmlError> {
    let name = e.local_name();
    let name = name.as_ref();
    if depth == 1 && name == b"QBXMLMsgsRs" {
        out.new_message_set_id = attr(e, "newMessageSetID")?;
        out.message_set_status_code = attr(e, "messageSetStatusCode")?.and_then(|v| v.trim().parse().ok());
    } else if depth == 2 && name.ends_with(b"Rs") {
        out.statuses.push(status_of(e)?);
    }
    Ok(())
}

fn status_of(e: &BytesStart<'_>) -> Result<RequestStatus, QbxmlError> {
    let int = |v: Option<String>| v.and_then(|v| v.trim().parse::<i64>().ok());
    let status_code = int(attr(e, "statusCode")?).unwrap_or(0);
    let severity = attr(e, "statusSeverity")?.unwrap_or_else(|| {
        match status_code {
            0..=499 => "Info",
            500..=999 => "Warn",
            _ => "Error",
        }
        .to_owned()
    });
    Ok(RequestStatus {
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        request_id: attr(e, "requestID")?,
        status_code,
        severity,
        message: attr(e, "statusMessage")?.unwrap_or_default(),
        ret_count: int(attr(e, "retCount")?),
        iterator_remaining_count: int(attr(e, "iteratorRemainingCount")?),
        iterator_id: attr(e, "iteratorID")?,
    })
}

/// The value of attribute `name` (by local name) of a start tag, unescaped.
///
/// # Errors
/// When the tag's attributes are not well-formed.
pub(super) fn attr(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, QbxmlError> {
    for a in e.attributes() {
        let a = a.map_err(xml_error)?;
        if a.key.local_name().as_ref() == name.as_bytes() {
            return Ok(Some(a.unescape_value().map_err(xml_error)?.into_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rs_status_is_parsed_with_unescaped_messages() {
        let text = "<?xml version=\"1.0\" ?>\n<QBXML>\n<QBXMLMsgsRs>\n<ItemServiceAddRs requestID=\"SXRl\" statusCode=\"3100\" statusSeverity=\"Error\" statusMessage=\"The name &quot;Shipping&quot; of the list element is already in use.\" />\n<CustomerQueryRs requestID=\"2\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\" retCount=\"2\" iteratorRemainingCount=\"5\" iteratorID=\"{84ff}\"><CustomerRet><Name>x</Name></CustomerRet></CustomerQueryRs>\n</QBXMLMsgsRs>\n</QBXML>\n";
        let r = parse_response(text).unwrap();
        assert_eq!(r.statuses.len(), 2);
        let a = &r.statuses[0];
        assert_eq!(a.name, "ItemServiceAddRs");
        assert_eq!(a.status_code, 3100);
        assert!(a.is_error());
        assert_eq!(a.message, "The name \"Shipping\" of the list element is already in use.");
        let b = &r.statuses[1];
        assert_eq!((b.ret_count, b.iterator_remaining_count), (Some(2), Some(5)));
        assert_eq!(b.iterator_id.as_deref(), Some("{84ff}"));
        assert!(!b.is_error());
        assert_eq!(r.first_error().map(|s| s.status_code), Some(3100));
    }

    #[test]
    fn message_set_attributes_are_read() {
        let r = parse_response("<QBXML><QBXMLMsgsRs newMessageSetID=\"abc\" messageSetStatusCode=\"9002\"/></QBXML>")
            .unwrap();
        assert_eq!(r.new_message_set_id.as_deref(), Some("abc"));
        assert_eq!(r.message_set_status_code, Some(9002));
        assert!(r.statuses.is_empty());
    }

    #[test]
    fn warnings_and_no_match_are_not_errors() {
        let r = parse_response("<QBXML><QBXMLMsgsRs><CustomerQueryRs statusCode=\"1\" statusSeverity=\"Info\" statusMessage=\"no match\"/><InvoiceQueryRs statusCode=\"500\" statusSeverity=\"Warn\"/><XRs statusCode=\"3120\"/></QBXMLMsgsRs></QBXML>").unwrap();
        assert!(!r.statuses[0].is_error());
        assert!(!r.statuses[1].is_error());
        assert!(r.statuses[2].is_error());
        assert_eq!(r.statuses[2].severity, "Error");
    }

    #[test]
    fn malformed_answers_are_errors() {
        assert!(parse_response("<QBXML><QBXMLMsgsRs>").is_err());
        assert!(parse_response("<!DOCTYPE a><QBXML/>").is_err());
    }
}
