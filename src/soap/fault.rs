//! Why a request could not be turned into a [`Call`](super::Call), and the
//! SOAP 1.1 Fault that says so.
//!
//! Faults are only for envelopes that are not SOAP or name no known operation
//! (DESIGN.md, "The protocol"): everything the protocol can answer in-band is
//! answered in-band by the handlers, because QBWC retries a fault forever.

use super::render::{push_escaped, Quotes, ENVELOPE_HEAD, ENVELOPE_TAIL};

/// A request the SOAP layer refuses, or a server failure to report as a fault.
#[derive(Debug, thiserror::Error)]
pub enum SoapError {
    /// The body is not well-formed XML (quick-xml's message, or truncation).
    #[error("the request body is not well-formed XML (near byte {position}): {message}")]
    NotXml {
        /// Byte offset in the body where reading stopped.
        position: u64,
        /// What was wrong, in quick-xml's words where it found the problem.
        message: String,
    },
    /// The body contains a `<!DOCTYPE`: DTDs and entity declarations are refused.
    #[error("a document type declaration (<!DOCTYPE ...>) is not allowed in a SOAP request")]
    DoctypeRefused,
    /// Elements are nested deeper than [`Limits::max_depth`](super::Limits::max_depth).
    #[error("the request nests elements deeper than {max} levels")]
    TooDeep {
        /// The limit in force.
        max: usize,
    },
    /// The body is not valid UTF-8 (the Web Connector always sends UTF-8).
    #[error("the request body is not valid UTF-8 (first bad byte at offset {position})")]
    NotUtf8 {
        /// Offset of the first byte that is not valid UTF-8.
        position: usize,
    },
    /// The root element is not a SOAP 1.1 `Envelope`.
    #[error("the root element is not a SOAP 1.1 Envelope (http://schemas.xmlsoap.org/soap/envelope/)")]
    NotSoapEnvelope,
    /// A SOAP 1.2 envelope: this service speaks SOAP 1.1 only, as QBWC does.
    #[error("SOAP 1.2 is not supported: send a SOAP 1.1 envelope (http://schemas.xmlsoap.org/soap/envelope/)")]
    VersionMismatch,
    /// The envelope has no SOAP 1.1 `Body`.
    #[error("the SOAP envelope has no Body")]
    NoBody,
    /// The `Body` holds no element, so no operation is named.
    #[error("the SOAP Body is empty: no operation")]
    NoOperation,
    /// The operation element is not one of the Web Connector methods.
    #[error("unknown operation {name:?}")]
    UnknownOperation {
        /// The operation's local name (clipped to 100 characters).
        name: String,
    },
    /// The operation element is not in `http://developer.intuit.com/`.
    #[error("the operation must be in namespace http://developer.intuit.com/, not {namespace:?}")]
    WrongNamespace {
        /// The namespace found, `""` when none (clipped to 100 characters).
        namespace: String,
    },
    /// `qbXMLMajorVers` or `qbXMLMinorVers` is not a 32-bit integer.
    #[error("parameter {param} is not an integer: {value:?}")]
    BadInteger {
        /// The parameter's wire name.
        param: &'static str,
        /// The value found (clipped to 100 characters).
        value: String,
    },
    /// A known parameter contains elements; values must be text (escaped XML).
    #[error("parameter {param} contains XML elements; its value must be text, with embedded qbXML escaped")]
    MarkupInParameter {
        /// The parameter's wire name.
        param: &'static str,
    },
    /// The server failed (e.g. the store); rendered as `soap:Server`.
    /// Added for the handlers: the message is shown to the client, so keep
    /// internals (SQL, paths) out of it.
    #[error("{message}")]
    Internal {
        /// What to tell the client.
        message: String,
    },
}

impl SoapError {
    /// True for everything caused by the request (`soap:Client` or
    /// `soap:VersionMismatch`); false for server failures (`soap:Server`).
    pub fn is_client_fault(&self) -> bool {
        !matches!(self, SoapError::Internal { .. })
    }

    /// The SOAP 1.1 `faultcode` for this error. A SOAP 1.2 envelope gets
    /// `soap:VersionMismatch`, as SOAP 1.1 §4.4.1 prescribes for an envelope in
    /// the wrong namespace.
    pub fn fault_code(&self) -> &'static str {
        match self {
            SoapError::VersionMismatch => "soap:VersionMismatch",
            SoapError::Internal { .. } => "soap:Server",
            _ => "soap:Client",
        }
    }
}

/// Keeps request-derived text in error messages short: a fault must not echo
/// megabytes back, nor much of whatever the client sent.
pub(crate) fn clip(s: &str) -> String {
    const MAX_CHARS: usize = 100;
    match s.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// The complete HTTP body of a SOAP 1.1 Fault for `err`: `faultcode` from
/// [`SoapError::fault_code`], `faultstring` = `err.to_string()`, escaped.
/// SOAP 1.1 over HTTP wants status 500 with it; that is the caller's part.
pub fn render_fault(err: &SoapError) -> Vec<u8> {
    let message = err.to_string();
    let mut out = Vec::with_capacity(ENVELOPE_HEAD.len() + ENVELOPE_TAIL.len() + 120 + message.len());
    out.extend_from_slice(ENVELOPE_HEAD.as_bytes());
    out.extend_from_slice(b"<soap:Fault><faultcode>");
    out.extend_from_slice(err.fault_code().as_bytes());
    out.extend_from_slice(b"</faultcode><faultstring>");
    push_escaped(&mut out, &message, Quotes::Keep);
    out.extend_from_slice(b"</faultstring></soap:Fault>");
    out.extend_from_slice(ENVELOPE_TAIL.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_fault_renders_as_soap_1_1_with_an_escaped_faultstring() {
        let err = SoapError::UnknownOperation { name: "a<b&c".into() };
        let body = String::from_utf8(render_fault(&err)).unwrap_or_default();
        assert_eq!(
            body,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">\
             <soap:Body><soap:Fault><faultcode>soap:Client</faultcode>\
             <faultstring>unknown operation \"a&lt;b&amp;c\"</faultstring></soap:Fault></soap:Body></soap:Envelope>"
        );
        assert!(err.is_client_fault());
    }

    #[test]
    fn an_internal_error_is_a_server_fault() {
        let err = SoapError::Internal { message: "the database is unavailable".into() };
        let body = String::from_utf8(render_fault(&err)).unwrap_or_default();
        assert!(
            body.contains("<faultcode>soap:Server</faultcode><faultstring>the database is unavailable</faultstring>")
        );
        assert!(!err.is_client_fault());
    }

    #[test]
    fn a_soap_1_2_envelope_gets_a_version_mismatch_fault() {
        let body = String::from_utf8(render_fault(&SoapError::VersionMismatch)).unwrap_or_default();
        assert!(body.contains("<faultcode>soap:VersionMismatch</faultcode>"));
        assert!(SoapError::VersionMismatch.is_client_fault());
    }

    #[test]
    fn clipped_values_stop_at_a_hundred_characters() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(150);
        assert_eq!(clip(&long).chars().count(), 101);
    }
}
