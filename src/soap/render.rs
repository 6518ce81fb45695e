//! A typed [`Reply`] to the exact bytes the .NET Web Connector proxy expects
//! (protocol.md §3): one line, SOAP 1.1, result elements in
//! `http://developer.intuit.com/` under a default namespace.

use super::Reply;

/// Everything before the operation's response element. The `xsi`/`xsd`
/// declarations mirror what .NET itself emits; the client ignores them.
pub(crate) const ENVELOPE_HEAD: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" "#,
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" "#,
    r#"xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>"#,
);

/// Everything after the operation's response element.
pub(crate) const ENVELOPE_TAIL: &str = "</soap:Body></soap:Envelope>";

/// Whether [`push_escaped`] escapes `"` (needed inside attribute values only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quotes {
    /// Leave `"` and `'` as they are: element content, as QBWC itself sends it.
    Keep,
    /// Write `"` as `&quot;`: a double-quoted attribute value.
    Escape,
}

/// U+FFFD, written in place of characters XML 1.0 cannot carry at all.
const REPLACEMENT: &[u8; 3] = b"\xEF\xBF\xBD";

/// Bytes that need a look: markup, CR, C0 controls and 0xEF (the lead byte of
/// U+FFFE/U+FFFF). Every other byte, UTF-8 continuation bytes included, is copied.
const fn special_bytes(quotes: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b != b'\t' as usize && b != b'\n' as usize;
        b += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'"' as usize] = quotes;
    table[0xEF] = true;
    table
}

const SPECIAL_TEXT: [bool; 256] = special_bytes(false);
const SPECIAL_ATTR: [bool; 256] = special_bytes(true);

/// Appends `text` escaped for XML in one pass, copying unchanged runs whole.
///
/// - `&`, `<`, `>` always become entities (`>` so that `]]>` can never appear).
/// - `\r` becomes `&#13;`: a raw CR would be turned into LF by the client's
///   XML reader (end-of-line normalisation), the reference survives.
/// - Characters XML 1.0 forbids even as references (C0 controls other than
///   tab, LF and CR; U+FFFE; U+FFFF) are **replaced by U+FFFD**, not dropped,
///   so the change is visible; raw, they would make QBWC's parser throw.
pub(crate) fn push_escaped(out: &mut Vec<u8>, text: &str, quotes: Quotes) {
    let table = match quotes {
        Quotes::Keep => &SPECIAL_TEXT,
        Quotes::Escape => &SPECIAL_ATTR,
    };
    let bytes = text.as_bytes();
    let mut copied_to = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // 0xEF leads many characters; only U+FFFE and U+FFFF are illegal.
        let illegal_ef = || matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF]));
        if !table[usize::from(b)] || (b == 0xEF && !illegal_ef()) {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[copied_to..i]);
        // One arm per byte so each replacement is a fixed-size copy.
        let width = match b {
            b'&' => push(out, b"&amp;"),
            b'<' => push(out, b"&lt;"),
            b'>' => push(out, b"&gt;"),
            b'"' => push(out, b"&quot;"),
            b'\r' => push(out, b"&#13;"),
            0xEF => push(out, REPLACEMENT) + 2,
            _ => push(out, REPLACEMENT),
        };
        i += width;
        copied_to = i;
    }
    out.extend_from_slice(&bytes[copied_to..]);
}

/// Appends `bytes`; returns 1, the input bytes consumed by most escapes.
#[inline(always)]
fn push<const N: usize>(out: &mut Vec<u8>, bytes: &[u8; N]) -> usize {
    out.extend_from_slice(bytes);
    1
}

/// Renders the complete HTTP body for `reply`:
/// `<{op}Response xmlns="http://developer.intuit.com/"><{op}Result>…</{op}Result></{op}Response>`
/// inside the SOAP 1.1 envelope, with no whitespace between elements.
/// `authenticate` gets one `<string>` per element; `receiveResponseXML` the
/// integer in decimal. Text escaping: `&`, `<`, `>` as entities, CR as
/// `&#13;`, quotes as they are, and characters XML 1.0 cannot carry (C0
/// controls but tab, LF and CR; U+FFFE; U+FFFF) replaced by U+FFFD.
pub fn render_reply(reply: &Reply) -> Vec<u8> {
    let op = reply.method().name().as_bytes();
    let payload = match reply {
        Reply::Authenticate(strings) => strings.iter().map(|s| s.len() + 17).sum(),
        _ => reply.text().map_or(11, str::len),
    };
    // qbXML is markup-heavy: every `<`/`>` grows by three bytes. Half again
    // covers typical requests, so a 64 MB request is not reallocated.
    let capacity = ENVELOPE_HEAD.len() + ENVELOPE_TAIL.len() + 4 * op.len() + 80 + payload + payload / 2;
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(ENVELOPE_HEAD.as_bytes());
    for part in [b"<".as_slice(), op, b"Response xmlns=\"http://developer.intuit.com/\"><", op, b"Result>"] {
        out.extend_from_slice(part);
    }
    match reply {
        Reply::Authenticate(strings) => {
            for s in strings {
                out.extend_from_slice(b"<string>");
                push_escaped(&mut out, s, Quotes::Keep);
                out.extend_from_slice(b"</string>");
            }
        }
        Reply::ReceiveResponseXml(percent) => out.extend_from_slice(percent.to_string().as_bytes()),
        _ => push_escaped(&mut out, reply.text().unwrap_or_default(), Quotes::Keep),
    }
    for part in [b"</".as_slice(), op, b"Result></", op, b"Response>"] {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(ENVELOPE_TAIL.as_bytes());
    out
}
