//! qbXML: the message sets qbwcd hands to QuickBooks and the answers it gets
//! back. Answers are read streaming (quick-xml) and never kept as record
//! data: only the attributes qbwcd acts on. Submissions are read whole by a
//! strict reader of their own (`lex`), which refuses what QuickBooks'
//! parser would.

pub mod convert;
mod hcp;
mod lex;
mod request;
mod response;
pub mod schema;
mod version;
mod wrap;

#[cfg(test)]
mod props;

pub use hcp::{parse_hcp, same_guid, FileMode, Hcp};
pub use request::{parse_submission, parse_submission_tree, OnError, Submission};
pub use response::{parse_response, ParsedResponse, RequestStatus};
pub use schema::Schema;
pub use version::Version;
pub use wrap::{continue_iterator, stop_iterator, wrap, MessageSet};

/// Why a qbXML text was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QbxmlError {
    /// Not well-formed XML; the parser's message says where.
    #[error("not well-formed XML: {0}")]
    Malformed(String),
    /// A DOCTYPE: no DTDs or entity declarations are accepted.
    #[error("a <!DOCTYPE> is not allowed in qbXML")]
    Doctype,
    /// Elements nested deeper than the limit.
    #[error("elements are nested deeper than {0} levels")]
    TooDeep(usize),
    /// A text too large to read into a tree (whose indexes are 32-bit):
    /// far above any `job_max_bytes` in use, so only a file given to the
    /// CLI can be.
    #[error("a qbXML text of {0} bytes is too large to read (at most 4 GiB)")]
    TooLarge(usize),
    /// The text has no `…Rq` request at all.
    #[error("no qbXML request found: expected a <QBXML> document or one or more <…Rq> elements")]
    NoRequests,
    /// An element at request level that is not a `…Rq`.
    #[error("<{0}> is not a qbXML request (request element names end in \"Rq\")")]
    NotARequest(String),
    /// A `<?qbxml version?>` that is not `major.minor`.
    #[error("unreadable qbXML version {0:?}")]
    BadVersion(String),
    /// An `onError` value other than the three qbXML allows.
    #[error("onError must be stopOnError, continueOnError or rollbackOnError; got {0:?}")]
    BadOnError(String),
    /// Message-set ids are qbwcd's to manage (error recovery).
    #[error(
        "newMessageSetID/oldMessageSetID are set by qbwcd for error recovery; remove them from the submitted qbXML"
    )]
    MessageSetIdGiven,
    /// An iterator must be a job of its own: every continuation resends the
    /// whole message set, which would repeat any other request in it.
    #[error("a query with iterator=\"Start\" must be the only request in its job")]
    IteratorNotAlone,
    /// A processing instruction other than the leading `<?qbxml version?>`:
    /// QuickBooks would see it, qbwcd's envelope would not explain it.
    #[error(
        "processing instruction <?{0} …?> is not allowed; only a leading <?xml …?> and <?qbxml version=\"…\"?> are"
    )]
    ProcessingInstruction(String),
    /// Text (or CDATA) between requests, outside any request element.
    #[error("text between requests is not allowed: {0:?}")]
    TextBetweenRequests(String),
    /// `onError`, `newMessageSetID` or `oldMessageSetID` on an element below
    /// `QBXMLMsgsRq`: message-set attributes belong to the envelope qbwcd
    /// writes, and a second copy inside would change how QuickBooks runs
    /// or recovers the set.
    #[error("attribute {attribute} on <{element}> is a message-set attribute; it is allowed only on <QBXMLMsgsRq> (and newMessageSetID/oldMessageSetID not even there)")]
    MessageSetAttribute {
        /// The attribute.
        attribute: String,
        /// The element carrying it.
        element: String,
    },
    /// A request element inside another request: it would not be counted
    /// as a request of its own (a write nested in a query would make the
    /// job look like a read that may be sent twice).
    #[error("<{inner}> is nested inside <{outer}>; each request must be its own element at request level")]
    NestedRequest {
        /// The enclosing request.
        outer: String,
        /// The request found inside it.
        inner: String,
    },
    /// A document whose root is not `<QBXML>` with `<QBXMLMsgsRq>`.
    #[error("a whole qbXML document must be <QBXML><QBXMLMsgsRq …>…</QBXMLMsgsRq></QBXML>; found <{0}>")]
    BadDocument(String),
}

/// The deepest element nesting accepted in submitted qbXML and answers.
pub const MAX_DEPTH: usize = 128;

pub(crate) fn xml_error(e: impl std::fmt::Display) -> QbxmlError {
    QbxmlError::Malformed(e.to_string())
}
