//! `/admin`: every company with its status, last poll, queue by state and
//! open problems; search by slug prefix and paging by slug; the form that
//! creates a company.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::page::{render, ConsoleError, Layout, Time};
use super::session::{Console, ConsoleEvent};
use crate::api::{NewCompanyBody, ProblemView};
use crate::app::AppState;
use crate::store::Company;

/// Companies on one page.
pub const PAGE_SIZE: i64 = 25;

/// A company's state at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Connected, no open problem.
    Ok,
    /// An open problem.
    Attention,
    /// A Web Connector stopped checking in.
    Silent,
    /// No Web Connector has ever logged in.
    NeverConnected,
}

impl Status {
    /// The status of a company with these open problems.
    pub fn of(company: &Company, problems: &[ProblemView]) -> Status {
        if company.last_seen_at.is_none() {
            Status::NeverConnected
        } else if problems.iter().any(|p| p.code == crate::silence::DIAGNOSTIC) {
            Status::Silent
        } else if problems.is_empty() {
            Status::Ok
        } else {
            Status::Attention
        }
    }

    /// As shown (also the CSS class).
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Attention => "attention",
            Status::Silent => "silent",
            Status::NeverConnected => "never connected",
        }
    }

    /// The CSS class.
    pub fn class(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Attention => "attention",
            Status::Silent => "silent",
            Status::NeverConnected => "never",
        }
    }
}

/// One row of the table.
pub struct Row {
    slug: String,
    name: String,
    disabled: bool,
    status: Status,
    last_poll: Option<Time>,
    /// `(state, count)` in state order.
    queue: Vec<(String, i64)>,
    problems: Vec<ProblemView>,
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage {
    layout: Layout,
    q: String,
    rows: Vec<Row>,
    /// The next page's `after`.
    next: Option<String>,
    /// Whether this is not the first page.
    paged: bool,
}

/// `?q=` (slug prefix) and `?after=` (last slug of the page before).
#[derive(Debug, Default, Deserialize)]
pub struct HomeQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
}

/// `GET /admin`.
pub async fn show(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<HomeQuery>,
) -> Result<Response, ConsoleError> {
    let now = state.clock.now();
    let q = query.q.trim().to_ascii_lowercase();
    let after = query.after.filter(|a| !a.is_empty());
    let mut companies = state.store.company_page(&q, after.as_deref(), PAGE_SIZE + 1).await?;
    let next = (companies.len() as i64 > PAGE_SIZE).then(|| {
        companies.truncate(PAGE_SIZE as usize);
        companies.last().map(|c| c.slug.to_string()).unwrap_or_default()
    });
    // Two reads for the page, not two per row: each read waits its turn
    // beside the Web Connectors' calls.
    let ids: Vec<i64> = companies.iter().map(|c| c.id).collect();
    let mut queues: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
    for (id, job_state, n) in state.store.job_counts_of(&ids).await? {
        queues.entry(id).or_default().push((job_state, n));
    }
    let mut open: HashMap<i64, Vec<ProblemView>> = HashMap::new();
    for p in state.store.open_problems_of(&ids).await? {
        open.entry(p.company_id).or_default().push(ProblemView::from(p));
    }
    let mut rows = Vec::with_capacity(companies.len());
    for c in companies {
        let queue = queues.remove(&c.id).unwrap_or_default();
        let problems = open.remove(&c.id).unwrap_or_default();
        rows.push(Row {
            status: Status::of(&c, &problems),
            slug: c.slug.to_string(),
            name: c.name,
            disabled: c.disabled_at.is_some(),
            last_poll: Time::opt(c.last_seen_at, now),
            queue,
            problems,
        });
    }
    let page =
        HomePage { layout: console.layout(&state, "Companies", "companies"), q, rows, next, paged: after.is_some() };
    Ok(render(&page))
}

/// The company-creation form.
#[derive(Debug, Deserialize)]
pub struct NewCompanyForm {
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    file_path: String,
    #[serde(default)]
    webhook_url: String,
}

/// `POST /admin/companies`: the API's `createCompany`.
pub async fn create_company(
    State(state): State<AppState>,
    console: Console,
    Form(form): Form<NewCompanyForm>,
) -> Result<Response, ConsoleError> {
    let body = NewCompanyBody {
        slug: form.slug.trim().to_owned(),
        name: Some(form.name),
        file_path: Some(form.file_path),
        webhook_url: Some(form.webhook_url),
    };
    let c = crate::api::create_company(&state, body).await?;
    let company_id = state.store.company(&c.slug).await?.map(|c| c.id);
    let to = format!("/admin/companies/{}", c.slug);
    let message = format!("created company {} ({})", c.slug, c.name);
    let event = ConsoleEvent { kind: "console.company_created", company_id, message, ..ConsoleEvent::default() };
    let flash = format!("Company {} created. Add a Web Connector user next.", c.slug);
    Ok(console.done(&state, &to, event, flash).await)
}
