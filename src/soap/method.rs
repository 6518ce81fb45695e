//! The Web Connector methods and their wire names.

use std::fmt;

/// The Web Connector methods qbwcd answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `serverVersion`: first call of every session.
    ServerVersion,
    /// `clientVersion(strVersion)`.
    ClientVersion,
    /// `authenticate(strUserName, strPassword)`.
    Authenticate,
    /// `sendRequestXML`: asks for the next qbXML request.
    SendRequestXml,
    /// `receiveResponseXML`: delivers QuickBooks' answer.
    ReceiveResponseXml,
    /// `connectionError`: QuickBooks could not be opened.
    ConnectionError,
    /// `getLastError`.
    GetLastError,
    /// `closeConnection`: end of the session.
    CloseConnection,
    /// `getInteractiveURL` (interactive mode).
    GetInteractiveUrl,
    /// `interactiveDone` (interactive mode).
    InteractiveDone,
    /// `interactiveRejected` (interactive mode).
    InteractiveRejected,
    /// `getServerVersion`: in the Programmer's Guide, never seen on the wire.
    GetServerVersion,
}

impl Method {
    /// Every method, in the order of the enum.
    pub const ALL: [Method; 12] = [
        Method::ServerVersion,
        Method::ClientVersion,
        Method::Authenticate,
        Method::SendRequestXml,
        Method::ReceiveResponseXml,
        Method::ConnectionError,
        Method::GetLastError,
        Method::CloseConnection,
        Method::GetInteractiveUrl,
        Method::InteractiveDone,
        Method::InteractiveRejected,
        Method::GetServerVersion,
    ];

    /// The wire name (the request element's local name), e.g. `"sendRequestXML"`.
    pub fn name(self) -> &'static str {
        match self {
            Method::ServerVersion => "serverVersion",
            Method::ClientVersion => "clientVersion",
            Method::Authenticate => "authenticate",
            Method::SendRequestXml => "sendRequestXML",
            Method::ReceiveResponseXml => "receiveResponseXML",
            Method::ConnectionError => "connectionError",
            Method::GetLastError => "getLastError",
            Method::CloseConnection => "closeConnection",
            Method::GetInteractiveUrl => "getInteractiveURL",
            Method::InteractiveDone => "interactiveDone",
            Method::InteractiveRejected => "interactiveRejected",
            Method::GetServerVersion => "getServerVersion",
        }
    }

    /// The method with this exact wire name. Case matters, as it does for the
    /// .NET XmlSerializer on the client.
    pub fn from_name(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == s)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
