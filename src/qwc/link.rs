//! Signed onboarding links: a URL that downloads one user's `.qwc` without
//! an API token, until it expires.
//!
//! A token is `base64url(payload) + "." + base64url(HMAC-SHA256(payload))`,
//! unpadded, so it is safe in a URL path or query without encoding. The
//! payload is versioned JSON, which keeps the fields unambiguous whatever the
//! user name holds. These are pure functions: the caller supplies the clock
//! and the secret, and keeps the use count per `nonce` in the database.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Shortest signing secret worth having: 256 bits, the HMAC-SHA256 key size.
/// Callers should refuse a shorter configured secret.
pub const MIN_SECRET_LEN: usize = 32;

/// Version tag inside every payload. Bumping it invalidates old links, and
/// it separates these MACs from anything else signed with the same secret.
const VERSION: &str = "qbwcd-qwc-link/1";

/// Bytes in an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

/// What a link grants: one user's `.qwc`, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    /// The Web Connector user whose `.qwc` the link downloads.
    pub username: String,
    /// Unix seconds after which the link is refused.
    pub expires_at: i64,
    /// Random id of this link: the key for its use count, and what makes
    /// two links for the same user and second differ.
    pub nonce: String,
}

/// Fresh claims for `username`, valid `ttl_seconds` from `now_unix`, with a
/// random 128-bit nonce.
pub fn new_claims(username: &str, now_unix: i64, ttl_seconds: u64) -> LinkClaims {
    let ttl = i64::try_from(ttl_seconds).unwrap_or(i64::MAX);
    LinkClaims {
        username: username.to_owned(),
        expires_at: now_unix.saturating_add(ttl),
        nonce: uuid::Uuid::new_v4().simple().to_string(),
    }
}

/// Why a link was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    /// Not a token at all (truncated, wrong shape, bad base64).
    #[error("this link is incomplete or damaged; copy the whole link, or ask your administrator for a new one")]
    Malformed,
    /// The signature does not match: altered, or signed with another secret.
    #[error(
        "this link is not valid (it was altered or comes from another server); ask your administrator for a new one"
    )]
    BadSignature,
    /// The link was genuine but its time is up.
    #[error("this link has expired; ask your administrator for a new one")]
    Expired,
}

impl LinkError {
    /// HTTP status to answer with: 410 Gone for an expired link (it was
    /// real), 403 Forbidden for anything not genuine.
    pub fn status(&self) -> u16 {
        match self {
            LinkError::Expired => 410,
            LinkError::Malformed | LinkError::BadSignature => 403,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: String,
    #[serde(flatten)]
    claims: LinkClaims,
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length (long ones are hashed), so this cannot fail.
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// Signs `claims` into a URL-safe token.
pub fn sign_link(secret: &[u8], claims: &LinkClaims) -> String {
    let payload = Payload { v: VERSION.to_owned(), claims: claims.clone() };
    // Serialising a struct of strings and an integer cannot fail.
    let json = serde_json::to_vec(&payload).unwrap_or_default();
    let mut m = mac(secret);
    m.update(&json);
    let tag = m.finalize().into_bytes();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(&json), URL_SAFE_NO_PAD.encode(tag))
}

/// Checks a token's signature (in constant time), then its expiry, and
/// returns its claims. Nothing in the payload is trusted before the MAC
/// matches.
///
/// # Errors
/// [`LinkError::Malformed`], [`LinkError::BadSignature`] or
/// [`LinkError::Expired`] (at or after `expires_at`).
pub fn verify_link(secret: &[u8], token: &str, now_unix: i64) -> Result<LinkClaims, LinkError> {
    let (payload_b64, tag_b64) = token.trim().split_once('.').ok_or(LinkError::Malformed)?;
    let payload = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| LinkError::Malformed)?;
    let tag = URL_SAFE_NO_PAD.decode(tag_b64).map_err(|_| LinkError::Malformed)?;
    if tag.len() != TAG_LEN {
        return Err(LinkError::Malformed);
    }
    let mut m = mac(secret);
    m.update(&payload);
    m.verify_slice(&tag).map_err(|_| LinkError::BadSignature)?;
    let payload: Payload = serde_json::from_slice(&payload).map_err(|_| LinkError::Malformed)?;
    if payload.v != VERSION {
        return Err(LinkError::Malformed);
    }
    if now_unix >= payload.claims.expires_at {
        return Err(LinkError::Expired);
    }
    Ok(payload.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_700_000_000;

    fn token() -> (LinkClaims, String) {
        let claims = new_claims("Jörg & <Söhne>", NOW, 86_400);
        let t = sign_link(SECRET, &claims);
        (claims, t)
    }

    #[test]
    fn a_valid_link_gives_back_its_claims() {
        let (claims, t) = token();
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "URL-safe: {t}");
        assert_eq!(verify_link(SECRET, &t, NOW + 60), Ok(claims.clone()));
        assert_eq!(claims.expires_at, NOW + 86_400);
        assert_eq!(claims.nonce.len(), 32);
    }

    #[test]
    fn two_links_for_the_same_user_differ() {
        assert_ne!(token().1, token().1);
    }

    #[test]
    fn an_expired_link_is_refused_with_410() {
        let (claims, t) = token();
        let err = verify_link(SECRET, &t, claims.expires_at).unwrap_err();
        assert_eq!(err, LinkError::Expired);
        assert_eq!(err.status(), 410);
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let (mut claims, t) = token();
        claims.expires_at += 365 * 86_400;
        let forged = sign_link(b"another secret of the same length!", &claims);
        let (payload, _) = forged.split_once('.').unwrap();
        let (_, tag) = t.split_once('.').unwrap();
        let err = verify_link(SECRET, &format!("{payload}.{tag}"), NOW).unwrap_err();
        assert_eq!(err, LinkError::BadSignature);
        assert_eq!(err.status(), 403);
    }

    #[test]
    fn a_tampered_signature_is_refused() {
        let (_, t) = token();
        let mut bytes = t.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(bytes).unwrap();
        assert_eq!(verify_link(SECRET, &t, NOW), Err(LinkError::BadSignature));
    }

    #[test]
    fn a_link_signed_with_another_secret_is_refused() {
        let (_, t) = token();
        assert_eq!(verify_link(b"some other server's secret......", &t, NOW), Err(LinkError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for junk in ["", ".", "abc", "abc.", ".abc", "!!!.???", "a.b.c", "\u{1F600}.x"] {
            assert_eq!(verify_link(SECRET, junk, NOW), Err(LinkError::Malformed), "{junk:?}");
        }
        // Well-formed base64 but a tag of the wrong length is not a token either.
        assert_eq!(verify_link(SECRET, "e30.AAAA", NOW), Err(LinkError::Malformed));
    }

    #[test]
    fn a_signed_payload_of_another_version_is_malformed() {
        let json = br#"{"v":"qbwcd-qwc-link/0","username":"a","expires_at":1800000000,"nonce":"n"}"#;
        let mut m = mac(SECRET);
        m.update(json);
        let t = format!("{}.{}", URL_SAFE_NO_PAD.encode(json), URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()));
        assert_eq!(verify_link(SECRET, &t, NOW), Err(LinkError::Malformed));
    }

    #[test]
    fn huge_ttls_saturate_instead_of_overflowing() {
        assert_eq!(new_claims("a", NOW, u64::MAX).expires_at, i64::MAX);
    }
}
