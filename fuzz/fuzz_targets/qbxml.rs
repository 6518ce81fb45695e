//! Any text as submitted qbXML, as a QuickBooks answer and as an HCP
//! response: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = qbwcd::qbxml::parse_submission(&text);
    let _ = qbwcd::qbxml::parse_response(&text);
    let _ = qbwcd::qbxml::parse_hcp(&text, "{00000000-0000-0000-0000-000000000000}");
});
