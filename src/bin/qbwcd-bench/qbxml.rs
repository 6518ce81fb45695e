//! What the simulated QuickBooks says: the HCP answer of the capture (with
//! this connector's OwnerID and FileID), the jobs' requests, and answers of
//! a chosen size made of realistic `CustomerRet` records whose names carry
//! `&`, `<` and non-ASCII text, so both levels of escaping are exercised.

use crate::wire::escape_into;

/// The capture's HCP answer (QuickBooks Pro 2006, qbXML 1.0–5.0).
const HCP: &str = include_str!("hcp.xml");
const CAPTURE_OWNER: &str = "{68b5925b-4347-4784-e58d-35a2d190962f}";
const CAPTURE_FILE_ID: &str = "{ee032e95-47f7-2564-096f-2d4545fcb021}";

/// The HCP answer this user's QuickBooks gives: its FileID stamp under the
/// user's OwnerID.
pub fn hcp(owner_id: &uuid::Uuid, file_id: &uuid::Uuid) -> String {
    HCP.replace(CAPTURE_OWNER, &format!("{{{owner_id}}}")).replace(CAPTURE_FILE_ID, &format!("{{{file_id}}}"))
}

/// [`request`], or with `write` a customer add.
pub fn request_of(n: u64, write: bool) -> String {
    if write {
        format!("<CustomerAddRq requestID=\"{n}\"><CustomerAdd><Name>Bench &amp; Co. {n}</Name></CustomerAdd></CustomerAddRq>")
    } else {
        request(n)
    }
}

/// The qbXML of job number `n`: a customer query, as bare `…Rq` elements.
pub fn request(n: u64) -> String {
    format!("<CustomerQueryRq requestID=\"{n}\"><MaxReturned>25</MaxReturned><ActiveStatus>All</ActiveStatus></CustomerQueryRq>")
}

/// Names with the characters that need escaping at both levels.
const NAMES: &[&str] = &[
    "Müller & Söhne <Nord> GmbH",
    "Ærøskøbing Fisk & Skaldyr",
    "O'Brien \"Quality\" Plumbing & Heating",
    "Łódź Café <Złota> Sp. z o.o.",
    "東京商事 & Co.",
    "Smith & Wesson < 50 Units",
];

/// One `CustomerRet` record, as QuickBooks writes it (qbXML-escaped text).
fn record(i: usize) -> String {
    let name = NAMES[i % NAMES.len()];
    let mut esc = Vec::new();
    escape_into(&mut esc, &format!("{name} {i}"));
    let name = String::from_utf8(esc).unwrap_or_default();
    format!(
        "<CustomerRet>\n<ListID>{:X}-1215265593</ListID>\n<TimeCreated>2008-07-05T09:46:33-05:00</TimeCreated>\n\
         <EditSequence>1215265593</EditSequence>\n\
         <Name>{name}</Name>\n<FullName>{name}</FullName>\n<IsActive>true</IsActive>\n<Sublevel>0</Sublevel>\n\
         <BillAddress>\n<Addr1>Straße des 17. Juni {i}</Addr1>\n\
         <City>Zürich</City>\n<PostalCode>8001</PostalCode>\n</BillAddress>\n<Phone>+41 44 {i:07}</Phone>\n\
         <Balance>1{i}.50</Balance>\n</CustomerRet>\n",
        0x80000 + i
    )
}

/// An answer of about `size` bytes of qbXML, pre-escaped for the SOAP
/// `response` parameter, split around the request id so each exchange only
/// formats its own head.
pub struct Answer {
    /// Escaped bytes before the request id.
    head: Vec<u8>,
    /// Escaped bytes after it (the status attributes and all records).
    tail: Vec<u8>,
    /// Size of the qbXML itself (unescaped) with a 4-character request id, for reports.
    pub qbxml_bytes: usize,
    /// Unescaped size without the request id.
    plain_without_id: usize,
}

impl Answer {
    /// Builds records until the qbXML reaches `size` bytes.
    pub fn new(size: usize) -> Answer {
        let head = "<?xml version=\"1.0\" ?>\n<QBXML>\n<QBXMLMsgsRs>\n<CustomerQueryRs requestID=\"";
        let mut records = String::with_capacity(size + 1024);
        let mut i = 0;
        let fixed = head.len() + 160;
        while fixed + records.len() < size || i == 0 {
            records.push_str(&record(i));
            i += 1;
        }
        let tail = format!(
            "\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\" retCount=\"{i}\">\n{records}\
             </CustomerQueryRs>\n</QBXMLMsgsRs>\n</QBXML>\n"
        );
        let plain_without_id = head.len() + tail.len();
        let qbxml_bytes = plain_without_id + 4;
        let (mut h, mut t) = (Vec::new(), Vec::with_capacity(tail.len() + tail.len() / 2));
        escape_into(&mut h, head);
        escape_into(&mut t, &tail);
        Answer { head: h, tail: t, qbxml_bytes, plain_without_id }
    }

    /// The exact qbXML size of the answer to `request_id` (what must be stored).
    pub fn qbxml_len(&self, request_id: &str) -> usize {
        self.plain_without_id + request_id.len()
    }

    /// Escaped answer length for a request id.
    pub fn escaped_len(&self, request_id: &str) -> usize {
        self.head.len() + request_id.len() + self.tail.len()
    }

    /// Appends the escaped answer to `request_id`.
    pub fn write(&self, out: &mut Vec<u8>, request_id: &str) {
        out.extend_from_slice(&self.head);
        escape_into(out, request_id);
        out.extend_from_slice(&self.tail);
    }
}

/// The `requestID` of the first request in a (unescaped) qbXML request.
pub fn request_id(qbxml: &str) -> Option<&str> {
    let i = qbxml.find("requestID=\"")? + 11;
    let rest = &qbxml[i..];
    Some(&rest[..rest.find('"')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_reach_the_size_and_parse() {
        let a = Answer::new(1024);
        assert!(a.qbxml_bytes >= 1024 && a.qbxml_bytes < 4096);
        let mut out = Vec::new();
        a.write(&mut out, "7");
        let text = crate::wire::unescape(std::str::from_utf8(&out).unwrap());
        let parsed = qbwcd::qbxml::parse_response(&text).unwrap();
        assert_eq!(parsed.statuses[0].request_id.as_deref(), Some("7"));
        assert!(text.contains("Müller &amp; Söhne &lt;Nord&gt;"));
    }
}
