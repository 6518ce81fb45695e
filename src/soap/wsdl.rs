//! The service description served at `GET /qbwc?wsdl`.
//!
//! QBWC does not read it at run time (protocol.md §3); it is for people and
//! tools. The file is consolibyte's copy of Intuit's WSDL, kept verbatim, so
//! its `soap:address` is someone else's URL until [`wsdl_for`] replaces it.

use super::render::{push_escaped, Quotes};

/// The WSDL exactly as shipped, with its original placeholder address.
pub const WSDL: &str = include_str!("qbwc.wsdl");

/// The element prefixes whose `location` attribute names the endpoint.
const ADDRESS_TAGS: [&str; 2] = ["<soap:address", "<soap12:address"];

/// The WSDL with every `soap:address` (and `soap12:address`) `location`
/// replaced by `endpoint_url`, escaped for a double-quoted attribute.
pub fn wsdl_for(endpoint_url: &str) -> String {
    replace_locations(WSDL, endpoint_url)
}

/// [`wsdl_for`] over any WSDL text.
fn replace_locations(wsdl: &str, endpoint_url: &str) -> String {
    let mut escaped = Vec::with_capacity(endpoint_url.len() + 16);
    push_escaped(&mut escaped, endpoint_url, Quotes::Escape);
    let escaped = String::from_utf8_lossy(&escaped);

    let mut out = String::with_capacity(wsdl.len() + escaped.len());
    let mut rest = wsdl;
    while let Some((tag_at, tag)) = next_address_tag(rest) {
        let after_tag = tag_at + tag.len();
        // The value between `location="` and the next `"`, inside this tag.
        let tag_end = rest[after_tag..].find('>').map_or(rest.len(), |i| after_tag + i);
        let value = rest[after_tag..tag_end].find("location=\"").and_then(|i| {
            let start = after_tag + i + "location=\"".len();
            rest[start..tag_end].find('"').map(|len| (start, start + len))
        });
        match value {
            Some((start, end)) => {
                out.push_str(&rest[..start]);
                out.push_str(&escaped);
                rest = &rest[end..];
            }
            None => {
                out.push_str(&rest[..after_tag]);
                rest = &rest[after_tag..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The first address tag in `s` and which one it is.
fn next_address_tag(s: &str) -> Option<(usize, &'static str)> {
    ADDRESS_TAGS.iter().filter_map(|tag| s.find(tag).map(|at| (at, *tag))).min_by_key(|(at, _)| *at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::events::Event;
    use quick_xml::reader::Reader;

    /// Every `location` attribute value in `xml`, unescaped.
    fn locations(xml: &str) -> Vec<String> {
        let mut reader = Reader::from_str(xml);
        let mut found = Vec::new();
        loop {
            match reader.read_event() {
                Ok(Event::Empty(e) | Event::Start(e)) => {
                    for attr in e.attributes().flatten() {
                        if attr.key.as_ref() == b"location" {
                            found.push(attr.unescape_value().map(|v| v.into_owned()).unwrap_or_default());
                        }
                    }
                }
                Ok(Event::Eof) => return found,
                Ok(_) => {}
                Err(e) => panic!("the WSDL is not well-formed: {e}"),
            }
        }
    }

    #[test]
    fn the_shipped_wsdl_keeps_its_placeholder_address() {
        assert_eq!(locations(WSDL), ["https://idn.vogelfam.net/QBMSDonorSample/QBWebConnectorSvc.asmx"]);
    }

    #[test]
    fn the_endpoint_url_replaces_the_address_and_is_escaped() {
        let url = "https://qb.example.com/qbwc?a=1&b=\"2\"<";
        let wsdl = wsdl_for(url);
        assert_eq!(locations(&wsdl), [url]);
        assert!(wsdl.contains(r#"location="https://qb.example.com/qbwc?a=1&amp;b=&quot;2&quot;&lt;""#));
        assert!(!wsdl.contains("vogelfam"));
        assert_eq!(wsdl.len(), WSDL.len() - locations(WSDL)[0].len() + url.len() + 4 + 10 + 3);
    }

    #[test]
    fn soap12_addresses_are_replaced_too() {
        let wsdl = r#"<a><soap12:address location="http://old/" /><soap:address location="x"/><soap:address/></a>"#;
        let replaced = replace_locations(wsdl, "https://new/");
        assert_eq!(
            replaced,
            r#"<a><soap12:address location="https://new/" /><soap:address location="https://new/"/><soap:address/></a>"#
        );
    }
}
