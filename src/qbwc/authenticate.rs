//! `authenticate`: credentials in, a ticket and what to do out.

use secrecy::SecretString;
use tracing::Span;

use super::{record, CallContext, Qbwc};
use crate::clip::{clip, CLIENT_TEXT_MAX};
use crate::diagnostics::Finding;
use crate::store::{LoginFailure, NewEvent, NewSession, SessionOpen, User};
use crate::types::Ticket;

/// Why a login was refused. Recorded, logged, never sent to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    UnknownUser,
    BadPassword,
    Disabled,
    LockedOut,
    NoCompany,
    CompanyDisabled,
}

impl Refusal {
    fn code(self) -> &'static str {
        match self {
            Refusal::UnknownUser => "auth.unknown_user",
            Refusal::BadPassword => "auth.bad_password",
            Refusal::Disabled => "auth.disabled",
            Refusal::LockedOut => "auth.locked_out",
            Refusal::NoCompany => "auth.no_company",
            Refusal::CompanyDisabled => "auth.company_disabled",
        }
    }
}

/// The lockout key for a name as sent: a name longer than any valid one
/// (64 bytes) cannot exist and is cut, so a 5 MB name costs a short row.
fn lockout_name(username: &str) -> String {
    username.chars().take(65).collect()
}

impl Qbwc {
    /// `authenticate`: `[ticket, "nvu"]` for any credential failure,
    /// `[ticket, "none"]` with nothing queued, `[ticket, "none", postpone]`
    /// while another connector holds the company, `[ticket, "busy"]` when
    /// the database is unreachable or the password queue is full (the Web
    /// Connector tries again later), else `[ticket, company file path or ""]`.
    ///
    /// Lockouts are checked before the password: a locked name (at this
    /// address) or address costs two database reads, not an argon2 check.
    pub(super) async fn authenticate(&self, username: &str, password: SecretString, ctx: &CallContext) -> Vec<String> {
        let span = Span::current();
        // The name is the client's word until it matches a user: the span
        // (and so every log line of the call) carries a clipped copy.
        record(&span, "user", clip(username, CLIENT_TEXT_MAX));
        let now = self.now();
        let addr = ctx.remote_addr.as_deref().unwrap_or_default();
        let busy = |why: &str| {
            record(&span, "outcome", "busy");
            tracing::warn!(reason = why, "authenticate answered busy");
            vec![Ticket::generate().expose().to_owned(), "busy".to_owned()]
        };
        let (user, locked) = match async {
            let locked = self.store.login_locked_until(&lockout_name(username), addr, now).await?;
            Ok::<_, crate::store::StoreError>((self.store.user(username).await?, locked))
        }
        .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "authenticate: the database is unreachable");
                return busy("database");
            }
        };
        if locked.is_some() {
            return self.refuse(username, user.as_ref(), Refusal::LockedOut, ctx).await;
        }
        // Verify even for unknown or refused users, so timing does not tell
        // an attacker which user names exist.
        let ok = match self.verifier.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await {
            Ok(ok) => ok,
            Err(_) => return busy("password queue full"),
        };
        let refusal = match &user {
            None => Some(Refusal::UnknownUser),
            Some(_) if !ok => Some(Refusal::BadPassword),
            Some(u) if !u.enabled => Some(Refusal::Disabled),
            // Read with the user (one join), so the usual login costs no
            // extra query; the company's work waits for it to be enabled.
            Some(u) if u.company_disabled => Some(Refusal::CompanyDisabled),
            Some(_) => None,
        };
        match (user, refusal) {
            (Some(user), None) => {
                if let Err(e) = self.store.record_login(user.id, &lockout_name(username), addr, now).await {
                    tracing::error!(error = %e, "authenticate: could not record the login");
                }
                record(&span, "company.id", user.company_id);
                self.open_session(&user, ctx).await
            }
            (user, refusal) => {
                let reason = refusal.unwrap_or(Refusal::UnknownUser);
                self.refuse(username, user.as_ref(), reason, ctx).await
            }
        }
    }

    /// Refuses a login: `nvu` on the wire whatever the reason; the reason
    /// goes to the event log and the logs. A wrong password or an unknown
    /// name counts towards the lockout of that name at that address and
    /// of the address.
    async fn refuse(&self, username: &str, user: Option<&User>, reason: Refusal, ctx: &CallContext) -> Vec<String> {
        let now = self.now();
        record(&Span::current(), "outcome", "nvu");
        crate::metrics::note_auth_reason(reason.code().trim_start_matches("auth."));
        let addr = ctx.remote_addr.as_deref().unwrap_or("unknown address");
        if matches!(reason, Refusal::BadPassword | Refusal::UnknownUser) {
            let auth = &self.settings.auth;
            let failure = LoginFailure {
                username: lockout_name(username),
                addr: ctx.remote_addr.clone().unwrap_or_default(),
                guess: true,
                now,
                window_start: auth.window_start(now),
                user_rule: auth.user_rule(),
                addr_rule: auth.address_rule(),
            };
            match self.store.record_login_failure(failure).await {
                Ok(locks) => {
                    if let Some(until) = locks.user_until {
                        tracing::warn!(remote_addr = addr, locked_until = %until, "a user name is locked out at this address");
                    }
                    if let Some(until) = locks.addr_until {
                        tracing::warn!(remote_addr = addr, locked_until = %until, "an address is locked out");
                    }
                }
                Err(e) => tracing::error!(error = %e, "authenticate: could not record the failed login"),
            }
        }
        let finding = Finding::from_code(reason.code());
        tracing::warn!(diagnostic = %finding.code, remote_addr = addr, "authentication refused");
        let shown = crate::clip::clip(username, crate::clip::CLIENT_TEXT_MAX);
        self.event(NewEvent {
            at: now,
            company_id: user.map(|u| u.company_id),
            user_id: user.map(|u| u.id),
            address: ctx.remote_addr.clone(),
            job_id: None,
            kind: "auth.failed",
            code: Some(finding.code.clone()),
            message: format!("login as {shown:?} from {addr} refused: {}", finding.entry.title),
        })
        .await;
        vec![Ticket::generate().expose().to_owned(), "nvu".into()]
    }

    async fn open_session(&self, user: &User, ctx: &CallContext) -> Vec<String> {
        let span = Span::current();
        let now = self.now();
        let store_down = |e: crate::store::StoreError| {
            tracing::error!(error = %e, "authenticate: the database failed");
            vec![Ticket::generate().expose().to_owned(), "busy".to_owned()]
        };
        let company = match self.store.company_by_id(user.company_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return self.refuse(user.username.as_str(), Some(user), Refusal::NoCompany, ctx).await,
            Err(e) => return store_down(e),
        };
        let depth = match self.store.queue_depth(company.id, now).await {
            Ok(d) => d,
            Err(e) => return store_down(e),
        };
        let ticket = Ticket::generate();
        if depth == 0 {
            record(&span, "outcome", "none");
            tracing::info!(company = %company.slug, "authenticated; nothing queued");
            return vec![ticket.expose().to_owned(), "none".into()];
        }
        // Another user's lost write awaits its check, which only that
        // user's connector can make: this one is sent nothing meanwhile, so
        // it need not open a session (and hold the company) to learn that.
        match self.store.awaited_sender(company.id, user.id).await {
            Ok(Some(sender)) => {
                record(&span, "outcome", "waiting");
                tracing::info!(
                    company = %company.slug,
                    awaited_user = %sender,
                    "authenticated; nothing is sent until the Web Connector of {sender} checks a write whose answer was lost"
                );
                return vec![ticket.expose().to_owned(), "none".into()];
            }
            Ok(None) => {}
            Err(e) => return store_down(e),
        }
        let opened = self
            .store
            .open_session(NewSession {
                ticket_hash: ticket.hash(),
                user_id: user.id,
                company_id: company.id,
                remote_addr: ctx.remote_addr.clone(),
                now,
                expires_at: self.idle_expiry(now),
                queue_at_start: depth,
            })
            .await;
        match opened {
            Err(e) => store_down(e),
            Ok(SessionOpen::Busy { holder, holder_addr, .. }) => {
                let finding = Finding::from_code("session.concurrent_connector").with_detail(format!(
                    "{} ({}) tried to connect while {} ({}) holds the session",
                    user.username,
                    ctx.remote_addr.as_deref().unwrap_or("unknown address"),
                    holder,
                    holder_addr.as_deref().unwrap_or("unknown address"),
                ));
                Self::warn_finding(&finding, "a second connector was told to wait");
                self.event(NewEvent {
                    at: now,
                    company_id: Some(company.id),
                    user_id: Some(user.id),
                    address: ctx.remote_addr.clone(),
                    job_id: None,
                    kind: "session.busy",
                    code: Some(finding.code.clone()),
                    message: finding.detail.clone().unwrap_or_default(),
                })
                .await;
                record(&span, "outcome", "postponed");
                vec![ticket.expose().to_owned(), "none".into(), self.settings.postpone_seconds.to_string()]
            }
            Ok(SessionOpen::Opened { replaced }) => {
                record(&span, "qbwc.ticket", ticket.short());
                record(&span, "outcome", "session");
                if let Some(old) = replaced {
                    tracing::info!(replaced = %old.short(), "the connector started over; its previous session ended");
                }
                tracing::info!(company = %company.slug, queued = depth, "session opened");
                vec![ticket.expose().to_owned(), company.file_path.clone().unwrap_or_default()]
            }
        }
    }
}
