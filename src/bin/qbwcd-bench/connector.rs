//! One simulated Web Connector: whole sessions over one keep-alive
//! connection, in the real client's call order, answering every request
//! with a generated qbXML answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

use crate::http::Conn;
use crate::qbxml::{request_id, Answer};
use crate::seed::{Account, PASSWORD};
use crate::stats::Latencies;
use crate::wire::{envelope, param, param_escaped, results};

/// The path QBWC reported in the capture.
const COMPANY_FILE: &str = "C:\\KPALMER\\QBW\\Test Company.QBW";

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// `authenticate` said `none`: nothing queued.
    NoWork,
    /// `authenticate` said `none` with a postpone time: another connector holds the company.
    Postponed,
    /// The queue was emptied (`receiveResponseXML` said 100).
    Done,
}

/// A connector and its measurements.
pub struct Connector {
    conn: Conn,
    account: Account,
    hcp: String,
    answer: Arc<Answer>,
    /// Latency samples by method.
    pub latencies: Latencies,
    /// Exchanges (sendRequestXML + receiveResponseXML) completed.
    pub exchanges: u64,
    /// Pause between exchanges (a paced background client), if any.
    pub pace: Option<Duration>,
    /// Stop the session early at this instant (the client then closes it).
    pub deadline: Option<Instant>,
    /// On `busy` from `authenticate` (the server's password queue is
    /// full), wait this long and log in again, as the Web Connector does;
    /// without it `busy` is a failure.
    pub busy_retry: Option<Duration>,
    /// `busy` answers taken (and retried) under `busy_retry`.
    pub busy_answers: u64,
}

impl Connector {
    /// Connects for `account`.
    pub async fn new(addr: &str, account: Account, answer: Arc<Answer>) -> anyhow::Result<Connector> {
        let hcp = crate::qbxml::hcp(&account.owner_id, &account.file_id);
        Ok(Connector {
            conn: Conn::connect(addr, "/qbwc").await?,
            account,
            hcp,
            answer,
            latencies: Latencies::default(),
            exchanges: 0,
            pace: None,
            deadline: None,
            busy_retry: None,
            busy_answers: 0,
        })
    }

    /// One call: POST, check the HTTP shape, return the result strings.
    pub async fn call(&mut self, method: &'static str, body: Vec<u8>) -> anyhow::Result<Vec<String>> {
        let started = Instant::now();
        let resp = self.conn.soap(method, &body).await?;
        self.latencies.record(method, started.elapsed());
        if resp.status != 200 {
            bail!("{method}: HTTP {} {}", resp.status, String::from_utf8_lossy(&resp.body[..resp.body.len().min(300)]));
        }
        if resp.content_type != "text/xml; charset=utf-8" {
            bail!("{method}: content type {:?}", resp.content_type);
        }
        results(&resp.body, method)
    }

    /// `serverVersion`, as QBWC calls it first.
    pub async fn server_version(&mut self) -> anyhow::Result<()> {
        self.call("serverVersion", envelope("serverVersion", 0, |_| {})).await.map(|_| ())
    }

    /// `authenticate`: ticket and status strings.
    pub async fn authenticate(&mut self) -> anyhow::Result<Vec<String>> {
        let user = self.account.username.clone();
        let body = envelope("authenticate", 64, |o| {
            param(o, "strUserName", &user);
            param(o, "strPassword", PASSWORD);
        });
        let r = self.call("authenticate", body).await?;
        if r.len() < 2 {
            bail!("authenticate answered {} strings", r.len());
        }
        Ok(r)
    }

    /// One whole session: serverVersion → clientVersion → authenticate →
    /// (sendRequestXML → receiveResponseXML)* → closeConnection.
    pub async fn session(&mut self) -> anyhow::Result<Ended> {
        self.server_version().await?;
        self.call("clientVersion", envelope("clientVersion", 32, |o| param(o, "strVersion", "2.0.0.116"))).await?;
        let mut auth = self.authenticate().await?;
        while let (Some(wait), "busy") = (self.busy_retry, auth[1].as_str()) {
            self.busy_answers += 1;
            tokio::time::sleep(wait).await;
            auth = self.authenticate().await?;
        }
        let ticket = auth[0].clone();
        match (auth[1].as_str(), auth.len()) {
            ("none", 2) => return Ok(Ended::NoWork),
            ("none", _) => return Ok(Ended::Postponed),
            ("nvu" | "busy", _) => bail!("authenticate refused {}: {}", self.account.username, auth[1]),
            _ => {}
        }
        let mut first = true;
        loop {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.close(&ticket).await?;
                return Ok(Ended::Done);
            }
            let hcp = if first { std::mem::take(&mut self.hcp) } else { String::new() };
            let body = envelope("sendRequestXML", hcp.len() * 5 / 4 + 200, |o| {
                param(o, "ticket", &ticket);
                param(o, "strHCPResponse", &hcp);
                param(o, "strCompanyFileName", COMPANY_FILE);
                param(o, "qbXMLCountry", "US");
                param(o, "qbXMLMajorVers", "5");
                param(o, "qbXMLMinorVers", "0");
            });
            if first {
                self.hcp = hcp;
                first = false;
            }
            let request = self.call("sendRequestXML", body).await?.remove(0);
            if request.is_empty() {
                let why = self.last_error(&ticket).await?;
                self.close(&ticket).await?;
                bail!("sendRequestXML sent nothing: {why}");
            }
            let id = request_id(&request).ok_or_else(|| anyhow!("a request without requestID"))?.to_owned();
            let answer = self.answer.clone();
            let body = envelope("receiveResponseXML", answer.escaped_len(&id) + 120, |o| {
                param(o, "ticket", &ticket);
                o.extend_from_slice(b"<response>");
                answer.write(o, &id);
                o.extend_from_slice(b"</response>");
                param_escaped(o, "hresult", b"");
                param_escaped(o, "message", b"");
            });
            let pct: i32 = self.call("receiveResponseXML", body).await?[0]
                .trim()
                .parse()
                .map_err(|_| anyhow!("receiveResponseXML result is not an integer"))?;
            self.exchanges += 1;
            if pct >= 100 {
                self.close(&ticket).await?;
                return Ok(Ended::Done);
            }
            if pct < 0 {
                let why = self.last_error(&ticket).await?;
                self.close(&ticket).await?;
                bail!("receiveResponseXML said {pct}: {why}");
            }
            if let Some(p) = self.pace {
                tokio::time::sleep(p).await;
            }
        }
    }

    async fn last_error(&mut self, ticket: &str) -> anyhow::Result<String> {
        Ok(self.call("getLastError", envelope("getLastError", 64, |o| param(o, "ticket", ticket))).await?.remove(0))
    }

    async fn close(&mut self, ticket: &str) -> anyhow::Result<String> {
        Ok(self
            .call("closeConnection", envelope("closeConnection", 64, |o| param(o, "ticket", ticket)))
            .await?
            .remove(0))
    }
}
