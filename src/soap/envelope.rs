//! HTTP body bytes → a typed [`Call`]: the SOAP structure.
//!
//! A streaming, namespace-aware walk with quick-xml over the borrowed body:
//! text is unescaped straight from the input slice, and each parameter's
//! `String` is allocated once (twice only when it holds a raw CR or is split
//! by CDATA or comments). No DTDs: a `<!DOCTYPE` is refused, so entity
//! expansion cannot happen; only the five XML entities and character
//! references are resolved.

use quick_xml::events::BytesStart;

use super::fault::clip;
use super::params::build_call;
use super::xml::{is_blank, Doc, Item, Ns};
use super::{Call, Method, SoapError};

/// Bounds on what [`parse_call`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest element nesting accepted; the Envelope is level 1, a parameter
    /// level 4. Body size is bounded by the HTTP layer, not here.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 64 }
    }
}

/// Parses one Web Connector request body.
///
/// Any prefixes are accepted. The root must be a SOAP 1.1 `Envelope`; a
/// `Header` (or any other element before the `Body`) is skipped; the first
/// element in the `Body` is the operation and must be in
/// `http://developer.intuit.com/`. Parameters are its children, matched by
/// local name exactly as the .NET XmlSerializer does (case-sensitive, first
/// occurrence wins); unknown ones are ignored. A known parameter holding
/// child elements is refused ([`SoapError::MarkupInParameter`]) rather than
/// flattened, because flattened qbXML would fail later and more obscurely.
/// Literal line breaks in parameter text are normalised to LF as any XML
/// parser must; `&#13;` survives as CR.
///
/// # Errors
/// A [`SoapError`] for anything that is not such a request; all of them are
/// client faults.
pub fn parse_call(body: &[u8], limits: &Limits) -> Result<Call, SoapError> {
    // Validate once up front: afterwards every slice is known to be UTF-8, and
    // the result does not depend on quick-xml's optional `encoding` feature.
    let text = std::str::from_utf8(body).map_err(|e| SoapError::NotUtf8 { position: e.valid_up_to() })?;
    Doc::new(text, limits.max_depth).read_document()
}

impl<'i> Doc<'i> {
    fn read_document(&mut self) -> Result<Call, SoapError> {
        let (root, empty) = loop {
            match self.next()? {
                Item::Open(start, empty) => break (start, empty),
                Item::Text(t) if is_blank(t) => {}
                Item::Eof => return Err(self.not_xml("no root element")),
                _ => return Err(self.not_xml("text before the root element")),
            }
        };
        match (self.ns(&root), root.local_name().as_ref()) {
            (Ns::Soap11, b"Envelope") => {}
            (Ns::Soap12, b"Envelope") => return Err(SoapError::VersionMismatch),
            _ => return Err(SoapError::NotSoapEnvelope),
        }
        let call = if empty { None } else { self.read_envelope()? };
        // Read to the end so that a truncated or trailing-garbage body is refused.
        loop {
            match self.next()? {
                Item::Eof => break,
                Item::Text(t) if is_blank(t) => {}
                _ => return Err(self.not_xml("content after the root element")),
            }
        }
        call.ok_or(SoapError::NoBody)
    }

    /// Children of the Envelope, up to its end tag.
    fn read_envelope(&mut self) -> Result<Option<Call>, SoapError> {
        let mut call = None;
        loop {
            match self.next()? {
                Item::Open(start, empty) => {
                    let is_body = start.local_name().as_ref() == b"Body" && self.ns(&start) == Ns::Soap11;
                    if is_body && call.is_none() {
                        if empty {
                            return Err(SoapError::NoOperation);
                        }
                        call = Some(self.read_body()?);
                    } else if !empty {
                        self.skip()?;
                    }
                }
                Item::Close => return Ok(call),
                Item::Text(_) | Item::CData(_) => {}
                Item::Eof => return Err(self.truncated()),
            }
        }
    }

    /// Children of the Body: the operation, then anything else (skipped).
    fn read_body(&mut self) -> Result<Call, SoapError> {
        loop {
            match self.next()? {
                Item::Open(start, empty) => {
                    let method = self.operation(&start)?;
                    let call = self.read_operation(method, empty)?;
                    self.skip()?;
                    return Ok(call);
                }
                Item::Close => return Err(SoapError::NoOperation),
                Item::Text(_) | Item::CData(_) => {}
                Item::Eof => return Err(self.truncated()),
            }
        }
    }

    fn operation(&self, start: &BytesStart<'_>) -> Result<Method, SoapError> {
        let ns = self.ns(start);
        if ns != Ns::Intuit {
            return Err(SoapError::WrongNamespace { namespace: ns.into_uri() });
        }
        let name = String::from_utf8_lossy(start.local_name().into_inner());
        Method::from_name(&name).ok_or_else(|| SoapError::UnknownOperation { name: clip(&name) })
    }

    /// The operation's parameters, up to its end tag; then builds the call.
    fn read_operation(&mut self, method: Method, empty: bool) -> Result<Call, SoapError> {
        let names = super::params::names(method);
        let mut values: [Option<String>; 6] = Default::default();
        if empty {
            return build_call(method, values);
        }
        loop {
            match self.next()? {
                Item::Open(start, empty) => {
                    let local = start.local_name();
                    let slot = names.iter().position(|n| n.as_bytes() == local.as_ref());
                    match slot {
                        Some(i) if values[i].is_none() => {
                            values[i] = Some(if empty { String::new() } else { self.read_text(names[i])? });
                        }
                        _ if !empty => self.skip()?,
                        _ => {}
                    }
                }
                Item::Close => break,
                Item::Text(_) | Item::CData(_) => {}
                Item::Eof => return Err(self.truncated()),
            }
        }
        build_call(method, values)
    }
}
