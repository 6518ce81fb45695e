use std::fmt;

use serde::{Deserialize, Serialize};

use super::QbxmlError;

/// A qbXML specification version such as `13.0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl Version {
    /// The newest qbXML version qbwcd knows QuickBooks to speak (QuickBooks
    /// Desktop 2021+). A higher ceiling reported by a client is capped here,
    /// so an unknown future version is never requested.
    pub const NEWEST_KNOWN: Version = Version { major: 16, minor: 0 };

    /// A version from its parts.
    pub const fn new(major: u16, minor: u16) -> Self {
        Version { major, minor }
    }

    /// Parses `13.0`, `13`, and the `CA3.0`/`UK3.0` forms some non-US hosts
    /// report in `SupportedQBXMLVersion`.
    ///
    /// # Errors
    /// [`QbxmlError::BadVersion`] for anything else.
    pub fn parse(s: &str) -> Result<Self, QbxmlError> {
        let bad = || QbxmlError::BadVersion(s.to_owned());
        let t = s.trim().trim_start_matches(|c: char| c.is_ascii_alphabetic());
        let (maj, min) = t.split_once('.').unwrap_or((t, "0"));
        let major = maj.parse().map_err(|_| bad())?;
        let minor = min.parse().map_err(|_| bad())?;
        Ok(Version { major, minor })
    }

    /// The version to send to a host whose highest supported version is
    /// `ceiling`: the ceiling itself, capped at [`Version::NEWEST_KNOWN`].
    pub fn negotiate(ceiling: Version) -> Version {
        ceiling.min(Version::NEWEST_KNOWN)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl TryFrom<String> for Version {
    type Error = QbxmlError;
    fn try_from(s: String) -> Result<Self, QbxmlError> {
        Version::parse(&s)
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_in_every_form_hosts_send() {
        assert_eq!(Version::parse("13.0").unwrap(), Version::new(13, 0));
        assert_eq!(Version::parse("5").unwrap(), Version::new(5, 0));
        assert_eq!(Version::parse("CA3.0").unwrap(), Version::new(3, 0));
        assert_eq!(Version::parse(" 2.1 ").unwrap(), Version::new(2, 1));
        assert!(Version::parse("x").is_err());
        assert!(Version::parse("1.x").is_err());
    }

    #[test]
    fn versions_order_numerically_not_as_text() {
        assert!(Version::parse("13.0").unwrap() > Version::parse("5.0").unwrap());
        assert!(Version::parse("2.10").unwrap() > Version::parse("2.9").unwrap());
    }

    #[test]
    fn negotiation_caps_at_the_newest_known_version() {
        assert_eq!(Version::negotiate(Version::new(99, 0)), Version::NEWEST_KNOWN);
        assert_eq!(Version::negotiate(Version::new(5, 0)), Version::new(5, 0));
    }
}
