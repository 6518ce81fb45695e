//! Any text as submitted qbXML, as a QuickBooks answer, as an HCP response
//! and as an iterator request to continue or stop: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = qbwcd::qbxml::parse_submission(&text);
    let _ = qbwcd::qbxml::parse_response(&text);
    let _ = qbwcd::qbxml::parse_hcp(&text, "{00000000-0000-0000-0000-000000000000}");
    // Continuing an iterator rewrites only the request element's own
    // attribute; whatever it returns must still parse as it did.
    if let Ok(next) = qbwcd::qbxml::continue_iterator(&text, "{4a7c1e2b-0000-4000-8000-000000000001}") {
        let _ = qbwcd::qbxml::parse_submission(&next);
    }
    let _ = qbwcd::qbxml::stop_iterator(&text, "{4a7c1e2b-0000-4000-8000-000000000001}");
});
