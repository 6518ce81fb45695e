//! Any bytes as a SOAP request body: parsing must end in a call or an
//! error, never a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(call) = qbwcd::soap::parse_call(data, &qbwcd::soap::Limits::default()) {
        // Whatever parsed must also render a reply without trouble.
        let _ = format!("{call:?}");
    }
});
