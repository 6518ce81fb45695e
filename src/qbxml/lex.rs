//! A strict XML tokenizer for submitted qbXML.
//!
//! Every enqueue reads its whole submission once, and a 1 MB request has
//! some 120,000 tags and texts, so the reader's cost per token decides what
//! enqueuing costs. The submission is a `&str` held whole, which lets this
//! reader be small: each token borrows from the text, nothing is buffered
//! or decoded, and a text or a name is one table-driven scan.
//!
//! It is also stricter than quick-xml, which leaves names, characters and
//! comments unchecked: the requests are sent to QuickBooks verbatim, and
//! QuickBooks' own parser refuses what XML 1.0 does not allow, so whatever
//! would fail there is refused here, at enqueue, with its line and column.
//! Checked: names (XML 1.0's name characters), attribute syntax, quotes,
//! `<` in values and duplicate attributes, that each end tag closes the
//! element it ends, entity and character references (only the five
//! predefined entities: no DTD is accepted), characters XML 1.0 excludes
//! (C0 controls other than tab, line feed and carriage return, U+FFFE and
//! U+FFFF, written or referenced), `]]>` in text, `--` in comments. DEL
//! and the C1 controls (U+007F to U+009F) are refused too: XML allows
//! them, but they only ever arrive by mistake (Windows-1252 decoded as
//! Latin-1, a stray delete) and QuickBooks' Windows-1252 text cannot hold
//! them. A tag has at most [`MAX_ATTRIBUTES`] attributes, so checking
//! them for repeats stays cheap.
//!
//! Answers and SOAP bodies are read with quick-xml: answers are read
//! leniently (never refused) and streamed, which this reader does not do.

use std::borrow::Cow;

/// A token of the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// `<name …>`.
    Start(Tag<'a>),
    /// `<name …/>`.
    Empty(Tag<'a>),
    /// `</name>`, already checked to close the element open.
    End,
    /// Character data as written, and whether it holds a reference
    /// ([`unescape`] replaces them).
    Text(&'a str, bool),
    /// The content of `<![CDATA[…]]>`.
    CData(&'a str),
    /// `<!--…-->`.
    Comment,
    /// `<?target rest?>`, the XML declaration included (target `xml`).
    Pi {
        /// The instruction's target.
        target: &'a str,
        /// What follows the target, without the whitespace after it.
        rest: &'a str,
    },
    /// `<!DOCTYPE`: the caller refuses it, so it is not read further (the
    /// next token is the end).
    Doctype,
}

/// A start tag: its name and its attributes, already checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tag<'a> {
    name: &'a str,
    /// The attributes as written, from the end of the name to the last
    /// one's closing quote; empty when there are none.
    attrs: &'a str,
}

impl<'a> Tag<'a> {
    /// The name after its prefix, if it has one.
    pub(crate) fn local_name(&self) -> &'a str {
        local(self.name)
    }

    /// The attributes in order: each one's local name and its value as
    /// written (see [`unescape`]).
    pub(crate) fn attributes(&self) -> Attributes<'a> {
        Attributes { rest: self.attrs }
    }

    /// The value of the attribute whose local name is `name`, unescaped.
    pub(crate) fn attr(&self, name: &str) -> Option<Cow<'a, str>> {
        self.attributes().find(|(k, _)| *k == name).map(|(_, v)| unescape(v))
    }
}

/// The attributes of a [`Tag`]: their syntax was checked when the tag was
/// read, so reading them again cannot fail.
#[derive(Clone, Debug)]
pub(crate) struct Attributes<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (&'a str, &'a str);

    // Inlined so that a tag without attributes costs one comparison.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            None
        } else {
            self.read_one()
        }
    }
}

impl<'a> Attributes<'a> {
    #[inline(never)]
    fn read_one(&mut self) -> Option<(&'a str, &'a str)> {
        // Checked syntax: name, `=`, a quoted value, whitespace between.
        let bytes = self.rest.as_bytes();
        let from = skip_space(bytes, 0);
        let eq = from + bytes[from..].iter().position(|&b| b == b'=')?;
        let name = self.rest[from..eq].trim_end_matches(is_space_char);
        let open = skip_space(bytes, eq + 1);
        let quote = *bytes.get(open)?;
        let len = memchr::memchr(quote, &bytes[open + 1..])?;
        let value = &self.rest[open + 1..open + 1 + len];
        self.rest = &self.rest[open + 1 + len + 1..];
        Some((local(name), value))
    }
}

/// The part of a qualified name after its first colon, as quick-xml's.
pub(crate) fn local(name: &str) -> &str {
    // Names are short: a plain scan costs less than a vectorised search.
    name.bytes().position(|b| b == b':').map_or(name, |i| &name[i + 1..])
}

/// Why the text is not well-formed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at line {line}, column {column}")]
pub(crate) struct LexError {
    what: String,
    line: usize,
    column: usize,
}

impl LexError {
    fn new(text: &str, at: usize, what: impl Into<String>) -> Self {
        // `at` may fall inside a character when the caller points at a
        // byte; the column counts characters up to the boundary before it.
        let mut at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let before = &text[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        LexError {
            what: what.into(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// Reads tokens from a text.
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    /// The names of the open elements.
    open: Vec<&'a str>,
    /// The attribute names of the tag being read, to refuse a repeat.
    attr_names: Vec<&'a str>,
}

/// The most attributes one tag may have: qbXML's elements declare at most
/// a handful, and repeats are looked for among them.
pub(crate) const MAX_ATTRIBUTES: usize = 32;

impl<'a> Lexer<'a> {
    /// A reader at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        Lexer { text, pos: 0, open: Vec::new(), attr_names: Vec::new() }
    }

    /// The byte offset of the next token.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The next token, or `None` at the end of a text whose elements are
    /// all closed.
    ///
    /// # Errors
    /// Where the text is not well-formed XML; reading on after an error
    /// gives no meaningful token.
    pub(crate) fn next_token(&mut self) -> Result<Option<Token<'a>>, LexError> {
        let bytes = self.text.as_bytes();
        match bytes.get(self.pos) {
            None => match self.open.last() {
                Some(name) => Err(self.error(self.pos, format!("unexpected end of input: <{name}> is not closed"))),
                None => Ok(None),
            },
            Some(b'<') => self.markup().map(Some),
            Some(_) => self.text_token().map(Some),
        }
    }

    fn error(&self, at: usize, what: impl Into<String>) -> LexError {
        LexError::new(self.text, at, what)
    }

    /// Character data up to the next `<`, its characters and references
    /// checked in one pass.
    fn text_token(&mut self) -> Result<Token<'a>, LexError> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut i = start;
        let mut refs = false;
        loop {
            // Most bytes are plain: skip them in a tight loop.
            i += bytes[i..].iter().position(|&b| CLASS[b as usize] != PLAIN).unwrap_or(bytes.len() - i);
            match bytes.get(i).map(|&b| CLASS[b as usize]) {
                None | Some(LT) => break,
                Some(AMP) => {
                    refs = true;
                    i = self.reference(i)?;
                }
                Some(BRACKET) => {
                    if bytes[i..].starts_with(b"]]>") {
                        return Err(self.error(i, "\"]]>\" is not allowed in text; write \"]]&gt;\""));
                    }
                    i += 1;
                }
                Some(_) => i = self.unusual(i)?,
            }
        }
        self.pos = i;
        Ok(Token::Text(&self.text[start..i], refs))
    }

    /// The character at `i` (a control, or led by a byte that may lead
    /// one refused) is refused when [`allowed`] says so; returns where to
    /// go on.
    fn unusual(&self, i: usize) -> Result<usize, LexError> {
        let c = self.text[i..].chars().next().unwrap_or('\0');
        if !allowed(c) {
            return Err(self.error(i, format!("character {}", refusal(c))));
        }
        Ok(i + c.len_utf8())
    }

    /// Checks the reference starting at `i` (an `&`); returns the offset
    /// after its `;`.
    fn reference(&self, i: usize) -> Result<usize, LexError> {
        match reference_at(&self.text[i..]) {
            Ok((_, len)) => Ok(i + len),
            Err(Refused::Unterminated) => {
                Err(self.error(i, "\"&\" starts no reference; write \"&amp;\" for an ampersand"))
            }
            Err(Refused::NotAllowed(name, c)) => Err(self.error(i, format!("&{name}; refers to {}", refusal(c)))),
            Err(Refused::BadNumber(name)) => Err(self.error(i, format!("&{name}; is not a character reference"))),
            Err(Refused::Unknown(name)) => Err(self.error(
                i,
                format!(
                    "unknown entity &{name};: only &amp; &lt; &gt; &quot; &apos; and character references are defined"
                ),
            )),
        }
    }

    /// Checks the characters and references of `s`, which starts at
    /// offset `at`: an attribute value (`refs`), or a comment, CDATA
    /// section or instruction (no references).
    fn check_chars(&self, s: &str, at: usize, refs: bool) -> Result<(), LexError> {
        let bytes = s.as_bytes();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            match CLASS[b as usize] {
                AMP if refs => i = self.reference(at + i)? - at,
                UNUSUAL => i = self.unusual(at + i)? - at,
                _ => i += 1,
            }
        }
        Ok(())
    }

    /// A token starting with `<`.
    fn markup(&mut self) -> Result<Token<'a>, LexError> {
        let rest = &self.text.as_bytes()[self.pos + 1..];
        match rest.first() {
            Some(b'/') => self.end_tag(),
            Some(b'?') => self.instruction(),
            Some(b'!') if rest.starts_with(b"!--") => self.comment(),
            Some(b'!') if rest.starts_with(b"![CDATA[") => self.cdata(),
            // Any case, as quick-xml reads it: it is refused either way.
            Some(b'!') if rest.get(..8).is_some_and(|k| k.eq_ignore_ascii_case(b"!DOCTYPE")) => {
                // Not read further: whoever reads on gets the end.
                self.pos = self.text.len();
                self.open.clear();
                Ok(Token::Doctype)
            }
            Some(b'!') => Err(self.error(self.pos, "\"<!\" starts neither a comment nor a CDATA section")),
            _ => self.start_tag(),
        }
    }

    /// A name starting at `i`, `what` the caller expected there; returns
    /// the offset after it.
    fn name(&self, i: usize, what: impl FnOnce() -> String) -> Result<usize, LexError> {
        let bytes = self.text.as_bytes();
        let mut j = i;
        loop {
            // ASCII name characters in a tight loop; anything else below.
            j += bytes[j..].iter().position(|&b| NAME[b as usize] & NAME_CHAR == 0).unwrap_or(bytes.len() - j);
            match bytes.get(j) {
                Some(&b) if b >= 0x80 => {
                    let c = self.text[j..].chars().next().unwrap_or('\0');
                    if !is_name_char(c) {
                        break;
                    }
                    j += c.len_utf8();
                }
                _ => break,
            }
        }
        let starts_well = match bytes.get(i) {
            Some(&b) if b < 0x80 => NAME[b as usize] & NAME_START != 0,
            _ => self.text[i..j].chars().next().is_some_and(is_name_start),
        };
        if !starts_well {
            let found = self.text[i..].chars().next().map_or_else(|| "the end".to_owned(), |c| format!("{c:?}"));
            return Err(self.error(i, format!("expected {}; found {found}", what())));
        }
        Ok(j)
    }

    fn start_tag(&mut self) -> Result<Token<'a>, LexError> {
        let bytes = self.text.as_bytes();
        let lt = self.pos;
        let name_end = self.name(lt + 1, || "an element name after \"<\"".into())?;
        let name = &self.text[lt + 1..name_end];
        // Where the attributes read so far end: the tag's attributes are
        // the text from its name to there (the iterator skips the space).
        let mut i = name_end;
        self.attr_names.clear();
        loop {
            let after_space = skip_space(bytes, i);
            match bytes.get(after_space) {
                Some(b'>') => {
                    self.pos = after_space + 1;
                    self.open.push(name);
                    return Ok(Token::Start(Tag { name, attrs: &self.text[name_end..i] }));
                }
                Some(b'/') if bytes.get(after_space + 1) == Some(&b'>') => {
                    self.pos = after_space + 2;
                    return Ok(Token::Empty(Tag { name, attrs: &self.text[name_end..i] }));
                }
                None => return Err(self.error(lt, format!("the start tag <{name}> is not closed with \">\""))),
                Some(_) if after_space == i => {
                    return Err(self.error(i, format!("expected whitespace, \">\" or \"/>\" in the start tag <{name}>")))
                }
                Some(_) => {
                    if self.attr_names.len() == MAX_ATTRIBUTES {
                        return Err(
                            self.error(after_space, format!("<{name}> has more than {MAX_ATTRIBUTES} attributes"))
                        );
                    }
                    let (attribute, end) = self.attribute(after_space, name)?;
                    if self.attr_names.contains(&attribute) {
                        return Err(self.error(after_space, format!("attribute {attribute} appears twice in <{name}>")));
                    }
                    self.attr_names.push(attribute);
                    i = end;
                }
            }
        }
    }

    /// An attribute starting at `i` in the start tag of `element`; returns
    /// its name and the offset after its closing quote.
    fn attribute(&self, i: usize, element: &str) -> Result<(&'a str, usize), LexError> {
        let bytes = self.text.as_bytes();
        let name_end = self.name(i, || format!("an attribute name, \">\" or \"/>\" in <{element}>"))?;
        let name = &self.text[i..name_end];
        let eq = skip_space(bytes, name_end);
        if bytes.get(eq) != Some(&b'=') {
            return Err(self.error(eq, format!("attribute {name} of <{element}> has no value (expected \"=\")")));
        }
        let open = skip_space(bytes, eq + 1);
        let quote = match bytes.get(open) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(self.error(open, format!("the value of attribute {name} of <{element}> is not quoted"))),
        };
        let Some(len) = memchr::memchr(quote, &bytes[open + 1..]) else {
            return Err(self.error(open, format!("the value of attribute {name} of <{element}> is not closed")));
        };
        let value = &self.text[open + 1..open + 1 + len];
        if let Some(lt) = memchr::memchr(b'<', value.as_bytes()) {
            return Err(self.error(open + 1 + lt, format!("\"<\" in the value of attribute {name}; write \"&lt;\"")));
        }
        self.check_chars(value, open + 1, true)?;
        Ok((name, open + 1 + len + 1))
    }

    fn end_tag(&mut self) -> Result<Token<'a>, LexError> {
        let bytes = self.text.as_bytes();
        let lt = self.pos;
        // The usual case: `</name>` of the element open.
        if let Some(open) = self.open.last() {
            let after = lt + 2 + open.len();
            if bytes[lt + 2..].starts_with(open.as_bytes()) && bytes.get(after) == Some(&b'>') {
                self.open.pop();
                self.pos = after + 1;
                return Ok(Token::End);
            }
        }
        let name_end = self.name(lt + 2, || "an element name after \"</\"".into())?;
        let name = &self.text[lt + 2..name_end];
        let gt = skip_space(bytes, name_end);
        if bytes.get(gt) != Some(&b'>') {
            return Err(self.error(gt, format!("the end tag </{name}> is not closed with \">\"")));
        }
        match self.open.pop() {
            Some(open) if open == name => {}
            Some(open) => return Err(self.error(lt, format!("expected </{open}>; found </{name}>"))),
            None => return Err(self.error(lt, format!("</{name}> closes no open element"))),
        }
        self.pos = gt + 1;
        Ok(Token::End)
    }

    fn instruction(&mut self) -> Result<Token<'a>, LexError> {
        let lt = self.pos;
        let target_end = self.name(lt + 2, || "a target name after \"<?\"".into())?;
        let target = &self.text[lt + 2..target_end];
        let Some(close) = memchr::memmem::find(&self.text.as_bytes()[target_end..], b"?>") else {
            return Err(self.error(lt, format!("the instruction <?{target} is not closed with \"?>\"")));
        };
        let rest = &self.text[target_end..target_end + close];
        if !rest.is_empty() && !rest.starts_with(is_space_char) {
            return Err(self.error(target_end, format!("expected whitespace after <?{target}")));
        }
        self.check_chars(rest, target_end, false)?;
        self.pos = target_end + close + 2;
        Ok(Token::Pi { target, rest: rest.trim_start_matches(is_space_char) })
    }

    fn comment(&mut self) -> Result<Token<'a>, LexError> {
        let from = self.pos + 4;
        let Some(dashes) = memchr::memmem::find(&self.text.as_bytes()[from..], b"--") else {
            return Err(self.error(self.pos, "the comment is not closed with \"-->\""));
        };
        let end = from + dashes;
        if self.text.as_bytes().get(end + 2) != Some(&b'>') {
            return Err(self.error(end, "\"--\" is not allowed inside a comment"));
        }
        self.check_chars(&self.text[from..end], from, false)?;
        self.pos = end + 3;
        Ok(Token::Comment)
    }

    fn cdata(&mut self) -> Result<Token<'a>, LexError> {
        let from = self.pos + 9;
        let Some(len) = memchr::memmem::find(&self.text.as_bytes()[from..], b"]]>") else {
            return Err(self.error(self.pos, "the CDATA section is not closed with \"]]>\""));
        };
        let content = &self.text[from..from + len];
        self.check_chars(content, from, false)?;
        self.pos = from + len + 3;
        Ok(Token::CData(content))
    }
}

/// `s` with its references replaced: borrowed when it has none. A
/// reference this reader would have refused is kept as written.
pub(crate) fn unescape(s: &str) -> Cow<'_, str> {
    replace_references(s, true).unwrap_or(Cow::Borrowed(s))
}

/// `s` with its references replaced, or `None` when one of them is a
/// reference this reader refuses: what the answer reader (quick-xml's
/// events) tries first, leaving the rest to quick-xml.
pub(crate) fn unescape_checked(s: &str) -> Option<Cow<'_, str>> {
    replace_references(s, false)
}

/// [`unescape`] (`keep_refused`) and [`unescape_checked`].
fn replace_references(s: &str, keep_refused: bool) -> Option<Cow<'_, str>> {
    // Texts are short: a plain scan costs less than a vectorised search.
    let next_amp = |s: &str| s.bytes().position(|b| b == b'&');
    let Some(mut at) = next_amp(s) else {
        return Some(Cow::Borrowed(s));
    };
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match reference_at(rest) {
            Ok((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            Err(_) if keep_refused => {
                out.push('&');
                rest = &rest[1..];
            }
            Err(_) => return None,
        }
        match next_amp(rest) {
            Some(i) => at = i,
            None => break,
        }
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

/// Why a reference is refused; names are what stood between `&` and `;`.
enum Refused<'a> {
    /// No `;` after the letters, digits and `#` that follow the `&`.
    Unterminated,
    /// A character reference to a character XML does not allow.
    NotAllowed(&'a str, char),
    /// `&#…;` that is not a number of a character.
    BadNumber(&'a str),
    /// An entity other than the five predefined.
    Unknown(&'a str),
}

/// The reference at the start of `s` (which starts with `&`): its
/// character and its length.
fn reference_at(s: &str) -> Result<(char, usize), Refused<'_>> {
    // The entities of qbXML's texts (`&amp;` in names most of all) first.
    let b = s.as_bytes();
    match b.get(1..4) {
        Some(b"amp") if b.get(4) == Some(&b';') => return Ok(('&', 5)),
        Some(b"lt;") => return Ok(('<', 4)),
        Some(b"gt;") => return Ok(('>', 4)),
        _ => {}
    }
    // A reference is letters, digits and `#`: the first other byte must be
    // its `;`, so a search never runs past the text or value it is in.
    let end = b[1..].iter().position(|&b| !(b.is_ascii_alphanumeric() || b == b'#')).unwrap_or(b.len() - 1);
    if end == 0 || b.get(1 + end) != Some(&b';') {
        return Err(Refused::Unterminated);
    }
    let name = &s[1..1 + end];
    let c = match name.strip_prefix('#') {
        Some(number) => match char_reference(number) {
            Some(c) if allowed(c) => c,
            Some(c) => return Err(Refused::NotAllowed(name, c)),
            None => return Err(Refused::BadNumber(name)),
        },
        None => match name {
            "quot" => '"',
            "apos" => '\'',
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            _ => return Err(Refused::Unknown(name)),
        },
    };
    Ok((c, end + 2))
}

/// The character of `#…` without its `#`: decimal, or hexadecimal after
/// `x`.
fn char_reference(number: &str) -> Option<char> {
    let (digits, radix) = match number.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    // `from_str_radix` takes a sign, which a reference may not have.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    char::from_u32(u32::from_str_radix(digits, radix).ok()?)
}

/// The first character of `s` that submitted qbXML may not hold (see
/// [`allowed`]), if any: what a text written into qbXML from elsewhere
/// (JSON) is checked for.
pub(crate) fn disallowed_char(s: &str) -> Option<char> {
    if !s.bytes().any(may_lead_refused) {
        return None;
    }
    s.chars().find(|&c| !allowed(c))
}

/// Why character `c` is refused, for a message.
pub(crate) fn refusal(c: char) -> String {
    let code = c as u32;
    if is_xml_char(c) {
        format!("U+{code:04X}, a control character QuickBooks cannot take")
    } else {
        format!("U+{code:04X}, which XML does not allow")
    }
}

/// Whether submitted qbXML may hold `c`: XML 1.0's characters but DEL and
/// the C1 controls (see the module's documentation).
fn allowed(c: char) -> bool {
    is_xml_char(c) && !matches!(c, '\u{7F}'..='\u{9F}')
}

/// XML 1.0's `Char` (a `char` is never a surrogate).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

const fn is_name_start(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}'
        | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

const fn is_name_char(c: char) -> bool {
    is_name_start(c) || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

fn is_space_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn skip_space(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

/// What a byte of character data asks of the text scan.
/// Nothing to do: the scan goes on.
const PLAIN: u8 = 0;
/// `<`, which ends a text.
const LT: u8 = 1;
/// `&`, which starts a reference.
const AMP: u8 = 2;
/// `]`, which may start `]]>`.
const BRACKET: u8 = 3;
/// A byte that may lead a refused character ([`may_lead_refused`]).
const UNUSUAL: u8 = 4;

const CLASS: [u8; 256] = {
    let mut t = [PLAIN; 256];
    let mut b = 0;
    while b < 256 {
        if may_lead_refused(b as u8) {
            t[b] = UNUSUAL;
        }
        b += 1;
    }
    t[b'<' as usize] = LT;
    t[b'&' as usize] = AMP;
    t[b']' as usize] = BRACKET;
    t
};

/// Whether byte `b` may start a character submitted qbXML may not hold
/// (see [`allowed`]): a C0 control other than tab and line breaks, DEL, or
/// `0xC2` and `0xEF`, which lead the C1 controls and U+FFFE/U+FFFF (and
/// other characters, which are allowed). The one list of such bytes, for
/// every scan that looks for them.
pub(crate) const fn may_lead_refused(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0B | 0x0C | 0x0E..=0x1F | 0x7F | 0xC2 | 0xEF)
}

/// What an ASCII byte may be in a name: [`NAME_CHAR`], and also
/// [`NAME_START`] (other bytes are read as characters).
const NAME: [u8; 256] = {
    let mut t = [0; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8 as char;
        t[b] = if is_name_start(c) {
            NAME_START | NAME_CHAR
        } else if is_name_char(c) {
            NAME_CHAR
        } else {
            0
        };
        b += 1;
    }
    t
};
/// In [`NAME`]: may be in a name.
const NAME_CHAR: u8 = 1;
/// In [`NAME`]: may start a name.
const NAME_START: u8 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Result<Vec<Token<'_>>, LexError> {
        let mut lexer = Lexer::new(text);
        let mut out = Vec::new();
        while let Some(t) = lexer.next_token()? {
            out.push(t);
        }
        Ok(out)
    }

    fn refused(text: &str) -> String {
        match tokens(text) {
            Ok(t) => panic!("{text:?} was accepted: {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn well_formed_text_is_read_as_tokens() {
        let text =
            "<?xml version=\"1.0\"?>\n<!-- note --><a:R x = '1' y=\"&lt;2&#x41;\"><B/>t&amp;u<![CDATA[<c>]]></a:R >";
        let t = tokens(text).expect("well-formed");
        assert_eq!(t[0], Token::Pi { target: "xml", rest: "version=\"1.0\"" });
        assert_eq!(t[1], Token::Text("\n", false));
        assert_eq!(t[2], Token::Comment);
        let Token::Start(tag) = t[3] else { panic!("{:?}", t[3]) };
        assert_eq!((tag.name, tag.local_name()), ("a:R", "R"));
        assert_eq!(tag.attributes().collect::<Vec<_>>(), [("x", "1"), ("y", "&lt;2&#x41;")]);
        assert_eq!(tag.attr("y").as_deref(), Some("<2A"));
        assert!(matches!(t[4], Token::Empty(b) if b.name == "B" && b.attrs.is_empty()));
        assert_eq!(t[5], Token::Text("t&amp;u", true));
        assert_eq!(t[6], Token::CData("<c>"));
        assert_eq!(t[7], Token::End);
        assert_eq!(t.len(), 8);
    }

    #[test]
    fn a_tag_has_a_bounded_number_of_attributes() {
        let tag = |n: usize| format!("<A {}/>", (0..n).map(|i| format!("a{i}=''")).collect::<Vec<_>>().join(" "));
        assert_eq!(tokens(&tag(MAX_ATTRIBUTES)).expect("at the limit").len(), 1);
        assert!(refused(&tag(MAX_ATTRIBUTES + 1)).contains("<A> has more than 32 attributes"));
        // A hostile tag is refused at the limit, not read whole.
        assert!(refused(&tag(100_000)).contains("more than 32 attributes at line 1, column 218"));
    }

    #[test]
    fn references_are_replaced() {
        assert!(matches!(unescape("plain"), Cow::Borrowed("plain")));
        assert_eq!(unescape("A &amp; B &lt;&gt;&quot;&apos; &#233;&#xE9;"), "A & B <>\"' éé");
        // What the reader refuses is kept as written, never a panic.
        assert_eq!(unescape("&bogus; & &#xZZ; &"), "&bogus; & &#xZZ; &");
    }

    #[test]
    fn what_xml_does_not_allow_is_refused_with_its_place() {
        let cases = [
            ("<A><B></A>", "expected </B>; found </A> at line 1, column 7"),
            ("<A>\n  <B>x</B>", "unexpected end of input: <A> is not closed at line 2, column 11"),
            ("</A>", "</A> closes no open element"),
            ("<1A/>", "expected an element name after \"<\"; found '1'"),
            ("<A b/>", "attribute b of <A> has no value"),
            ("<A b=1/>", "the value of attribute b of <A> is not quoted"),
            ("<A b=\"1/>", "the value of attribute b of <A> is not closed"),
            ("<A b=\"<\"/>", "\"<\" in the value of attribute b"),
            ("<A b=\"1\"c=\"2\"/>", "expected whitespace, \">\" or \"/>\" in the start tag <A>"),
            ("<A b=\"1\" b='2'/>", "attribute b appears twice in <A>"),
            ("<A x:b=\"1\" x:b='2'/>", "attribute x:b appears twice in <A>"),
            ("<A>&bogus;</A>", "unknown entity &bogus;"),
            ("<A>&amp</A>", "\"&\" starts no reference"),
            ("<A>&#0;</A>", "&#0; refers to U+0000, which XML does not allow"),
            ("<A>&#133;</A>", "&#133; refers to U+0085, a control character QuickBooks cannot take"),
            ("<A>x\u{85}</A>", "character U+0085, a control character QuickBooks cannot take at line 1, column 5"),
            ("<A>&#xD800;</A>", "&#xD800; is not a character reference"),
            ("<A>&#-1;</A>", "\"&\" starts no reference"),
            ("<A>a\u{1}b</A>", "character U+0001, which XML does not allow at line 1, column 5"),
            ("<A>\u{FFFE}</A>", "character U+FFFE, which XML does not allow"),
            ("<A b=\"\u{7}\"/>", "character U+0007, which XML does not allow"),
            ("<A>x]]>y</A>", "\"]]>\" is not allowed in text"),
            ("<A><!-- a -- b --></A>", "\"--\" is not allowed inside a comment"),
            ("<A><!-- a ---></A>", "\"--\" is not allowed inside a comment"),
            ("<A>x\u{7F}</A>", "character U+007F, a control character QuickBooks cannot take"),
            ("<A>&#X41;</A>", "&#X41; is not a character reference"),
            (
                "<A>Smith & Sons; Ltd</A>",
                "\"&\" starts no reference; write \"&amp;\" for an ampersand at line 1, column 10",
            ),
            ("<A b='&' c='1;'/>", "\"&\" starts no reference"),
            ("<A>&;</A>", "\"&\" starts no reference"),
            ("<A><!-- open", "the comment is not closed"),
            ("<A><![CDATA[x</A>", "the CDATA section is not closed"),
            ("<A><!ELEMENT x></A>", "\"<!\" starts neither a comment nor a CDATA section"),
            ("<?xml version=\"1.0\"", "the instruction <?xml is not closed"),
            ("<A", "the start tag <A> is not closed"),
            ("<A></A", "the end tag </A> is not closed"),
        ];
        for (text, want) in cases {
            let got = refused(text);
            assert!(got.contains(want), "{text:?}: {got}");
        }
    }

    #[test]
    fn disallowed_characters_are_found() {
        assert_eq!(disallowed_char("plain é © \t\r\n 😀 \u{FFFD}"), None);
        assert_eq!(disallowed_char("a\u{85}"), Some('\u{85}'));
        assert_eq!(disallowed_char("a\u{7F}"), Some('\u{7F}'));
        assert_eq!(disallowed_char("a\u{1}b"), Some('\u{1}'));
        assert_eq!(disallowed_char("x\u{FFFF}"), Some('\u{FFFF}'));
    }

    #[test]
    fn allowed_characters_pass() {
        // Tab, line breaks, a lone "]", "&#13;" and characters beyond the BMP.
        let text = "<A n=\"\t&#13;\">a\tb\r\n]x] ]> é © \u{A0} 😀 \u{FFFD}</A>";
        assert_eq!(tokens(text).expect("well-formed").len(), 3);
        assert!(matches!(tokens("<!DOCTYPE x [<!ENTITY a \"b\">]>").unwrap()[0], Token::Doctype));
        assert!(matches!(tokens("<!doctype x>").unwrap()[0], Token::Doctype));
        assert_eq!(tokens("<A><!----></A>").unwrap()[1], Token::Comment);
        // Leading zeros, and prefixes that differ.
        assert_eq!(tokens("<A x:b='1' y:b='2'>&#x0000000000000000000000000000000041;</A>").unwrap().len(), 3);
    }
}
