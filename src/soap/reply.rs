//! What a handler answers: [`Reply`].

use std::fmt;

use super::call::Size;
use super::Method;

/// What a handler answers; [`render_reply`](super::render_reply) turns it into the HTTP body.
pub enum Reply {
    /// `serverVersionResult`.
    ServerVersion(String),
    /// `clientVersionResult`: `""`, `W:…`, `E:…` or `O:…`.
    ClientVersion(String),
    /// `authenticateResult`: ticket, then status or company file, then optional
    /// postpone and minimum-run seconds.
    Authenticate(Vec<String>),
    /// `sendRequestXMLResult`: a qbXML request, or `""`.
    SendRequestXml(String),
    /// `receiveResponseXMLResult`: progress 0–100, or negative to stop.
    ReceiveResponseXml(i32),
    /// `connectionErrorResult`: `"done"` or a company file to retry.
    ConnectionError(String),
    /// `getLastErrorResult`.
    GetLastError(String),
    /// `closeConnectionResult`.
    CloseConnection(String),
    /// `getInteractiveURLResult`.
    GetInteractiveUrl(String),
    /// `interactiveDoneResult`.
    InteractiveDone(String),
    /// `interactiveRejectedResult`.
    InteractiveRejected(String),
    /// `getServerVersionResult`.
    GetServerVersion(String),
}

impl Reply {
    /// The result text of a string-valued reply; `None` for the string
    /// array of `authenticate` and the integer of `receiveResponseXML`.
    pub fn text(&self) -> Option<&str> {
        match self {
            Reply::Authenticate(_) | Reply::ReceiveResponseXml(_) => None,
            Reply::ServerVersion(s)
            | Reply::ClientVersion(s)
            | Reply::SendRequestXml(s)
            | Reply::ConnectionError(s)
            | Reply::GetLastError(s)
            | Reply::CloseConnection(s)
            | Reply::GetInteractiveUrl(s)
            | Reply::InteractiveDone(s)
            | Reply::InteractiveRejected(s)
            | Reply::GetServerVersion(s) => Some(s),
        }
    }

    /// The method this reply answers.
    pub fn method(&self) -> Method {
        match self {
            Reply::ServerVersion(_) => Method::ServerVersion,
            Reply::ClientVersion(_) => Method::ClientVersion,
            Reply::Authenticate(_) => Method::Authenticate,
            Reply::SendRequestXml(_) => Method::SendRequestXml,
            Reply::ReceiveResponseXml(_) => Method::ReceiveResponseXml,
            Reply::ConnectionError(_) => Method::ConnectionError,
            Reply::GetLastError(_) => Method::GetLastError,
            Reply::CloseConnection(_) => Method::CloseConnection,
            Reply::GetInteractiveUrl(_) => Method::GetInteractiveUrl,
            Reply::InteractiveDone(_) => Method::InteractiveDone,
            Reply::InteractiveRejected(_) => Method::InteractiveRejected,
            Reply::GetServerVersion(_) => Method::GetServerVersion,
        }
    }
}

impl fmt::Debug for Reply {
    /// Sizes instead of values: `authenticate` carries the ticket, and
    /// `sendRequestXML` carries customer data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct(self.method().name());
        match self {
            Reply::Authenticate(strings) => d.field("strings", &strings.len()),
            Reply::ReceiveResponseXml(n) => d.field("result", n),
            other => d.field("result", &Size(other.text().map_or(0, str::len))),
        };
        d.finish()
    }
}
