//! The SOAP bodies QBWC sends, byte for byte as in the captures: one line,
//! the `soap` prefix with `xsi`/`xsd` declared, the operation under a
//! default namespace, `<x />` for an empty string, qbXML escaped as text
//! (`&`, `<`, `>`; quotes left alone).

use anyhow::{anyhow, bail};

const OPEN: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" "#,
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>"#
);
const CLOSE: &str = "</soap:Body></soap:Envelope>";

/// Appends `text` escaped as the .NET client escapes element text.
pub fn escape_into(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut from = 0;
    for (i, b) in bytes.iter().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        out.extend_from_slice(rep);
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
}

/// One parameter: `<name>escaped</name>`, or `<name />` when empty.
pub fn param(out: &mut Vec<u8>, name: &str, value: &str) {
    if value.is_empty() {
        out.extend_from_slice(format!("<{name} />").as_bytes());
    } else {
        out.extend_from_slice(format!("<{name}>").as_bytes());
        escape_into(out, value);
        out.extend_from_slice(format!("</{name}>").as_bytes());
    }
}

/// A parameter whose value is already escaped.
pub fn param_escaped(out: &mut Vec<u8>, name: &str, escaped: &[u8]) {
    if escaped.is_empty() {
        out.extend_from_slice(format!("<{name} />").as_bytes());
    } else {
        out.extend_from_slice(format!("<{name}>").as_bytes());
        out.extend_from_slice(escaped);
        out.extend_from_slice(format!("</{name}>").as_bytes());
    }
}

/// A whole request body; `params` appends the parameters (none: `<op ... />`).
pub fn envelope(method: &str, capacity: usize, params: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(OPEN.len() + CLOSE.len() + 2 * method.len() + 64 + capacity);
    out.extend_from_slice(OPEN.as_bytes());
    out.extend_from_slice(format!("<{method} xmlns=\"http://developer.intuit.com/\"").as_bytes());
    let mark = out.len();
    out.push(b'>');
    params(&mut out);
    if out.len() == mark + 1 {
        out.truncate(mark);
        out.extend_from_slice(b" />");
    } else {
        out.extend_from_slice(format!("</{method}>").as_bytes());
    }
    out.extend_from_slice(CLOSE.as_bytes());
    out
}

/// The text of every `<…Result>` or `<string>` result element, unescaped.
/// qbwcd renders results under a default namespace without prefixes.
pub fn results(body: &[u8], method: &str) -> anyhow::Result<Vec<String>> {
    let text = std::str::from_utf8(body).map_err(|_| anyhow!("{method}: response is not UTF-8"))?;
    if text.contains("Fault>") {
        bail!("{method}: SOAP fault: {}", clip(text));
    }
    let open = format!("<{method}Result>");
    let close = format!("</{method}Result>");
    let start = match text.find(&open) {
        Some(i) => i + open.len(),
        None if text.contains(&format!("<{method}Result />")) || text.contains(&format!("<{method}Result/>")) => {
            return Ok(vec![String::new()]);
        }
        None => bail!("{method}: no result element in {}", clip(text)),
    };
    let end = text[start..].find(&close).map(|i| start + i).ok_or_else(|| anyhow!("{method}: unclosed result"))?;
    let inner = &text[start..end];
    if method == "authenticate" {
        let mut out = Vec::new();
        let mut rest = inner;
        while let Some(i) = rest.find("<string") {
            rest = &rest[i + 7..];
            if let Some(r) = rest.strip_prefix(" />").or_else(|| rest.strip_prefix("/>")) {
                out.push(String::new());
                rest = r;
            } else if let Some(r) = rest.strip_prefix('>') {
                let e = r.find("</string>").ok_or_else(|| anyhow!("authenticate: unclosed string"))?;
                out.push(unescape(&r[..e]));
                rest = &r[e + 9..];
            }
        }
        return Ok(out);
    }
    Ok(vec![unescape(inner)])
}

/// Reverses XML escaping of text (the five entities and `&#13;`).
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#13;", "\r")
        .replace("&amp;", "&")
}

fn clip(s: &str) -> &str {
    let mut end = s.len().min(300);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_the_captures() {
        let sv = envelope("serverVersion", 0, |_| {});
        assert_eq!(sv, include_bytes!("../../../tests/fixtures/soap/serverVersion.xml").to_vec());
        let auth = envelope("authenticate", 64, |o| {
            param(o, "strUserName", "api");
            param(o, "strPassword", "password");
        });
        assert_eq!(auth, include_bytes!("../../../tests/fixtures/soap/authenticate.xml").to_vec());
    }
}
