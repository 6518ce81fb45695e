//! One parsed request: [`Call`].

use std::fmt;

use secrecy::SecretString;

use super::Method;
use crate::types::Ticket;

/// One parsed call. Missing parameters are empty strings (they are
/// `minOccurs=0`); `<x />` is `""`. Its `Debug` shows only the method, the
/// ticket's short hash and sizes: never the password or qbXML bodies.
pub enum Call {
    /// `serverVersion()`; a `strVersion` some WSDL copies add is ignored.
    ServerVersion,
    /// `clientVersion(strVersion)`.
    ClientVersion {
        /// QBWC's version, e.g. `2.0.0.116`.
        version: String,
    },
    /// `authenticate(strUserName, strPassword)`.
    Authenticate {
        /// `strUserName`.
        username: String,
        /// `strPassword`.
        password: SecretString,
    },
    /// `sendRequestXML(ticket, strHCPResponse, strCompanyFileName, qbXMLCountry, qbXMLMajorVers, qbXMLMinorVers)`.
    SendRequestXml {
        /// `ticket`.
        ticket: Ticket,
        /// `strHCPResponse`: Host/Company/Preferences query responses, first call only.
        hcp_response: String,
        /// `strCompanyFileName`: the company file in use.
        company_file_name: String,
        /// `qbXMLCountry`: `US`, `CA` or `UK`.
        country: String,
        /// `qbXMLMajorVers` (0 when empty or missing).
        major_version: i32,
        /// `qbXMLMinorVers` (0 when empty or missing).
        minor_version: i32,
    },
    /// `receiveResponseXML(ticket, response, hresult, message)`.
    ReceiveResponseXml {
        /// `ticket`.
        ticket: Ticket,
        /// `response`: the qbXML answer, `""` when `hresult` is set.
        response: String,
        /// `hresult`: hex HRESULT such as `0x80040400`, or `""`.
        hresult: String,
        /// `message`: the HRESULT's text, or `""`.
        message: String,
    },
    /// `connectionError(ticket, hresult, message)`.
    ConnectionError {
        /// `ticket`.
        ticket: Ticket,
        /// `hresult`.
        hresult: String,
        /// `message`.
        message: String,
    },
    /// `getLastError(ticket)`.
    GetLastError {
        /// `ticket`.
        ticket: Ticket,
    },
    /// `closeConnection(ticket)`.
    CloseConnection {
        /// `ticket`.
        ticket: Ticket,
    },
    /// `getInteractiveURL(wcTicket, sessionID)`.
    GetInteractiveUrl {
        /// `wcTicket`.
        ticket: Ticket,
        /// `sessionID`.
        session_id: String,
    },
    /// `interactiveDone(wcTicket)`.
    InteractiveDone {
        /// `wcTicket`.
        ticket: Ticket,
    },
    /// `interactiveRejected(wcTicket, reason)`.
    InteractiveRejected {
        /// `wcTicket`.
        ticket: Ticket,
        /// `reason`.
        reason: String,
    },
    /// `getServerVersion(ticket)`.
    GetServerVersion {
        /// `ticket`.
        ticket: Ticket,
    },
}

impl Call {
    /// Which method this call is.
    pub fn method(&self) -> Method {
        match self {
            Call::ServerVersion => Method::ServerVersion,
            Call::ClientVersion { .. } => Method::ClientVersion,
            Call::Authenticate { .. } => Method::Authenticate,
            Call::SendRequestXml { .. } => Method::SendRequestXml,
            Call::ReceiveResponseXml { .. } => Method::ReceiveResponseXml,
            Call::ConnectionError { .. } => Method::ConnectionError,
            Call::GetLastError { .. } => Method::GetLastError,
            Call::CloseConnection { .. } => Method::CloseConnection,
            Call::GetInteractiveUrl { .. } => Method::GetInteractiveUrl,
            Call::InteractiveDone { .. } => Method::InteractiveDone,
            Call::InteractiveRejected { .. } => Method::InteractiveRejected,
            Call::GetServerVersion { .. } => Method::GetServerVersion,
        }
    }

    /// The session ticket, for every call made after `authenticate`.
    pub fn ticket(&self) -> Option<&Ticket> {
        match self {
            Call::ServerVersion | Call::ClientVersion { .. } | Call::Authenticate { .. } => None,
            Call::SendRequestXml { ticket, .. }
            | Call::ReceiveResponseXml { ticket, .. }
            | Call::ConnectionError { ticket, .. }
            | Call::GetLastError { ticket }
            | Call::CloseConnection { ticket }
            | Call::GetInteractiveUrl { ticket, .. }
            | Call::InteractiveDone { ticket }
            | Call::InteractiveRejected { ticket, .. }
            | Call::GetServerVersion { ticket } => Some(ticket),
        }
    }
}

/// Debug output of a text value: its size only.
pub(crate) struct Size(pub(crate) usize);

impl fmt::Debug for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

impl fmt::Debug for Call {
    /// Sizes instead of values: the password is a secret, qbXML is customer
    /// data, and the ticket prints as its short hash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct(self.method().name());
        if let Some(ticket) = self.ticket() {
            d.field("ticket", ticket);
        }
        let sizes: &[(&str, &String)] = match self {
            Call::ClientVersion { version } => &[("version", version)],
            Call::Authenticate { username, .. } => &[("username", username)],
            Call::SendRequestXml { hcp_response, company_file_name, country, major_version, minor_version, .. } => {
                d.field("major_version", major_version).field("minor_version", minor_version);
                &[("hcp_response", hcp_response), ("company_file_name", company_file_name), ("country", country)]
            }
            Call::ReceiveResponseXml { response, hresult, message, .. } => {
                &[("response", response), ("hresult", hresult), ("message", message)]
            }
            Call::ConnectionError { hresult, message, .. } => &[("hresult", hresult), ("message", message)],
            Call::GetInteractiveUrl { session_id, .. } => &[("session_id", session_id)],
            Call::InteractiveRejected { reason, .. } => &[("reason", reason)],
            _ => &[],
        };
        for (name, value) in sizes {
            d.field(name, &Size(value.len()));
        }
        if let Call::Authenticate { .. } = self {
            d.field("password", &"[redacted]");
        }
        d.finish()
    }
}
