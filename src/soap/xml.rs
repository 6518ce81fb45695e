//! The event layer under [`envelope`](super::envelope): quick-xml events
//! reduced to what the SOAP walk needs, with the depth limit, the DOCTYPE
//! refusal, unescaping and error positions in one place.

use std::borrow::Cow;

use quick_xml::escape::{resolve_xml_entity, unescape_with};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::fault::clip;
use super::SoapError;

const SOAP11_NS: &[u8] = b"http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12_NS: &[u8] = b"http://www.w3.org/2003/05/soap-envelope";
const INTUIT_NS: &[u8] = b"http://developer.intuit.com/";

/// What the walk cares about in the event stream.
pub(super) enum Item<'i> {
    /// A start tag; `true` when it is self-closing (`<x />`).
    Open(BytesStart<'i>, bool),
    /// An end tag.
    Close,
    /// Character data, still escaped.
    Text(&'i str),
    /// A CDATA section's content.
    CData(&'i str),
    /// End of input.
    Eof,
}

/// Namespace of an element, as far as the envelope rules care.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ns {
    Soap11,
    Soap12,
    Intuit,
    /// Any other namespace URI (clipped), `""` for none.
    Other(String),
}

impl Ns {
    /// The namespace URI, for error messages.
    pub(super) fn into_uri(self) -> String {
        let known = match self {
            Ns::Soap11 => SOAP11_NS,
            Ns::Soap12 => SOAP12_NS,
            Ns::Intuit => INTUIT_NS,
            Ns::Other(uri) => return uri,
        };
        String::from_utf8_lossy(known).into_owned()
    }
}

/// A request body being read.
pub(super) struct Doc<'i> {
    reader: NsReader<&'i [u8]>,
    depth: usize,
    max_depth: usize,
}

impl<'i> Doc<'i> {
    /// Starts reading `text`, refusing nesting deeper than `max_depth`.
    pub(super) fn new(text: &'i str, max_depth: usize) -> Self {
        Doc { reader: NsReader::from_str(text), depth: 0, max_depth }
    }

    /// A parameter's text up to its end tag: text and CDATA concatenated,
    /// comments and processing instructions ignored.
    pub(super) fn read_text(&mut self, param: &'static str) -> Result<String, SoapError> {
        let mut acc: Option<Cow<'i, str>> = None;
        loop {
            let piece = match self.next()? {
                Item::Text(raw) => {
                    let raw = normalize_eol(raw);
                    self.unescape(raw)?
                }
                Item::CData(raw) => normalize_eol(raw),
                Item::Open(..) => return Err(SoapError::MarkupInParameter { param }),
                Item::Close => return Ok(acc.map_or_else(String::new, into_compact)),
                Item::Eof => return Err(self.truncated()),
            };
            match &mut acc {
                None => acc = Some(piece),
                Some(text) => text.to_mut().push_str(&piece),
            }
        }
    }

    /// Skips to the end tag of the element whose start tag was just read.
    pub(super) fn skip(&mut self) -> Result<(), SoapError> {
        let level = self.depth.saturating_sub(1);
        loop {
            match self.next()? {
                Item::Close if self.depth == level => return Ok(()),
                Item::Eof => return Err(self.truncated()),
                _ => {}
            }
        }
    }

    /// The next interesting event; refuses DTDs and excessive depth.
    pub(super) fn next(&mut self) -> Result<Item<'i>, SoapError> {
        loop {
            let event = self.reader.read_event().map_err(|e| self.xml_error(e))?;
            return match event {
                Event::Start(start) => {
                    self.depth += 1;
                    self.check_depth(self.depth)?;
                    Ok(Item::Open(start, false))
                }
                Event::Empty(start) => {
                    self.check_depth(self.depth + 1)?;
                    Ok(Item::Open(start, true))
                }
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    Ok(Item::Close)
                }
                Event::Text(t) => Ok(Item::Text(self.as_str(t.into_inner())?)),
                Event::CData(c) => Ok(Item::CData(self.as_str(c.into_inner())?)),
                Event::DocType(_) => Err(SoapError::DoctypeRefused),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => continue,
                Event::Eof => Ok(Item::Eof),
            };
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), SoapError> {
        if depth > self.max_depth {
            return Err(SoapError::TooDeep { max: self.max_depth });
        }
        Ok(())
    }

    pub(super) fn ns(&self, start: &BytesStart<'_>) -> Ns {
        match self.reader.resolve_element(start.name()).0 {
            ResolveResult::Bound(ns) if ns.as_ref() == SOAP11_NS => Ns::Soap11,
            ResolveResult::Bound(ns) if ns.as_ref() == SOAP12_NS => Ns::Soap12,
            ResolveResult::Bound(ns) if ns.as_ref() == INTUIT_NS => Ns::Intuit,
            ResolveResult::Bound(ns) => Ns::Other(clip(&String::from_utf8_lossy(ns.as_ref()))),
            ResolveResult::Unbound => Ns::Other(String::new()),
            ResolveResult::Unknown(prefix) => {
                Ns::Other(format!("undeclared prefix {}", clip(&String::from_utf8_lossy(&prefix))))
            }
        }
    }

    /// Event content as `&'i str`. Reading from a `&str` always borrows, and
    /// the body was validated as UTF-8; both fallbacks are defensive.
    fn as_str(&self, bytes: Cow<'i, [u8]>) -> Result<&'i str, SoapError> {
        match bytes {
            Cow::Borrowed(b) => std::str::from_utf8(b).map_err(|e| SoapError::NotUtf8 { position: e.valid_up_to() }),
            Cow::Owned(_) => Err(self.not_xml("unexpected owned event content")),
        }
    }

    fn unescape(&self, raw: Cow<'i, str>) -> Result<Cow<'i, str>, SoapError> {
        let unescaped = match raw {
            Cow::Borrowed(s) => unescape_with(s, resolve_xml_entity),
            // Only after end-of-line normalisation (rare): keep `s` when
            // nothing needed unescaping instead of copying it again.
            Cow::Owned(s) => match unescape_with(&s, resolve_xml_entity) {
                Ok(Cow::Borrowed(_)) => Ok(None),
                Ok(Cow::Owned(u)) => Ok(Some(u)),
                Err(e) => Err(e),
            }
            .map(|u| Cow::Owned(u.unwrap_or(s))),
        };
        unescaped.map_err(|e| self.not_xml(&e.to_string()))
    }

    fn xml_error(&self, err: quick_xml::Error) -> SoapError {
        use quick_xml::errors::SyntaxError;
        match err {
            // An unclosed DOCTYPE is still a DOCTYPE: say so rather than "not XML".
            quick_xml::Error::Syntax(SyntaxError::UnclosedDoctype) => SoapError::DoctypeRefused,
            other => SoapError::NotXml { position: self.reader.error_position(), message: other.to_string() },
        }
    }

    pub(super) fn not_xml(&self, message: &str) -> SoapError {
        SoapError::NotXml { position: self.reader.buffer_position(), message: message.to_owned() }
    }

    pub(super) fn truncated(&self) -> SoapError {
        self.not_xml("unexpected end of input: an element is not closed")
    }
}

/// The owned text without the slack unescaping leaves: quick-xml reserves
/// the escaped length, half as much again for qbXML, held as long as the job.
fn into_compact(text: Cow<'_, str>) -> String {
    let mut text = text.into_owned();
    if text.capacity() - text.len() > text.len() / 8 + 64 {
        text.shrink_to_fit();
    }
    text
}

/// XML whitespace only (or nothing).
pub(super) fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// XML end-of-line handling (XML 1.0 §2.11): literal CR LF and lone CR become
/// LF, as the .NET reader on the other side would see them. Borrows when the
/// text has no CR, which is what QBWC sends.
fn normalize_eol(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\r') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('\r') {
        out.push_str(&rest[..i]);
        out.push('\n');
        rest = &rest[i + 1..];
        if let Some(after_lf) = rest.strip_prefix('\n') {
            rest = after_lf;
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}
