//! Which parameters each method takes, and how their text becomes a [`Call`].

use secrecy::SecretString;

use super::fault::clip;
use super::{Call, Method, SoapError};
use crate::types::Ticket;

/// The wire names of `method`'s parameters, in WSDL order. Positions here are
/// the slots [`build_call`] reads; no method has more than six.
pub(crate) fn names(method: Method) -> &'static [&'static str] {
    match method {
        // Some WSDL copies give serverVersion a `strVersion`; QBWC sends none.
        Method::ServerVersion => &[],
        Method::ClientVersion => &["strVersion"],
        Method::Authenticate => &["strUserName", "strPassword"],
        Method::SendRequestXml => {
            &["ticket", "strHCPResponse", "strCompanyFileName", "qbXMLCountry", "qbXMLMajorVers", "qbXMLMinorVers"]
        }
        Method::ReceiveResponseXml => &["ticket", "response", "hresult", "message"],
        Method::ConnectionError => &["ticket", "hresult", "message"],
        Method::GetLastError | Method::CloseConnection | Method::GetServerVersion => &["ticket"],
        Method::GetInteractiveUrl => &["wcTicket", "sessionID"],
        Method::InteractiveDone => &["wcTicket"],
        Method::InteractiveRejected => &["wcTicket", "reason"],
    }
}

/// Builds the call from the parameter slots filled in [`names`] order; a
/// missing parameter is `""` (all are `minOccurs=0` strings).
///
/// # Errors
/// [`SoapError::BadInteger`] when a qbXML version is not an integer.
pub(crate) fn build_call(method: Method, mut values: [Option<String>; 6]) -> Result<Call, SoapError> {
    let mut take = |i: usize| values.get_mut(i).and_then(Option::take).unwrap_or_default();
    Ok(match method {
        Method::ServerVersion => Call::ServerVersion,
        Method::ClientVersion => Call::ClientVersion { version: take(0) },
        Method::Authenticate => Call::Authenticate { username: take(0), password: SecretString::from(take(1)) },
        Method::SendRequestXml => Call::SendRequestXml {
            ticket: Ticket::from_wire(take(0)),
            hcp_response: take(1),
            company_file_name: take(2),
            country: take(3),
            major_version: parse_int("qbXMLMajorVers", &take(4))?,
            minor_version: parse_int("qbXMLMinorVers", &take(5))?,
        },
        Method::ReceiveResponseXml => Call::ReceiveResponseXml {
            ticket: Ticket::from_wire(take(0)),
            response: take(1),
            hresult: take(2),
            message: take(3),
        },
        Method::ConnectionError => {
            Call::ConnectionError { ticket: Ticket::from_wire(take(0)), hresult: take(1), message: take(2) }
        }
        Method::GetLastError => Call::GetLastError { ticket: Ticket::from_wire(take(0)) },
        Method::CloseConnection => Call::CloseConnection { ticket: Ticket::from_wire(take(0)) },
        Method::GetInteractiveUrl => {
            Call::GetInteractiveUrl { ticket: Ticket::from_wire(take(0)), session_id: take(1) }
        }
        Method::InteractiveDone => Call::InteractiveDone { ticket: Ticket::from_wire(take(0)) },
        Method::InteractiveRejected => {
            Call::InteractiveRejected { ticket: Ticket::from_wire(take(0)), reason: take(1) }
        }
        Method::GetServerVersion => Call::GetServerVersion { ticket: Ticket::from_wire(take(0)) },
    })
}

/// An `s:int` parameter: XML whitespace trimmed, empty (or missing) is 0
/// rather than a fault, so an odd client still gets an in-band answer.
fn parse_int(param: &'static str, text: &str) -> Result<i32, SoapError> {
    let trimmed = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    if trimmed.is_empty() {
        return Ok(0);
    }
    trimmed.parse().map_err(|_| SoapError::BadInteger { param, value: clip(text) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_fits_in_six_parameter_slots() {
        assert!(Method::ALL.iter().all(|m| names(*m).len() <= 6));
    }

    #[test]
    fn integers_are_trimmed_and_empty_is_zero() {
        assert_eq!(parse_int("qbXMLMajorVers", " 13\n").ok(), Some(13));
        assert_eq!(parse_int("qbXMLMajorVers", "").ok(), Some(0));
        assert_eq!(parse_int("qbXMLMajorVers", "-1").ok(), Some(-1));
        assert!(matches!(
            parse_int("qbXMLMinorVers", "5.0"),
            Err(SoapError::BadInteger { param: "qbXMLMinorVers", .. })
        ));
        assert!(parse_int("qbXMLMinorVers", "99999999999").is_err());
    }
}
