//! A simulated Web Connector speaking real SOAP over HTTP exactly as the
//! captures show it (headers, one-line envelopes, default namespace on the
//! operation, `<x />` for empty strings), and a simulated QuickBooks that
//! answers qbXML.

use std::sync::{Arc, Mutex};

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

const INTUIT: &[u8] = b"http://developer.intuit.com/";
const ENVELOPE_OPEN: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soap:Body>";
const ENVELOPE_CLOSE: &str = "</soap:Body></soap:Envelope>";

/// The HCP answer of the capture (QuickBooks Pro 2006, qbXML 1.0–5.0),
/// with this connector's OwnerID and FileID substituted when given.
pub fn hcp_response(owner_id: Option<&str>, file_id: Option<&str>) -> String {
    let capture = include_str!("../fixtures/soap/sendRequestXML.xml");
    let start = capture.find("<strHCPResponse>").map(|i| i + "<strHCPResponse>".len()).unwrap_or(0);
    let end = capture.find("</strHCPResponse>").unwrap_or(capture.len());
    let mut hcp = unescape(&capture[start..end]);
    if let Some(o) = owner_id {
        hcp = hcp.replace("{68b5925b-4347-4784-e58d-35a2d190962f}", &format!("{{{o}}}"));
    }
    if let Some(f) = file_id {
        hcp = hcp.replace("{ee032e95-47f7-2564-096f-2d4545fcb021}", &format!("{{{f}}}"));
    }
    hcp
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
}

/// Escapes text the way the .NET client does: `& < >`, quotes left alone.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn param(name: &str, value: &str) -> String {
    if value.is_empty() {
        format!("<{name} />")
    } else {
        format!("<{name}>{}</{name}>", escape(value))
    }
}

/// What one whole session looked like from the client's side.
#[derive(Debug, Default)]
pub struct SessionLog {
    pub auth: Vec<String>,
    pub requests: Vec<String>,
    pub progress: Vec<i32>,
    pub last_error: Option<String>,
    pub close: Option<String>,
    pub noops: usize,
}

/// A simulated Web Connector for one user.
#[derive(Clone)]
pub struct FakeWebConnector {
    pub client: reqwest::Client,
    url: String,
    pub username: String,
    pub password: String,
    pub company_file: String,
    pub hcp: String,
    pub major: i32,
    pub minor: i32,
    pub qb: FakeQuickBooks,
    /// How long to wait after `NoOp` (the real client waits 5 s).
    pub noop_wait: std::time::Duration,
    /// How many `NoOp`s in a row before giving up.
    pub max_noops: usize,
}

impl FakeWebConnector {
    pub fn new(url: &str, username: &str, password: &str) -> Self {
        FakeWebConnector {
            client: reqwest::Client::builder().pool_max_idle_per_host(4).build().expect("client"),
            url: url.to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            company_file: "C:\\KPALMER\\QBW\\Test Company.QBW".to_owned(),
            hcp: hcp_response(None, None),
            major: 5,
            minor: 0,
            qb: FakeQuickBooks::default(),
            noop_wait: std::time::Duration::from_millis(20),
            max_noops: 500,
        }
    }

    fn envelope(method: &str, params: &str) -> Vec<u8> {
        let body = if params.is_empty() {
            format!("{ENVELOPE_OPEN}<{method} xmlns=\"http://developer.intuit.com/\" />{ENVELOPE_CLOSE}")
        } else {
            format!(
                "{ENVELOPE_OPEN}<{method} xmlns=\"http://developer.intuit.com/\">{params}</{method}>{ENVELOPE_CLOSE}"
            )
        };
        body.into_bytes()
    }

    /// POSTs one call with the real client's headers; returns the body.
    pub async fn post(&self, method: &str, params: &str) -> String {
        self.post_raw(method, Self::envelope(method, params)).await
    }

    /// POSTs bytes as-is (captures, hostile bodies); asserts the HTTP shape
    /// the client needs: 200 and `text/xml; charset=utf-8`.
    pub async fn post_raw(&self, method: &str, body: Vec<u8>) -> String {
        self.try_post_raw(method, body).await.unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Like [`Self::post_raw`], but a transport failure (the server is down)
    /// is an error, as the real client reports it and stops the run.
    pub async fn try_post_raw(&self, method: &str, body: Vec<u8>) -> Result<String, String> {
        let resp = self
            .client
            .post(&self.url)
            .header("User-Agent", "Mozilla/4.0 (compatible; MSIE 6.0; MS Web Services Client Protocol 2.0.50727.1433)")
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", format!("\"http://developer.intuit.com/{method}\""))
            .header("Expect", "100-continue")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        assert_eq!(resp.status(), 200, "{method} must answer 200");
        assert_eq!(
            resp.headers().get("content-type").and_then(|v| v.to_str().ok()),
            Some("text/xml; charset=utf-8"),
            "{method} content type"
        );
        resp.text().await.map_err(|e| e.to_string())
    }

    async fn try_post(&self, method: &str, params: &str) -> Result<String, String> {
        self.try_post_raw(method, Self::envelope(method, params)).await
    }

    fn auth_params(&self) -> String {
        format!("{}{}", param("strUserName", &self.username), param("strPassword", &self.password))
    }

    fn send_params(&self, ticket: &str, hcp: &str) -> String {
        format!(
            "{}{}{}{}{}{}",
            param("ticket", ticket),
            param("strHCPResponse", hcp),
            param("strCompanyFileName", &self.company_file),
            param("qbXMLCountry", "US"),
            param("qbXMLMajorVers", &self.major.to_string()),
            param("qbXMLMinorVers", &self.minor.to_string()),
        )
    }

    fn receive_params(ticket: &str, response: &str, hresult: &str, message: &str) -> String {
        format!(
            "{}{}{}{}",
            param("ticket", ticket),
            param("response", response),
            param("hresult", hresult),
            param("message", message)
        )
    }

    fn percent(text: &str) -> i32 {
        text.trim().parse().unwrap_or_else(|_| panic!("receiveResponseXMLResult {text:?} is not an integer"))
    }

    pub async fn authenticate(&self) -> Vec<String> {
        strings(&self.post("authenticate", &self.auth_params()).await)
    }

    pub async fn send_request_xml(&self, ticket: &str, hcp: &str) -> String {
        single(&self.post("sendRequestXML", &self.send_params(ticket, hcp)).await, "sendRequestXML")
    }

    pub async fn receive_response_xml(&self, ticket: &str, response: &str, hresult: &str, message: &str) -> i32 {
        let p = Self::receive_params(ticket, response, hresult, message);
        Self::percent(&single(&self.post("receiveResponseXML", &p).await, "receiveResponseXML"))
    }

    pub async fn connection_error(&self, ticket: &str, hresult: &str, message: &str) -> String {
        let p = format!("{}{}{}", param("ticket", ticket), param("hresult", hresult), param("message", message));
        single(&self.post("connectionError", &p).await, "connectionError")
    }

    pub async fn get_last_error(&self, ticket: &str) -> String {
        single(&self.post("getLastError", &param("ticket", ticket)).await, "getLastError")
    }

    pub async fn close_connection(&self, ticket: &str) -> String {
        single(&self.post("closeConnection", &param("ticket", ticket)).await, "closeConnection")
    }

    /// One whole run, as the real client does it.
    pub async fn run_session(&self) -> SessionLog {
        self.try_run_session().await.unwrap_or_else(|e| panic!("transport failure: {e}"))
    }

    /// One whole run; a transport failure ends it with an error, as the
    /// real client stops and tries again at its next scheduled run.
    pub async fn try_run_session(&self) -> Result<SessionLog, String> {
        let mut log = SessionLog::default();
        single(&self.try_post("serverVersion", "").await?, "serverVersion");
        single(&self.try_post("clientVersion", &param("strVersion", "2.0.0.116")).await?, "clientVersion");
        log.auth = strings(&self.try_post("authenticate", &self.auth_params()).await?);
        let status = log.auth.get(1).cloned().unwrap_or_default();
        if matches!(status.as_str(), "none" | "nvu" | "busy") {
            return Ok(log);
        }
        let ticket = log.auth[0].clone();
        self.qb.begin_session();
        let mut first = true;
        let mut noops = 0;
        loop {
            let hcp = if first { self.hcp.clone() } else { String::new() };
            first = false;
            let request =
                single(&self.try_post("sendRequestXML", &self.send_params(&ticket, &hcp)).await?, "sendRequestXML");
            if request.is_empty() {
                let last = single(&self.try_post("getLastError", &param("ticket", &ticket)).await?, "getLastError");
                if last == "NoOp" && noops < self.max_noops {
                    noops += 1;
                    log.noops += 1;
                    tokio::time::sleep(self.noop_wait).await;
                    continue;
                }
                log.last_error = Some(last);
                break;
            }
            log.requests.push(request.clone());
            let params = match self.qb.process(&self.username, &request) {
                Answer::Xml(xml) => Self::receive_params(&ticket, &xml, "", ""),
                Answer::Hresult(h, m) => Self::receive_params(&ticket, "", &h, &m),
                Answer::Vanish => return Ok(log),
            };
            let pct =
                Self::percent(&single(&self.try_post("receiveResponseXML", &params).await?, "receiveResponseXML"));
            log.progress.push(pct);
            if pct < 0 {
                log.last_error =
                    Some(single(&self.try_post("getLastError", &param("ticket", &ticket)).await?, "getLastError"));
                break;
            }
            if pct >= 100 {
                break;
            }
        }
        log.close =
            Some(single(&self.try_post("closeConnection", &param("ticket", &ticket)).await?, "closeConnection"));
        Ok(log)
    }
}

/// The text of `{intuit}*Result`, checking the reply's shape on the way.
pub fn single(body: &str, method: &str) -> String {
    let (name, values) = result_of(body);
    assert_eq!(name, format!("{method}Result"), "result element of {method} in {body}");
    values.into_iter().next().unwrap_or_default()
}

/// The `<string>` items of an `authenticateResult`.
pub fn strings(body: &str) -> Vec<String> {
    let (name, values) = result_of(body);
    assert_eq!(name, "authenticateResult", "{body}");
    values
}

/// Finds the `…Result` element (in the Intuit namespace, inside
/// `…Response` in a SOAP 1.1 Body) and returns its name and text, or the
/// texts of its `<string>` children.
pub fn result_of(body: &str) -> (String, Vec<String>) {
    let mut r = NsReader::from_str(body);
    let mut depth = 0;
    let mut result_name = String::new();
    let mut result_depth = 0;
    let mut texts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    loop {
        let (ns, ev) = r.read_resolved_event().expect("well-formed reply");
        match ev {
            Event::Start(e) => {
                depth += 1;
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if depth == 4 && local.ends_with("Result") {
                    assert!(matches!(ns, ResolveResult::Bound(n) if n.as_ref() == INTUIT), "{local} namespace");
                    result_name = local;
                    result_depth = depth;
                    current.clear();
                } else if result_depth > 0 && depth == result_depth + 1 && local == "string" {
                    assert!(matches!(ns, ResolveResult::Bound(n) if n.as_ref() == INTUIT), "string namespace");
                    in_string = true;
                    current.clear();
                }
            }
            Event::Empty(e) => {
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if depth == 3 && local.ends_with("Result") {
                    result_name = local;
                } else if result_depth > 0 && local == "string" {
                    texts.push(String::new());
                }
            }
            Event::Text(t) => current.push_str(&t.unescape().expect("text")),
            Event::End(_) => {
                if in_string {
                    texts.push(std::mem::take(&mut current));
                    in_string = false;
                } else if depth == result_depth && result_depth > 0 {
                    if texts.is_empty() {
                        texts.push(std::mem::take(&mut current));
                    }
                    result_depth = 0;
                }
                depth -= 1;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(!result_name.is_empty(), "no …Result element in {body}");
    (result_name, texts)
}

/// What the simulated QuickBooks does with the next request.
#[derive(Clone, Debug)]
pub enum Script {
    /// Answer every request with status 0.
    Ok,
    /// Answer the first request with this status.
    Status(i64, &'static str, &'static str),
    /// The request processor throws: `hresult`, `message`.
    Hresult(&'static str, &'static str),
    /// Apply the request, then the connection dies before the answer.
    Vanish,
    /// The connection dies before QuickBooks sees the request.
    VanishBeforeApply,
}

/// What the Web Connector passes back.
pub enum Answer {
    Xml(String),
    Hresult(String, String),
    Vanish,
}

/// A simulated QuickBooks: records every request it applied, answers
/// according to a script (then `Ok`).
#[derive(Clone, Default)]
pub struct FakeQuickBooks {
    inner: Arc<Mutex<QbState>>,
}

#[derive(Default)]
struct QbState {
    script: std::collections::VecDeque<Script>,
    applied: Vec<String>,
    versions: Vec<String>,
    /// Records any iterator query pages through.
    records: usize,
    /// Live iterators of the current QuickBooks session: id → next record.
    iterators: std::collections::HashMap<String, usize>,
    next_iterator: usize,
    /// Error-recovery records, kept per application as QuickBooks keeps
    /// them: (application, message-set id) → the stored answer body. Each
    /// qbwcd user is an application of its own (its own OwnerID), so the
    /// simulated Web Connector passes its user name as the application.
    stored: std::collections::HashMap<(String, String), String>,
    /// Every message-set attribute pair seen: (new, old).
    message_sets: Vec<(Option<String>, Option<String>)>,
}

impl FakeQuickBooks {
    /// How many records an iterator query pages through.
    pub fn set_records(&self, n: usize) {
        self.inner.lock().unwrap().records = n;
    }

    /// `(newMessageSetID, oldMessageSetID)` of every message set seen.
    pub fn message_sets(&self) -> Vec<(Option<String>, Option<String>)> {
        self.inner.lock().unwrap().message_sets.clone()
    }

    /// How many error-recovery records QuickBooks holds, all applications.
    pub fn stored_records(&self) -> usize {
        self.inner.lock().unwrap().stored.len()
    }

    /// The message-set ids of the recovery records QuickBooks holds for one
    /// application, sorted.
    pub fn records_of(&self, app: &str) -> Vec<String> {
        let st = self.inner.lock().unwrap();
        let mut ids: Vec<String> = st.stored.keys().filter(|(a, _)| a == app).map(|(_, id)| id.clone()).collect();
        ids.sort();
        ids
    }

    /// Iterators QuickBooks still holds (started, neither finished nor stopped).
    pub fn open_iterators(&self) -> usize {
        self.inner.lock().unwrap().iterators.len()
    }

    /// A new QuickBooks session: iterators of the last one are gone.
    pub fn begin_session(&self) {
        self.inner.lock().unwrap().iterators.clear();
    }

    pub fn script(&self, s: Script) {
        self.inner.lock().unwrap().script.push_back(s);
    }

    /// Names of the requests applied (`CustomerAddRq:requestID`), in order.
    pub fn applied(&self) -> Vec<String> {
        self.inner.lock().unwrap().applied.clone()
    }

    /// The `<?qbxml version?>` of every request set seen.
    pub fn versions(&self) -> Vec<String> {
        self.inner.lock().unwrap().versions.clone()
    }

    /// Processes one request set from application `app` (the Web
    /// Connector user that passed it on).
    pub fn process(&self, app: &str, qbxml: &str) -> Answer {
        let mut st = self.inner.lock().unwrap();
        let version = qbxml
            .split("<?qbxml version=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("every request set carries <?qbxml version?>")
            .to_owned();
        st.versions.push(version);
        let requests = request_elements(qbxml);
        let script = st.script.pop_front().unwrap_or(Script::Ok);
        if let Script::Hresult(h, m) = script {
            return Answer::Hresult(h.into(), m.into());
        }
        if matches!(script, Script::VanishBeforeApply) {
            return Answer::Vanish;
        }
        // Error recovery, as Intuit documents it, per application: old
        // clears a record of this application; a new id this application
        // used before (or new = old) is a status check answered from its
        // record (9002 when this application has none, even if another
        // application has a record by that id); otherwise the set runs and
        // its answer is stored for this application.
        let new = attr(qbxml, "newMessageSetID").map(str::to_owned);
        let old = attr(qbxml, "oldMessageSetID").map(str::to_owned);
        st.message_sets.push((new.clone(), old.clone()));
        if let (Some(o), false) = (&old, old == new) {
            st.stored.remove(&(app.to_owned(), o.clone()));
        }
        if let Some(n) = &new {
            let key = (app.to_owned(), n.clone());
            if old.as_ref() == Some(n) || st.stored.contains_key(&key) {
                let answer = match st.stored.get(&key) {
                    Some(body) => format!("<?xml version=\"1.0\" ?>\n<QBXML>\n<QBXMLMsgsRs newMessageSetID=\"{n}\" messageSetStatusCode=\"0\">\n{body}</QBXMLMsgsRs>\n</QBXML>\n"),
                    None => "<?xml version=\"1.0\" ?>\n<QBXML>\n<QBXMLMsgsRs messageSetStatusCode=\"9002\" />\n</QBXML>\n".to_owned(),
                };
                return Answer::Xml(answer);
            }
        }
        let mut out = String::from("<?xml version=\"1.0\" ?>\n<QBXML>\n<QBXMLMsgsRs>\n");
        if let Some(page) = iterator_page(&mut st, qbxml, &requests) {
            if matches!(script, Script::Vanish) {
                return Answer::Vanish;
            }
            out.push_str(&page);
            out.push_str("</QBXMLMsgsRs>\n</QBXML>\n");
            return Answer::Xml(out);
        }
        for (i, (name, rid)) in requests.iter().enumerate() {
            st.applied.push(format!("{name}:{rid}"));
            let rs = format!("{}Rs", name.trim_end_matches("Rq"));
            let ret = format!("{}Ret", name.trim_end_matches("Rq").trim_end_matches("Query").trim_end_matches("Add"));
            match (&script, i) {
                (Script::Status(code, sev, msg), 0) => out.push_str(&format!(
                    "<{rs} requestID=\"{rid}\" statusCode=\"{code}\" statusSeverity=\"{sev}\" statusMessage=\"{}\" />\n",
                    msg.replace('"', "&quot;")
                )),
                _ => out.push_str(&format!(
                    "<{rs} requestID=\"{rid}\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\">\n<{ret}><ListID>{}-1</ListID><Name>Caf\u{e9} &amp; Sons &lt;x&gt;</Name></{ret}>\n</{rs}>\n",
                    st.applied.len()
                )),
            }
        }
        out.push_str("</QBXMLMsgsRs>\n</QBXML>\n");
        if let Some(n) = new {
            let start = out.find("<QBXMLMsgsRs>\n").map(|i| i + "<QBXMLMsgsRs>\n".len()).unwrap_or(0);
            let end = out.find("</QBXMLMsgsRs>").unwrap_or(out.len());
            st.stored.insert((app.to_owned(), n), out[start..end].to_owned());
        }
        if matches!(script, Script::Vanish) {
            return Answer::Vanish;
        }
        Answer::Xml(out)
    }
}

/// `(name, requestID)` of each request element in a message set
/// (`QBXML/QBXMLMsgsRq/*`).
fn request_elements(qbxml: &str) -> Vec<(String, String)> {
    let mut r = quick_xml::Reader::from_str(qbxml);
    let mut depth = 0usize;
    let mut out = Vec::new();
    loop {
        let (e, opens) = match r.read_event().expect("QuickBooks parses the request") {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(_) => {
                depth -= 1;
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        if depth == 2 {
            let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
            let rid = e
                .attributes()
                .flatten()
                .find(|a| a.key.as_ref() == b"requestID")
                .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                .unwrap_or_default();
            out.push((name, rid));
        }
        if opens {
            depth += 1;
        }
    }
    out
}

fn attr<'a>(qbxml: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = qbxml.find(&key)? + key.len();
    qbxml[at..].split('"').next()
}

/// Answers an iterator query (`iterator="Start"` or `"Continue"`) with the
/// next `MaxReturned` records, as QuickBooks does.
fn iterator_page(st: &mut QbState, qbxml: &str, requests: &[(String, String)]) -> Option<String> {
    let mode = attr(qbxml, "iterator")?;
    let (name, rid) = requests.first()?;
    let max: usize = qbxml.split("<MaxReturned>").nth(1)?.split('<').next()?.trim().parse().ok()?;
    let rs = format!("{}Rs", name.trim_end_matches("Rq"));
    let (id, start) = match mode {
        // Stop releases the iterator: an answer with no records.
        "Stop" => {
            let id = attr(qbxml, "iteratorID")?.to_owned();
            st.iterators.remove(&id);
            st.applied.push(format!("{name}:{rid}:Stop"));
            return Some(format!(
                "<{rs} requestID=\"{rid}\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\" retCount=\"0\" iteratorRemainingCount=\"0\" iteratorID=\"{id}\" />\n"
            ));
        }
        "Start" => {
            st.next_iterator += 1;
            (format!("{{it-{}}}", st.next_iterator), 0)
        }
        _ => {
            let id = attr(qbxml, "iteratorID")?.to_owned();
            match st.iterators.get(&id) {
                Some(&next) => (id, next),
                None => {
                    return Some(format!(
                        "<{rs} requestID=\"{rid}\" statusCode=\"3391\" statusSeverity=\"Error\" statusMessage=\"The iteratorID {id} is not valid.\" />\n"
                    ));
                }
            }
        }
    };
    let end = (start + max).min(st.records);
    let remaining = st.records - end;
    // An iterator with nothing left is over, as in QuickBooks.
    if remaining > 0 {
        st.iterators.insert(id.clone(), end);
    } else {
        st.iterators.remove(&id);
    }
    st.applied.push(format!("{name}:{rid}:{mode}"));
    let mut page = format!(
        "<{rs} requestID=\"{rid}\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\" retCount=\"{}\" iteratorRemainingCount=\"{remaining}\" iteratorID=\"{id}\">\n",
        end - start
    );
    for n in start..end {
        page.push_str(&format!("<CustomerRet><ListID>{n}</ListID><Name>Customer {n}</Name></CustomerRet>\n"));
    }
    page.push_str(&format!("</{rs}>\n"));
    Some(page)
}
