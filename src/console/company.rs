//! `/admin/companies/{slug}`: open problems with their steps, users and
//! their actions, the company's settings, the latest sessions as a
//! timeline, and its jobs by state; and the user actions' forms.
//! Each action calls the operation the API and CLI call.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Form;
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::page::{render, ConsoleError, Layout, Time};
use super::session::{Console, ConsoleEvent};
use crate::api::{ApiError, ProblemView, UserView};
use crate::app::AppState;
use crate::queue::{Job, JobCursor, JobFilter, JobState};
use crate::store::{Company, CompanyChanges, SessionJob, User};
use crate::types::{CompanySlug, Username};

/// Jobs on one page of the company's list.
const JOBS_PER_PAGE: i64 = 25;
/// Sessions on the timeline.
const SESSIONS_SHOWN: i64 = 10;
/// Jobs shown per session on the timeline.
const JOBS_PER_SESSION: usize = 20;
/// The company's latest sent jobs the timeline sorts onto its sessions.
const TIMELINE_JOBS: i64 = 200;

async fn find(state: &AppState, slug: &str) -> Result<Company, ConsoleError> {
    let parsed = CompanySlug::parse(slug).map_err(|e| ConsoleError::NotFound(format!("company {slug:?}: {e}")))?;
    state.store.company(&parsed).await?.ok_or_else(|| ConsoleError::NotFound(format!("there is no company {slug:?}")))
}

async fn find_user(state: &AppState, username: &str) -> Result<(User, Company), ConsoleError> {
    let user = state
        .store
        .user(username)
        .await?
        .ok_or_else(|| ConsoleError::NotFound(format!("there is no user {username:?}")))?;
    let company = state
        .store
        .company_by_id(user.company_id)
        .await?
        .ok_or_else(|| ConsoleError::NotFound(format!("the company of user {username:?}")))?;
    Ok((user, company))
}

/// A user row.
struct UserRow {
    view: UserView,
    last_seen: Option<Time>,
    locked_until: Option<Time>,
    schedule: String,
}

/// One job in the list.
struct JobRow {
    id: String,
    state: &'static str,
    requests: String,
    created: Time,
    diagnostic: Option<String>,
}

impl JobRow {
    fn of(j: &Job, now: chrono::DateTime<chrono::Utc>) -> JobRow {
        JobRow {
            id: j.id.to_string(),
            state: j.state.as_str(),
            requests: j.request_names.clone(),
            created: Time::of(j.created_at, now),
            diagnostic: j.diagnostic.clone(),
        }
    }
}

/// One session on the timeline.
struct SessionRow {
    username: String,
    address: String,
    opened: Time,
    last_call: Time,
    state: String,
    qbxml_version: Option<String>,
    company_file: Option<String>,
    jobs: Vec<(String, String, String, Option<String>)>,
    jobs_done: i64,
    jobs_failed: i64,
    first_problem: Option<String>,
    last_error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/company.html")]
struct CompanyPage {
    layout: Layout,
    slug: String,
    name: String,
    file_path: String,
    file_id: String,
    webhook_url: String,
    enabled: bool,
    qb_company_name: Option<String>,
    qb_product: Option<String>,
    qbxml_version: Option<String>,
    last_poll: Option<Time>,
    queue: Vec<(&'static str, i64)>,
    problems: Vec<ProblemView>,
    users: Vec<UserRow>,
    never_connected: bool,
    sessions: Vec<SessionRow>,
    jobs: Vec<JobRow>,
    job_state: String,
    job_states: Vec<&'static str>,
    next_jobs: Option<String>,
    links_enabled: bool,
}

/// `?state=` and `?before=` for the job list.
#[derive(Debug, Default, Deserialize)]
pub struct JobsQuery {
    #[serde(default)]
    state: String,
    before: Option<String>,
}

/// `GET /admin/companies/{slug}`.
pub async fn show(
    State(state): State<AppState>,
    console: Console,
    Path(slug): Path<String>,
    Query(q): Query<JobsQuery>,
) -> Result<Response, ConsoleError> {
    let now = state.clock.now();
    let company = find(&state, &slug).await?;
    let health = crate::api::health_of(&state, &company).await?;
    let webhook_url = state.store.company_webhook(company.id).await?.unwrap_or_default();
    let mut users = Vec::new();
    for u in state.store.company_users(company.id).await? {
        let view = UserView::load(&*state.store, u, &state.settings, now).await?;
        let schedule = match (view.run_every_minutes, view.run_every_seconds) {
            (Some(m), _) => format!("every {m} min (its own)"),
            (_, Some(s)) => format!("every {s} s (its own)"),
            _ => format!("every {} s (the [qwc] setting)", view.expected_every_seconds),
        };
        users.push(UserRow {
            last_seen: Time::opt(view.last_seen_at, now),
            locked_until: Time::opt(view.locked_until.filter(|t| *t > now), now),
            schedule,
            view,
        });
    }
    let mut sessions = Vec::new();
    // The latest jobs sessions sent, sorted onto the sessions shown: a job
    // older than that window is on the jobs list below, not the timeline.
    let mut sent: std::collections::HashMap<String, Vec<SessionJob>> = std::collections::HashMap::new();
    for j in state.store.recent_session_jobs(company.id, TIMELINE_JOBS).await? {
        sent.entry(j.ticket_hash.clone()).or_default().push(j);
    }
    for s in state.store.company_sessions(company.id, SESSIONS_SHOWN).await? {
        let mut own = sent.remove(&s.ticket_hash.0).unwrap_or_default();
        // Newest first from the store; the timeline reads in queue order.
        own.truncate(JOBS_PER_SESSION);
        own.reverse();
        let jobs = own.into_iter().map(|j| (j.id.to_string(), j.state, j.request_names, j.diagnostic)).collect();
        let live = s.is_live(now);
        sessions.push(SessionRow {
            username: s.username,
            address: s.remote_addr.unwrap_or_else(|| "an unknown address".into()),
            opened: Time::of(s.created_at, now),
            last_call: Time::of(s.last_seen_at, now),
            state: if s.state == "open" && !live { "expired".into() } else { s.state },
            qbxml_version: s.qbxml_version,
            company_file: s.company_file_name,
            jobs,
            jobs_done: s.jobs_done,
            jobs_failed: s.jobs_failed,
            first_problem: s.first_problem,
            last_error: s.last_error,
        });
    }
    let (jobs, next_jobs, job_state) = job_page(&state, company.id, &q).await?;
    let page = CompanyPage {
        layout: console.layout(&state, company.name.clone(), "companies"),
        slug: company.slug.to_string(),
        name: company.name.clone(),
        file_path: company.file_path.clone().unwrap_or_default(),
        file_id: format!("{{{}}}", company.file_id).to_uppercase(),
        webhook_url,
        enabled: company.disabled_at.is_none(),
        qb_company_name: company.qb_company_name.clone(),
        qb_product: company.qb_product.clone(),
        qbxml_version: company.qbxml_version.clone(),
        last_poll: Time::opt(company.last_seen_at, now),
        queue: health.jobs.into_iter().filter(|(_, n)| *n > 0).collect(),
        problems: health.problems,
        never_connected: users.iter().all(|u| u.view.last_seen_at.is_none()),
        users,
        sessions,
        jobs,
        job_state,
        job_states: JobState::ALL.iter().map(|s| s.as_str()).collect(),
        next_jobs,
        links_enabled: state.settings.link_secret.key().is_ok(),
    };
    Ok(render(&page))
}

/// A page of the company's jobs, newest first, by state when asked.
async fn job_page(
    state: &AppState,
    company_id: i64,
    q: &JobsQuery,
) -> Result<(Vec<JobRow>, Option<String>, String), ConsoleError> {
    let job_state = match q.state.as_str() {
        "" | "any" => None,
        s => Some(s.parse::<JobState>().map_err(ConsoleError::BadRequest)?),
    };
    let before = match q.before.as_deref().filter(|b| !b.is_empty()) {
        Some(b) => Some(JobCursor::parse(b).map_err(ConsoleError::BadRequest)?.0),
        None => None,
    };
    let filter =
        JobFilter { company_id: Some(company_id), state: job_state, before_seq: before, limit: Some(JOBS_PER_PAGE) };
    let jobs = state.store.list_jobs(&filter).await?;
    let next = crate::api::page_cursor(&jobs, JOBS_PER_PAGE);
    let now = state.clock.now();
    Ok((
        jobs.iter().map(|j| JobRow::of(j, now)).collect(),
        next,
        job_state.map(|s| s.as_str().to_owned()).unwrap_or_default(),
    ))
}

/// `GET /admin/companies/{slug}/jobs`: the job list alone is part of the
/// company page; this keeps old links working by sending them there.
pub async fn jobs(Path(slug): Path<String>, Query(q): Query<JobsQuery>) -> Response {
    // Re-encoded: the values arrive decoded, and `?`, `#` or `&` in them
    // must not change where the redirect goes.
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut to = format!("/admin/companies/{}?state={}", enc(&slug), enc(&q.state));
    if let Some(b) = q.before {
        to.push_str(&format!("&before={}", enc(&b)));
    }
    axum::response::Redirect::to(&format!("{to}#jobs")).into_response()
}

/// The company settings form.
#[derive(Debug, Deserialize)]
pub struct EditForm {
    name: String,
    #[serde(default)]
    file_path: String,
    #[serde(default)]
    webhook_url: String,
    /// `enabled` or `disabled`.
    #[serde(default)]
    enabled: String,
}

/// `POST /admin/companies/{slug}/edit`: name, file path, webhook and
/// whether its Web Connectors may log in, in one store call (the one
/// `company update` and `PATCH /companies/{slug}` make).
pub async fn edit(
    State(state): State<AppState>,
    console: Console,
    Path(slug): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, ConsoleError> {
    let company = find(&state, &slug).await?;
    let now = state.clock.now();
    let enable = form.enabled != "disabled";
    let edit = CompanyChanges {
        name: Some(&form.name),
        file_path: Some(Some(&form.file_path)),
        webhook_url: Some(Some(&form.webhook_url)),
        // Saving an enabled company again does not touch when it was disabled.
        enabled: (enable != company.disabled_at.is_none()).then_some(enable),
    };
    let changes = crate::api::checked_changes(&state.settings, edit).await?;
    state.store.update_company(company.id, &changes, now).await?;
    let (name, file_path, webhook) = (
        changes.name.unwrap_or_default(),
        changes.file_path.flatten().unwrap_or_default(),
        changes.webhook_url.flatten().unwrap_or_default(),
    );
    let message = format!(
        "updated company {slug}: name {name:?}, file path {file_path:?}, webhook {webhook:?}, {}",
        if enable { "enabled" } else { "disabled" }
    );
    let event =
        ConsoleEvent { kind: "console.company_updated", company_id: Some(company.id), message, ..Default::default() };
    Ok(console.done(&state, &format!("/admin/companies/{slug}"), event, "Company settings saved.".into()).await)
}

#[derive(Template)]
#[template(path = "console/password.html")]
struct PasswordPage {
    layout: Layout,
    slug: String,
    username: String,
    password: String,
    added: bool,
}

/// The add-user form.
#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    username: String,
}

/// `POST /admin/companies/{slug}/users`: the API's `createCompanyUser`;
/// the password is shown on the answer itself, once, and never stored.
pub async fn add_user(
    State(state): State<AppState>,
    console: Console,
    Path(slug): Path<String>,
    Form(form): Form<NewUserForm>,
) -> Result<Response, ConsoleError> {
    let company = find(&state, &slug).await?;
    let (user, password) = crate::api::add_user(&state, &company, form.username.trim()).await?;
    let message = format!("added Web Connector user {} to company {slug}", user.username);
    let event = ConsoleEvent {
        kind: "console.user_added",
        company_id: Some(company.id),
        user_id: Some(user.id),
        message,
        ..Default::default()
    };
    console.record(&state, event).await;
    let page = PasswordPage {
        layout: console.layout(&state, format!("User {} added", user.username), "companies"),
        slug,
        username: user.username.to_string(),
        password: password.expose_secret().to_owned(),
        added: true,
    };
    Ok(render(&page))
}

/// `POST /admin/users/{username}/password`: the API's
/// `resetUserPassword`; the new password is shown once.
pub async fn reset_password(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
) -> Result<Response, ConsoleError> {
    let (user, company) = find_user(&state, &username).await?;
    let password = crate::api::new_password(&state, &user.username).await?;
    let event = ConsoleEvent {
        kind: "console.password_reset",
        company_id: Some(company.id),
        user_id: Some(user.id),
        message: format!("set a new password for Web Connector user {}", user.username),
        ..Default::default()
    };
    console.record(&state, event).await;
    let page = PasswordPage {
        layout: console.layout(&state, format!("New password for {}", user.username), "companies"),
        slug: company.slug.to_string(),
        username: user.username.to_string(),
        password: password.expose_secret().to_owned(),
        added: false,
    };
    Ok(render(&page))
}

/// `GET /admin/users/{username}/qwc`: the user's `.qwc` file, as
/// `GET /api/v1/users/{username}/qwc` and `qbwcd qwc USER` make it.
pub async fn download_qwc(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
) -> Result<Response, ConsoleError> {
    let (user, company) = find_user(&state, &username).await?;
    let file = crate::onboarding::qwc_for(state.store.as_ref(), &state.settings, &username)
        .await
        .map_err(|e| ConsoleError::from(ApiError::from(e)))?;
    let event = ConsoleEvent {
        kind: "console.qwc_downloaded",
        company_id: Some(company.id),
        user_id: Some(user.id),
        message: format!("downloaded the .qwc of {}", user.username),
        ..Default::default()
    };
    console.record(&state, event).await;
    Ok((
        [
            (header::CONTENT_TYPE, crate::qwc::CONTENT_TYPE.to_owned()),
            (header::CONTENT_DISPOSITION, file.content_disposition),
        ],
        file.body,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "console/link.html")]
struct LinkPage {
    layout: Layout,
    slug: String,
    username: String,
    url: String,
    expires: Time,
    max_uses: u32,
    reset_password: bool,
}

/// The link form.
#[derive(Debug, Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    reset_password: Option<String>,
}

/// `POST /admin/users/{username}/link`: an onboarding link
/// (`createUserQwcLink`), shown on the answer to copy (it is not stored).
pub async fn create_link(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
    Form(form): Form<LinkForm>,
) -> Result<Response, ConsoleError> {
    let (user, company) = find_user(&state, &username).await?;
    let now = state.clock.now();
    let reset = form.reset_password.is_some();
    let link = crate::onboarding::create_link(state.store.as_ref(), &state.settings, &username, reset, now)
        .await
        .map_err(|e| ConsoleError::from(ApiError::from(e)))?;
    let event = ConsoleEvent {
        kind: "console.link_created",
        company_id: Some(company.id),
        user_id: Some(user.id),
        message: format!("created onboarding link {} for {} (reset_password: {reset})", link.id, user.username),
        ..Default::default()
    };
    console.record(&state, event).await;
    let page = LinkPage {
        layout: console.layout(&state, format!("Onboarding link for {}", user.username), "companies"),
        slug: company.slug.to_string(),
        username: user.username.to_string(),
        url: link.url,
        expires: Time::of(link.expires_at, now),
        max_uses: link.max_uses,
        reset_password: reset,
    };
    Ok(render(&page))
}

/// The schedule form: `every` and `unit` (`minutes`, `seconds`, or
/// `default` for the `[qwc]` setting).
#[derive(Debug, Deserialize)]
pub struct ScheduleForm {
    #[serde(default)]
    every: String,
    unit: String,
}

/// `POST /admin/users/{username}/schedule`: as `user update` /
/// `PATCH /users/{username}` (checked by the same function first).
pub async fn set_schedule(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
    Form(form): Form<ScheduleForm>,
) -> Result<Response, ConsoleError> {
    let (user, company) = find_user(&state, &username).await?;
    let every = || {
        form.every
            .trim()
            .parse::<u32>()
            .map_err(|_| ConsoleError::BadRequest(format!("{:?} is not a whole number", form.every)))
    };
    let (minutes, seconds) = match form.unit.as_str() {
        "minutes" => (Some(every()?), None),
        "seconds" => (None, Some(every()?)),
        "default" => (None, None),
        other => return Err(ConsoleError::BadRequest(format!("unknown unit {other:?}"))),
    };
    let (m, s) =
        crate::onboarding::check_schedule(minutes, seconds).map_err(|e| ConsoleError::from(ApiError::from(e)))?;
    state.store.set_user_schedule(&user.username, m, s, state.clock.now()).await?;
    let said = match (m, s) {
        (Some(m), _) => format!("every {m} minute(s)"),
        (_, Some(s)) => format!("every {s} second(s)"),
        _ => "the [qwc] setting".into(),
    };
    let event = ConsoleEvent {
        kind: "console.schedule_changed",
        company_id: Some(company.id),
        user_id: Some(user.id),
        message: format!("set the schedule of {} to {said}", user.username),
        ..Default::default()
    };
    let flash = format!(
        "{} now runs {said}. Download its .qwc again and add it to the Web Connector to apply it.",
        user.username
    );
    Ok(console.done(&state, &format!("/admin/companies/{}", company.slug), event, flash).await)
}

/// The enable/disable form.
#[derive(Debug, Deserialize)]
pub struct EnabledForm {
    /// `true` or `false`.
    enabled: String,
}

/// `POST /admin/users/{username}/enabled`: `user enable`/`user disable`.
pub async fn set_enabled(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
    Form(form): Form<EnabledForm>,
) -> Result<Response, ConsoleError> {
    let (user, company) = find_user(&state, &username).await?;
    let enabled = form.enabled == "true";
    state.store.set_user_enabled(&user.username, enabled, state.clock.now()).await?;
    let what = if enabled { "enabled" } else { "disabled" };
    let event = ConsoleEvent {
        kind: if enabled { "console.user_enabled" } else { "console.user_disabled" },
        company_id: Some(company.id),
        user_id: Some(user.id),
        message: format!("{what} Web Connector user {}", user.username),
        ..Default::default()
    };
    let flash = format!("User {} {what}.", user.username);
    Ok(console.done(&state, &format!("/admin/companies/{}", company.slug), event, flash).await)
}

/// `POST /admin/users/{username}/unlock`: `user unlock` (its lockouts at
/// every address, and those addresses' own lockouts).
pub async fn unlock(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
) -> Result<Response, ConsoleError> {
    let (user, company) = find_user(&state, &username).await?;
    let name: Username = user.username.clone();
    state.store.unlock_user(&name, true).await?;
    let event = ConsoleEvent {
        kind: "console.user_unlocked",
        company_id: Some(company.id),
        user_id: Some(user.id),
        message: format!("unlocked Web Connector user {name}"),
        ..Default::default()
    };
    let flash = format!("User {name} unlocked; its failed logins are forgotten.");
    Ok(console.done(&state, &format!("/admin/companies/{}", company.slug), event, flash).await)
}
