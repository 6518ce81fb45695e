//! Newtypes parsed at the edge, so handlers never pass raw strings around.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A Web Connector session ticket: 128 random bits, hex encoded.
///
/// The ticket is a session credential: it is stored only as a SHA-256 hash
/// ([`Ticket::hash`]) and logged only as a short prefix of that hash
/// ([`Ticket::short`]). Its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Ticket(String);

impl Ticket {
    /// A fresh ticket from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Ticket(hex::encode(bytes))
    }

    /// Wraps whatever string the Web Connector echoed back. Any string is
    /// accepted here; an unknown ticket is simply not found in the store.
    pub fn from_wire(s: impl Into<String>) -> Self {
        Ticket(s.into())
    }

    /// The ticket as sent on the wire (only ever to the Web Connector).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash the store keeps instead of the ticket.
    pub fn hash(&self) -> TicketHash {
        TicketHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// A short, non-reversible tag for logs: the first 8 hex digits of the hash.
    pub fn short(&self) -> String {
        self.hash().short().to_owned()
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ticket({})", self.short())
    }
}

/// SHA-256 of a ticket, hex encoded: the session key in the store.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TicketHash(pub String);

impl From<String> for TicketHash {
    fn from(s: String) -> Self {
        TicketHash(s)
    }
}

impl TicketHash {
    /// First 8 hex digits, for logs and events.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(8)]
    }
}

/// A company slug: 1–64 of `a-z 0-9 - _`, starting with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CompanySlug(String);

/// Why a slug or user name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    /// Empty or longer than the limit.
    #[error("{what} must be 1 to {max} characters long")]
    Length {
        /// Which kind of name.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A character outside the allowed set.
    #[error("{what} may contain only {allowed}; got {got:?}")]
    Charset {
        /// Which kind of name.
        what: &'static str,
        /// The allowed set, in words.
        allowed: &'static str,
        /// The refused value.
        got: String,
    },
}

impl CompanySlug {
    /// Parses and validates a slug.
    ///
    /// # Errors
    /// [`NameError`] when it is empty, too long or has other characters.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        const WHAT: &str = "a company slug";
        if s.is_empty() || s.len() > 64 {
            return Err(NameError::Length { what: WHAT, max: 64 });
        }
        let ok = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && s.as_bytes()[0].is_ascii_alphanumeric();
        if !ok {
            return Err(NameError::Charset {
                what: WHAT,
                allowed: "lower-case letters, digits, '-' and '_', starting with a letter or digit",
                got: s.to_owned(),
            });
        }
        Ok(CompanySlug(s.to_owned()))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CompanySlug {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        CompanySlug::parse(&s)
    }
}

impl From<CompanySlug> for String {
    fn from(s: CompanySlug) -> String {
        s.0
    }
}

impl fmt::Display for CompanySlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Web Connector user name (`strUserName`, `UserName` in the `.qwc`):
/// 1–64 printable characters without spaces at either end.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    /// Parses and validates a user name.
    ///
    /// # Errors
    /// [`NameError`] when it is empty, too long, padded or has control characters.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        const WHAT: &str = "a user name";
        if s.is_empty() || s.chars().count() > 64 {
            return Err(NameError::Length { what: WHAT, max: 64 });
        }
        if s.trim() != s || s.chars().any(char::is_control) {
            return Err(NameError::Charset {
                what: WHAT,
                allowed: "printable characters, without leading or trailing spaces",
                got: s.to_owned(),
            });
        }
        Ok(Username(s.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Username::parse(&s)
    }
}

impl From<Username> for String {
    fn from(s: Username) -> String {
        s.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A job id: a UUID (v7, so ids sort roughly by creation time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub uuid::Uuid);

impl JobId {
    /// A new time-ordered id.
    pub fn new() -> Self {
        JobId(uuid::Uuid::now_v7())
    }

    /// Parses the hyphenated form.
    ///
    /// # Errors
    /// When `s` is not a UUID.
    pub fn parse(s: &str) -> Result<Self, uuid::Error> {
        uuid::Uuid::parse_str(s.trim()).map(JobId)
    }
}

impl From<uuid::Uuid> for JobId {
    fn from(u: uuid::Uuid) -> Self {
        JobId(u)
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An event's id. People see it as a reference, `E14` (in health's
/// problems, in `getLastError` texts); both `14` and `E14` parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub i64);

/// Why an event reference was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not an event reference; give its number, as 14 or E14")]
pub struct EventIdError(String);

impl EventId {
    /// Parses `14` or `E14` (any case, surrounding spaces ignored).
    ///
    /// # Errors
    /// [`EventIdError`] when the rest is not a positive number.
    pub fn parse(s: &str) -> Result<Self, EventIdError> {
        let t = s.trim();
        let digits = t.strip_prefix(['E', 'e']).unwrap_or(t);
        match digits.parse::<i64>() {
            Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(EventId(n)),
            _ => Err(EventIdError(s.to_owned())),
        }
    }

    /// The reference people quote: `E14`.
    pub fn reference(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{}", self.0)
    }
}

/// What an API token may do. Each role includes the ones before it:
/// `read` reads companies, jobs and health; `enqueue` also enqueues,
/// retries and cancels jobs; `admin` also manages companies, users,
/// passwords, links and webhooks, and settles lost writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads only.
    Read,
    /// Reads, and enqueues and manages jobs.
    Enqueue,
    /// Everything.
    Admin,
}

/// A role name that is not `read`, `enqueue` or `admin`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role {0:?}: use read, enqueue or admin")]
pub struct RoleError(pub String);

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Read, Role::Enqueue, Role::Admin];

    /// Parses `read`, `enqueue` or `admin`.
    ///
    /// # Errors
    /// [`RoleError`] for anything else.
    pub fn parse(s: &str) -> Result<Self, RoleError> {
        match s {
            "read" => Ok(Role::Read),
            "enqueue" => Ok(Role::Enqueue),
            "admin" => Ok(Role::Admin),
            other => Err(RoleError(other.to_owned())),
        }
    }

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Enqueue => "enqueue",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Self, RoleError> {
        Role::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_references_parse_with_or_without_their_e() {
        assert_eq!(EventId::parse("14"), Ok(EventId(14)));
        assert_eq!(EventId::parse("E14"), Ok(EventId(14)));
        assert_eq!(EventId::parse(" e7 "), Ok(EventId(7)));
        assert_eq!(EventId(14).to_string(), "E14");
        for bad in ["", "E", "0", "E-1", "-1", "+3", "14x", "EE14", "1 4", "99999999999999999999"] {
            let err = EventId::parse(bad).unwrap_err();
            assert!(err.to_string().contains("not an event reference"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn tickets_are_128_bit_hex_and_unique() {
        let a = Ticket::generate();
        let b = Ticket::generate();
        assert_eq!(a.expose().len(), 32);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn ticket_debug_does_not_reveal_the_ticket() {
        let t = Ticket::from_wire("ea0bf596246b623664adb465cc8662a2");
        let shown = format!("{t:?}");
        assert!(!shown.contains("ea0bf596"));
        assert_eq!(t.short().len(), 8);
    }

    #[test]
    fn slugs_are_validated() {
        assert!(CompanySlug::parse("acme-1").is_ok());
        assert!(CompanySlug::parse("").is_err());
        assert!(CompanySlug::parse("Acme").is_err());
        assert!(CompanySlug::parse("-acme").is_err());
        assert!(CompanySlug::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn usernames_are_validated() {
        assert!(Username::parse("api").is_ok());
        assert!(Username::parse("Jörg Müller").is_ok());
        assert!(Username::parse(" api").is_err());
        assert!(Username::parse("a\nb").is_err());
        assert!(Username::parse("").is_err());
    }
}
