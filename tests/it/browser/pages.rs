//! The events and diagnostics pages in a real browser: filters, paging,
//! a bad filter said in words; the catalog by any code form and by words;
//! a QWCLog.txt pasted and uploaded (UTF-16, as Windows tools save it).

use qbwcd::store::{AccountStore, EventStore, NewEvent};

use super::fixture::{log_in, Installation};
use super::harness::Browser;
use crate::both_backends;
use crate::helpers::Backend;

both_backends!(the_event_log_filters_and_pages_in_a_browser);

async fn the_event_log_filters_and_pages_in_a_browser(b: Backend) {
    let name = format!("events-{b:?}").to_lowercase();
    let Some(mut browser) = Browser::start(&name).await else { return };
    let inst = Installation::new(b).await;
    // Arrange: more events than one page holds, of a kind of their own.
    let acme = inst.db.store.company(&qbwcd::types::CompanySlug::parse("acme").unwrap()).await.unwrap().unwrap();
    for i in 0..60 {
        let e = NewEvent {
            at: chrono::Utc::now(),
            company_id: Some(acme.id),
            user_id: None,
            address: None,
            job_id: None,
            kind: "test.marker",
            code: None,
            message: format!("marker {i:02}"),
        };
        inst.db.store.record_event(e).await.unwrap();
    }
    log_in(&mut browser, &inst).await;

    // The whole log, newest first: the markers, newest on top.
    browser.follow("Events").await;
    let all = browser.wait_for_text("marker 59").await;
    assert!(all.find("marker 59") < all.find("marker 58"), "newest first");
    browser.shot("events").await;

    // One kind: the 3260 failure, with its level and code.
    browser.fill("Kind", "job.failed").await;
    browser.press("Show events").await;
    let failed = browser.wait_for_text("qbxml.3260").await;
    assert!(!failed.contains("marker"), "only job.failed events:\n{failed}");
    assert!(failed.contains("error"), "the level of the code:\n{failed}");
    browser.shot("events-kind").await;

    // The markers page by page: 50, then the 10 older ones.
    browser.fill("Kind", "test.marker").await;
    browser.fill("Company", "acme").await;
    browser.fill("Since", "1h").await;
    browser.press("Show events").await;
    let first = browser.wait_for_text("marker 59").await;
    assert!(first.contains("marker 10") && !first.contains("marker 09"), "a page of 50:\n{first}");
    browser.follow("Older events").await;
    let older = browser.wait_for_text("marker 09").await;
    assert!(older.contains("marker 00") && !older.contains("marker 10"), "the rest:\n{older}");
    browser.shot("events-older").await;

    // A filter that does not parse is said in words, not a blank page.
    browser.goto(&inst.url("/admin/events?since=last+tuesday")).await;
    let bad = browser.wait_for_text("since").await;
    assert!(bad.contains("last tuesday"), "{bad}");
    browser.goto(&inst.url("/admin/events?company=nope")).await;
    browser.wait_for_text("there is no company").await;
    browser.shot("events-bad-filter").await;
    browser.close().await;
}

both_backends!(the_diagnostics_page_explains_codes_and_reads_a_log);

async fn the_diagnostics_page_explains_codes_and_reads_a_log(b: Backend) {
    let name = format!("diagnostics-{b:?}").to_lowercase();
    let Some(mut browser) = Browser::start(&name).await else { return };
    let inst = Installation::new(b).await;
    log_in(&mut browser, &inst).await;
    browser.follow("Diagnostics").await;

    // Any form of a code: the signed decimal HRESULT .NET prints.
    browser.fill("Error code or words", "-2147220448").await;
    browser.press("Look up").await;
    let found = browser.wait_for_text("0x80040420").await;
    assert!(found.contains("What to do"), "{found}");
    browser.shot("diagnostics-hresult").await;
    // A qbXML status as a bare number.
    browser.fill("Error code or words", "3260").await;
    browser.press("Look up").await;
    let status = browser.wait_for_text("qbxml.3260").await;
    assert!(status.contains("Set Up Users"), "{status}");
    // Words of a title.
    browser.fill("Error code or words", "permission").await;
    browser.press("Look up").await;
    browser.wait_for_text("these entries mention it").await;
    browser.shot("diagnostics-words").await;

    // A pasted log: each problem once, with the lines that show it.
    let log = "20240312.09:15:40 I\t4180\tQBWebConnector.SOAPWebService.ProcessRequestError\tQBWC1012: Authentication failed due to following error message.\n\
               20240312.09:20:02 E\t4180\tQBWebConnector\tHResult = 0x80040408 Could not start QuickBooks.\n\
               20240312.09:25:00 I\t4180\tQBWebConnector\tQBWC1012: Authentication failed due to following error message.\n";
    browser.paste("Or paste the log", log).await;
    browser.press("Read the log").await;
    let read = browser.wait_for_text("3 errors in 3 lines").await;
    assert!(read.contains("QBWC1012") && read.contains("0x80040408"), "{read}");
    browser.shot("diagnostics-pasted-log").await;

    // The same log uploaded as Windows tools save it: UTF-16 with a mark.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("QWCLog.txt");
    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain(log.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    std::fs::write(&path, utf16).unwrap();
    browser.field("QWCLog.txt").await.send_keys(&path.display().to_string()).await.expect("choose the file");
    browser.press("Read the log").await;
    let uploaded = browser.wait_for_text("3 errors in 3 lines").await;
    assert!(uploaded.contains("Could not start QuickBooks") || uploaded.contains("0x80040408"), "{uploaded}");
    browser.shot("diagnostics-uploaded-log").await;
    browser.close().await;
}
