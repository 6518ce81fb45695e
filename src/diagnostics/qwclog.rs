//! Reading a Web Connector log (QWCLog.txt) for `qbwcd diagnose FILE` and
//! the console's diagnostics page.
//!
//! The log is free text written by the Web Connector. Errors show up as its
//! own codes (`QBWC1012: …`), as QuickBooks HRESULTs (`HResult = 0x80040408`,
//! or the signed decimal .NET prints, `-2147220472`), as qbXML statuses in
//! verbose logs (`statusCode="3260"`), and as a few bare phrases.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::{catalog, classify_hresult, classify_status, Finding};

/// Longest `line` kept in a finding, in characters.
const MAX_LINE_CHARS: usize = 300;

/// Shortest QuickBooks message matched as a phrase on a line without a code;
/// shorter ones ("Unexpected error.") are too common to mean anything.
const MIN_PHRASE_CHARS: usize = 20;

/// The log as text. The Web Connector writes UTF-8, but a log saved again by
/// a Windows tool is often UTF-16 (little-endian, with a byte-order mark);
/// anything undecodable becomes U+FFFD rather than an error, because a
/// damaged log still has useful lines.
pub fn decode(bytes: &[u8]) -> String {
    let utf16 = |rest: &[u8], le: bool| {
        let units = rest.chunks(2).map(|c| {
            let pair = [c[0], c.get(1).copied().unwrap_or(0)];
            if le {
                u16::from_le_bytes(pair)
            } else {
                u16::from_be_bytes(pair)
            }
        });
        char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)).collect::<String>()
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, false);
    }
    let rest = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    // UTF-16 LE without a mark: ASCII text with every second byte zero.
    let sample = &rest[..rest.len().min(512)];
    if sample.len() >= 4 && sample.iter().skip(1).step_by(2).all(|&b| b == 0) {
        return utf16(rest, true);
    }
    String::from_utf8_lossy(rest).into_owned()
}

/// One problem found in a log, with the line it came from (1-based).
#[derive(Clone, Debug, serde::Serialize)]
pub struct LogFinding {
    /// 1-based line number in the log: the first line of the event that
    /// shows this problem.
    pub line_number: usize,
    /// The line, without its line ending, cut to 300 characters.
    pub line: String,
    /// Further lines of the same event that show the same problem again
    /// (the Web Connector repeats an HRESULT in a continuation line and in
    /// its `connectionError` call), so one event is one finding.
    pub also_on_lines: Vec<usize>,
    /// What the line means.
    pub finding: Finding,
}

/// The time stamp that starts a log entry (`20240312.09:15:40`), if the
/// line starts one. Lines without one continue the entry above them.
fn entry_stamp(line: &str) -> Option<&str> {
    let stamp = line.get(..17)?;
    let b = stamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shaped = digits(0..8) && b[8] == b'.' && digits(9..11) && b[11] == b':' && digits(12..14) && b[14] == b':';
    (shaped && digits(15..17)).then_some(stamp)
}

/// Every error the log shows, in line order: QBWCnnnn codes, HRESULTs
/// (0x8004xxxx in any case, and the signed decimal form -21472xxxxx),
/// `statusCode="N"` (with statusSeverity/statusMessage if on the line; skip 0
/// and Info), and well-known phrases without a code ("Authentication failed"
/// → QBWC1012 if no code on the line, "Could not start QuickBooks." →
/// 0x80040408; "No Data Exchange" is not an error).
///
/// One finding per event and code: an event is the entries written in the
/// same second (the Web Connector logs one failure as an entry, its
/// continuation lines and the `connectionError` call it makes about it), so
/// a code repeated within it is counted once, at its first line, with the
/// others in `also_on_lines`. Lines before the first time stamp are each
/// their own event. Never panics; tolerates CRLF and very long lines.
pub fn diagnose_log(text: &str) -> Vec<LogFinding> {
    let mut out: Vec<LogFinding> = Vec::new();
    // (event, code) → index in `out`; an event is its time stamp, or the
    // line number for a line before any stamp.
    let mut seen: std::collections::HashMap<(String, String), usize> = std::collections::HashMap::new();
    let mut stamp: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if let Some(s) = entry_stamp(line) {
            stamp = Some(s.to_owned());
        }
        let findings = diagnose_line(line);
        if findings.is_empty() {
            continue;
        }
        let event = stamp.clone().unwrap_or_else(|| format!("line {}", i + 1));
        let kept: String = line.chars().take(MAX_LINE_CHARS).collect();
        for finding in findings {
            match seen.get(&(event.clone(), finding.code.clone())) {
                Some(&at) => {
                    let first = &mut out[at];
                    first.also_on_lines.push(i + 1);
                    if first.finding.detail.is_none() {
                        first.finding.detail = finding.detail;
                    }
                }
                None => {
                    seen.insert((event.clone(), finding.code.clone()), out.len());
                    out.push(LogFinding { line_number: i + 1, line: kept.clone(), also_on_lines: Vec::new(), finding });
                }
            }
        }
    }
    out
}

/// The findings on one line, in the order they appear, one per code.
fn diagnose_line(line: &str) -> Vec<Finding> {
    // ASCII lower-casing keeps every byte offset, so offsets found in `lower`
    // are char boundaries in `line` wherever the match is ASCII.
    let lower = line.to_ascii_lowercase();
    let mut found: Vec<(usize, Finding)> = Vec::new();
    qbwc_codes(&lower, &mut found);
    hex_hresults(line, &lower, &mut found);
    decimal_hresults(line, &mut found);
    status_codes(line, &lower, &mut found);
    let had_code = !found.is_empty();
    phrases(&lower, had_code, &mut found);
    found.sort_by_key(|(pos, _)| *pos);
    let mut seen = HashSet::new();
    found.into_iter().filter(|(_, f)| seen.insert(f.code.clone())).map(|(_, f)| f).collect()
}

/// Byte offsets of every occurrence of `needle` in `hay`.
fn occurrences<'a>(hay: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    hay.match_indices(needle).map(|(i, _)| i)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether the byte before `pos` does not continue a word.
fn starts_word(bytes: &[u8], pos: usize) -> bool {
    pos == 0 || !is_word_byte(bytes[pos - 1])
}

/// `QBWCnnnn`, any case, four digits not followed by a fifth.
fn qbwc_codes(lower: &str, found: &mut Vec<(usize, Finding)>) {
    let b = lower.as_bytes();
    for pos in occurrences(lower, "qbwc") {
        let digits = pos + 4;
        let end = digits + 4;
        if !starts_word(b, pos) || end > b.len() || !b[digits..end].iter().all(u8::is_ascii_digit) {
            continue;
        }
        if b.get(end).is_some_and(|c| c.is_ascii_digit()) {
            continue;
        }
        let code = format!("QBWC{}", &lower[digits..end]);
        if let Some(f) = catalog().explain(&code) {
            found.push((pos, f));
        }
    }
}

/// `0x8004xxxx`, any case, as a whole token.
fn hex_hresults(line: &str, lower: &str, found: &mut Vec<(usize, Finding)>) {
    let b = lower.as_bytes();
    for pos in occurrences(lower, "0x8004") {
        let end = pos + 10;
        if !starts_word(b, pos) || end > b.len() || !b[pos + 6..end].iter().all(u8::is_ascii_hexdigit) {
            continue;
        }
        if b.get(end).is_some_and(|&c| is_word_byte(c)) {
            continue;
        }
        let mut f = classify_hresult(&line[pos..end], "");
        if let Some(msg) = quickbooks_message_after(&line[end..]) {
            f = f.with_detail(msg);
        }
        found.push((pos, f));
    }
}

/// The signed decimal form .NET prints: `-2147220472` for 0x80040408.
fn decimal_hresults(line: &str, found: &mut Vec<(usize, Finding)>) {
    let b = line.as_bytes();
    for (pos, _) in line.match_indices("-2147") {
        let end = pos + 11;
        if pos > 0 && b[pos - 1].is_ascii_digit() {
            continue;
        }
        if end > b.len()
            || !b[pos + 1..end].iter().all(u8::is_ascii_digit)
            || b.get(end).is_some_and(u8::is_ascii_digit)
        {
            continue;
        }
        let token = &line[pos..end];
        if super::parse_hresult(token).is_none_or(|n| n >> 16 != 0x8004) {
            continue;
        }
        let mut f = classify_hresult(token, "");
        if let Some(msg) = quickbooks_message_after(&line[end..]) {
            f = f.with_detail(msg);
        }
        found.push((pos, f));
    }
}

/// `statusCode="N"` (not `messageSetStatusCode`), with the severity and
/// message of the same element.
fn status_codes(line: &str, lower: &str, found: &mut Vec<(usize, Finding)>) {
    let b = lower.as_bytes();
    for pos in occurrences(lower, "statuscode") {
        if !starts_word(b, pos) {
            continue;
        }
        let Some((value, after)) = attribute_value_at(line, pos + "statuscode".len()) else {
            continue;
        };
        let Ok(code) = value.trim().parse::<i64>() else {
            continue;
        };
        // The element the attribute belongs to: from the `<` before it to
        // the `>` after it (or the line's ends).
        let start = lower[..pos].rfind('<').unwrap_or(0);
        let stop = lower[after..].find('>').map_or(lower.len(), |i| after + i);
        let element = &line[start..stop];
        let element_lower = &lower[start..stop];
        let severity = attribute(element, element_lower, "statusseverity").unwrap_or_default();
        let message = attribute(element, element_lower, "statusmessage").map(|m| unescape_xml(&m)).unwrap_or_default();
        if let Some(f) = classify_status(code, severity.trim(), &message) {
            found.push((pos, f));
        }
    }
}

/// The value of attribute `name` (lower-case) in an element.
fn attribute(element: &str, element_lower: &str, name: &str) -> Option<String> {
    let b = element_lower.as_bytes();
    occurrences(element_lower, name)
        .filter(|&p| starts_word(b, p))
        .find_map(|p| attribute_value_at(element, p + name.len()))
        .map(|(v, _)| v.to_owned())
}

/// After an attribute name at byte `at`: `= "value"` or `='value'`. Returns
/// the value and the offset just past its closing quote.
fn attribute_value_at(s: &str, at: usize) -> Option<(&str, usize)> {
    let rest = s.get(at..)?;
    let trimmed = rest.trim_start();
    let rest = trimmed.strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body_start = s.len() - rest.len() + 1;
    let len = s[body_start..].find(quote)?;
    Some((&s[body_start..body_start + len], body_start + len + 1))
}

fn unescape_xml(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// The text after an HRESULT, if it reads as QuickBooks' message
/// (`0x80040408: Could not start QuickBooks.`) rather than more of the log's
/// own structure (`"><Message=…`, `)`, another field).
fn quickbooks_message_after(rest: &str) -> Option<&str> {
    let msg =
        rest.trim_start_matches(|c: char| c == ':' || c == '-' || c == '=' || c == ',' || c.is_whitespace()).trim_end();
    let first = msg.chars().next()?;
    if !first.is_ascii_uppercase()
        || !msg.contains(' ')
        || msg.contains(" : ")
        || msg.contains('=')
        || msg.contains('<')
    {
        return None;
    }
    Some(msg)
}

/// QuickBooks' messages of catalogued HRESULTs, lower-cased, with their codes.
static PHRASES: LazyLock<Vec<(String, &'static str)>> = LazyLock::new(|| {
    catalog()
        .entries()
        .filter(|e| e.code.starts_with("0x"))
        .filter_map(|e| e.message.as_deref().map(|m| (m, e.code.as_str())))
        .filter(|(m, _)| m.chars().count() >= MIN_PHRASE_CHARS)
        .map(|(m, c)| (m.to_ascii_lowercase(), c))
        .collect()
});

/// Phrases that mean an error even without a code: QuickBooks' own message
/// of a catalogued HRESULT, and QBWC's "Authentication failed".
fn phrases(lower: &str, had_code: bool, found: &mut Vec<(usize, Finding)>) {
    for (message, code) in PHRASES.iter() {
        if let Some(pos) = lower.find(message.as_str()) {
            found.push((pos, classify_hresult(code, "")));
        }
    }
    if !had_code {
        if let Some(pos) = lower.find("authentication failed") {
            if let Some(f) = catalog().explain("QBWC1012") {
                found.push((pos, f));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_logs_with_and_without_a_mark_decode_like_utf8() {
        let text = "20240312 : QBWC1012: Authentication failed\r\nnext é";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode(&[&[0xFF, 0xFE][..], &le].concat()), text);
        assert_eq!(decode(&[&[0xFE, 0xFF][..], &be].concat()), text);
        assert_eq!(decode(&le), text);
        assert_eq!(decode(&[&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat()), text);
        assert_eq!(decode(b"bad \xFF byte"), "bad \u{FFFD} byte");
    }

    const SAMPLE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/QWCLog.sample.txt"));

    fn codes(findings: &[LogFinding]) -> Vec<(usize, &str)> {
        findings.iter().map(|f| (f.line_number, f.finding.code.as_str())).collect()
    }

    #[test]
    fn the_sample_log_yields_every_error_with_its_line_number_in_order() {
        let found = diagnose_log(SAMPLE);
        assert_eq!(
            codes(&found),
            vec![
                (21, "QBWC1039"),
                (24, "QBWC1012"),
                (31, "QBWC1013"),
                (32, "0x80040408"),
                (36, "qbxml.3260"),
                (37, "QBWC1042"),
                (38, "0x8004041D"),
            ]
        );
    }

    #[test]
    fn the_clean_session_and_no_data_exchange_produce_nothing() {
        let found = diagnose_log(SAMPLE);
        assert!(found.iter().all(|f| f.line_number > 19), "{:?}", codes(&found));
        assert!(found.iter().all(|f| !f.line.contains("No Data Exchange")));
        assert!(diagnose_log(
            "20240311.09:15:02 UTC\t: QBWebConnector.WebServiceManager.DoUpdateSelected : No Data Exchange required"
        )
        .is_empty());
    }

    #[test]
    fn status_zero_and_info_statuses_are_not_errors() {
        let found = diagnose_log(SAMPLE);
        assert!(!found.iter().any(|f| f.line_number == 12 || f.line_number == 13));
    }

    #[test]
    fn a_status_code_keeps_quickbooks_message_and_severity() {
        let found = diagnose_log(SAMPLE);
        let f = found.iter().find(|f| f.finding.code == "qbxml.3260").map(|f| &f.finding);
        let f = f.unwrap_or_else(|| panic!("no 3260"));
        assert_eq!(f.entry.code, "qbxml.3260");
        assert_eq!(f.detail.as_deref(), Some("Insufficient permission level to perform this action."));
    }

    #[test]
    fn a_lower_case_hresult_is_canonicalised_and_keeps_the_message_that_follows() {
        let found = diagnose_log(SAMPLE);
        let f = &found.iter().find(|f| f.line_number == 38).unwrap_or_else(|| panic!("line 38")).finding;
        assert_eq!(f.entry.code, "0x8004041D");
        assert!(f.detail.as_deref().unwrap_or_default().starts_with("This application is not allowed to log into"));
    }

    #[test]
    fn an_hresult_without_a_message_after_it_has_no_detail() {
        let found = diagnose_log("20240312.09:15:40 UTC\t: x : HResult = 0x80040408\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].finding.detail, None);
    }

    /// Lines 32–34 of the sample are one failure to start QuickBooks: the
    /// message and HRESULT continuing the QBWC1013 entry, and the
    /// `connectionError` call about it in the same second.
    #[test]
    fn one_event_is_one_finding() {
        let found = diagnose_log(SAMPLE);
        let start: Vec<&LogFinding> = found.iter().filter(|f| f.finding.code == "0x80040408").collect();
        assert_eq!(start.len(), 1, "{:?}", codes(&found));
        assert_eq!((start[0].line_number, start[0].also_on_lines.as_slice()), (32, &[33, 34][..]));
        // The same code in another event is another finding.
        let twice = "20240312.09:15:40 UTC\t: a : HResult = 0x80040408\n\
                     20240312.09:30:40 UTC\t: b : HResult = 0x80040408\n";
        assert_eq!(diagnose_log(twice).len(), 2);
        // Lines without a time stamp before any entry are events of their own.
        assert_eq!(diagnose_log("a QBWC1012: x\nb QBWC1012: y\n").len(), 2);
        // A repeat that carries QuickBooks' message lends it to the finding.
        let later = "20240312.09:15:40 UTC\t: a : HResult = 0x8004041d\n\
                     20240312.09:15:40 UTC\t: b : HResult = 0x8004041d: This application is not allowed to log in\n";
        let f = diagnose_log(later);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].finding.detail.as_deref(), Some("This application is not allowed to log in"));
    }

    #[test]
    fn the_signed_decimal_form_is_read_as_an_hresult() {
        let found = diagnose_log("connectionError() with following parameters:<HResult=\"-2147220448\">");
        assert_eq!(codes(&found), vec![(1, "0x80040420")]);
        assert!(diagnose_log("value -21474836470 and -2147483648 and 12-2147220448").is_empty());
    }

    #[test]
    fn an_authentication_failure_without_a_code_is_qbwc1012() {
        let found = diagnose_log(
            "x\r\n20240312.09:00:32 UTC\t: QBWebConnector.SOAPWebService.do_authenticate : Authentication failed\r\n",
        );
        assert_eq!(codes(&found), vec![(2, "QBWC1012")]);
        let with_code = diagnose_log("QBWC1040: Authentication failed");
        assert_eq!(codes(&with_code), vec![(1, "QBWC1040")]);
    }

    #[test]
    fn could_not_start_quickbooks_without_a_code_is_0x80040408() {
        let found = diagnose_log("Error message: Could not start QuickBooks.");
        assert_eq!(codes(&found), vec![(1, "0x80040408")]);
    }

    #[test]
    fn one_line_gives_at_most_one_finding_per_code() {
        let line =
            "QBWC1042: ReceiveResponseXML failed; QBWC1042 again, HResult = 0x80040414 (0x80040414) -2147220460 \
                    statusCode=\"3170\" statusCode=\"3170\" Could not start QuickBooks. could not start quickbooks.";
        let found = diagnose_log(line);
        assert_eq!(codes(&found), vec![(1, "QBWC1042"), (1, "0x80040414"), (1, "qbxml.3170"), (1, "0x80040408")]);
    }

    #[test]
    fn message_set_status_codes_and_look_alikes_are_ignored() {
        let found = diagnose_log(
            "<QBXMLMsgsRs messageSetStatusCode=\"9002\"> QBWC10120 XQBWC1012 0x800404000 0x8004ZZZZ QBWebConnector",
        );
        assert!(found.is_empty(), "{:?}", codes(&found));
    }

    #[test]
    fn unknown_codes_of_known_families_still_explain_themselves() {
        let found = diagnose_log(
            "HResult = 0x8004FFFF\n<XRs statusCode=\"3999\" statusSeverity=\"Error\" statusMessage=\"Odd &amp; new\"/>",
        );
        assert_eq!(codes(&found), vec![(1, "0x8004FFFF"), (2, "qbxml.3999")]);
        assert_eq!(found[0].finding.entry.code, "hresult.unknown");
        assert_eq!(found[1].finding.detail.as_deref(), Some("Odd & new"));
    }

    #[test]
    fn empty_text_and_garbage_give_nothing_and_do_not_panic() {
        assert!(diagnose_log("").is_empty());
        assert!(diagnose_log("\r\n\n\r").is_empty());
        let garbage =
            "\u{0}\u{fffd}é漢字 0x 0x8004 QBWC statusCode= statusCode=\" statusCode='x' -2147 -2147é <<<>>> \"";
        assert!(diagnose_log(garbage).is_empty());
        for cut in 0..garbage.len() {
            if garbage.is_char_boundary(cut) {
                let _ = diagnose_log(&garbage[..cut]);
            }
        }
    }

    #[test]
    fn a_100_kb_line_is_read_and_kept_to_300_characters() {
        let mut line = "é".repeat(50_000);
        line.push_str(" QBWC1048: QuickBooks Web Connector could not verify the web application server certificate.");
        let found = diagnose_log(&line);
        assert_eq!(codes(&found), vec![(1, "QBWC1048")]);
        assert_eq!(found[0].line.chars().count(), MAX_LINE_CHARS);
    }

    #[test]
    fn crlf_line_endings_do_not_leak_into_the_line_or_the_detail() {
        let found = diagnose_log(
            "a\r\nHResult = 0x80040414: A modal dialog box is showing in the QuickBooks user interface.\r\n",
        );
        assert_eq!(codes(&found), vec![(2, "0x80040414")]);
        assert!(!found[0].line.ends_with('\r'));
        assert_eq!(
            found[0].finding.detail.as_deref(),
            Some("A modal dialog box is showing in the QuickBooks user interface.")
        );
    }

    #[test]
    fn findings_serialize_to_json() {
        let found = diagnose_log(SAMPLE);
        let json = serde_json::to_string(&found).unwrap_or_default();
        assert!(json.contains("\"line_number\":21"), "{json}");
    }
    #[test]
    fn every_code_a_web_connector_log_can_show_has_an_entry() {
        let hresults = [
            0x400, 0x401, 0x402, 0x403, 0x406, 0x408, 0x40A, 0x40D, 0x410, 0x414, 0x416, 0x417, 0x418, 0x41A, 0x41B,
            0x41C, 0x41D, 0x41E, 0x41F, 0x420, 0x422, 0x423, 0x424, 0x427, 0x42A, 0x42C,
        ];
        for low in hresults {
            let code = format!("0x{:08X}", 0x8004_0000_u32 | low);
            assert!(catalog().get(&code).is_some(), "{code} is missing");
        }
        let statuses = [
            1, 500, 510, 530, 531, 600, 1000, 1060, 3100, 3120, 3140, 3170, 3175, 3176, 3180, 3200, 3210, 3231, 3250,
            3260, 3261, 3262, 9001, 9002, 9004, 9005,
        ];
        for n in statuses {
            assert!(catalog().get(&format!("qbxml.{n}")).is_some(), "qbxml.{n} is missing");
        }
        for n in (1000..=1046).chain([1048, 1051]) {
            assert!(catalog().get(&format!("QBWC{n}")).is_some(), "QBWC{n} is missing");
        }
        assert!(catalog().get("session.connector_silent").is_some());
    }

    #[test]
    fn see_also_names_only_codes_that_exist() {
        for e in catalog().entries() {
            for other in &e.see_also {
                assert!(other != &e.code && catalog().get(other).is_some(), "{} refers to {other}", e.code);
            }
        }
    }

    #[test]
    fn permission_entries_carry_the_integrated_applications_steps() {
        for code in ["0x80040418", "0x8004041A", "0x8004041D", "0x80040420"] {
            let e = catalog().get(code).unwrap_or_else(|| panic!("{code}"));
            let steps = e.steps.join("\n");
            for needle in [
                "Full Access",
                "Intuit account email",
                "Edit > Preferences > Integrated Applications > Company Preferences",
                "Properties",
                "Allow this application to login automatically",
                "Login as",
                "Single-user Mode",
                "No Company Open",
                "Company > Set Up Users and Passwords > Set Up Users",
                "Company > Users > Set Up Users and Roles",
            ] {
                assert!(steps.contains(needle), "{code} lacks {needle:?}");
            }
            assert_eq!(e.fixer, super::super::Fixer::QuickbooksAdmin, "{code}");
        }
    }

    #[test]
    fn only_self_clearing_problems_are_transient() {
        for code in [
            "0x8004041B",
            "0x80040424",
            "0x80040414",
            "qbxml.1000",
            "qbxml.3170",
            "qbxml.3175",
            "qbxml.3176",
            "qbxml.3180",
        ] {
            assert!(catalog().get(code).is_some_and(|e| e.transient), "{code} should be transient");
        }
        for code in
            ["0x80040420", "0x8004041A", "qbxml.3260", "qbxml.3100", "QBWC1012", "QBWC1039", "session.connector_silent"]
        {
            assert!(catalog().get(code).is_some_and(|e| !e.transient), "{code} should not be transient");
        }
    }
}
