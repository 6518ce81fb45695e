//! `authenticate`: credentials in, a ticket and what to do out.

use secrecy::SecretString;
use tracing::Span;

use super::{record, CallContext, Qbwc};
use crate::clip::{clip, CLIENT_TEXT_MAX};
use crate::diagnostics::Finding;
use crate::store::{NewEvent, NewSession, SessionOpen, User};
use crate::types::Ticket;

/// Why a login was refused. Recorded, logged, never sent to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    UnknownUser,
    BadPassword,
    Disabled,
    LockedOut,
    NoCompany,
}

impl Refusal {
    fn code(self) -> &'static str {
        match self {
            Refusal::UnknownUser => "auth.unknown_user",
            Refusal::BadPassword => "auth.bad_password",
            Refusal::Disabled => "auth.disabled",
            Refusal::LockedOut => "auth.locked_out",
            Refusal::NoCompany => "auth.no_company",
        }
    }
}

impl Qbwc {
    /// `authenticate`: `[ticket, "nvu"]` for any credential failure,
    /// `[ticket, "none"]` with nothing queued, `[ticket, "none", postpone]`
    /// while another connector holds the company, `[ticket, "busy"]` when
    /// the database is unreachable, else `[ticket, company file path or ""]`.
    pub(super) async fn authenticate(&self, username: &str, password: SecretString, ctx: &CallContext) -> Vec<String> {
        let span = Span::current();
        // The name is the client's word until it matches a user: the span
        // (and so every log line of the call) carries a clipped copy.
        record(&span, "user", clip(username, CLIENT_TEXT_MAX));
        let now = self.now();
        let user = match self.store.user(username).await {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "authenticate: the database is unreachable");
                record(&span, "outcome", "busy");
                return vec![Ticket::generate().expose().to_owned(), "busy".into()];
            }
        };
        // Verify even for unknown or refused users, so timing does not tell
        // an attacker which user names exist.
        let ok = self.verifier.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await;
        let addr_locked = match ctx.remote_addr.as_deref() {
            Some(a) => self.store.address_locked_until(a, now).await.ok().flatten().is_some(),
            None => false,
        };
        let refusal = match &user {
            _ if addr_locked => Some(Refusal::LockedOut),
            None => Some(Refusal::UnknownUser),
            Some(u) if u.locked_until.is_some_and(|t| t > now) => Some(Refusal::LockedOut),
            Some(_) if !ok => Some(Refusal::BadPassword),
            Some(u) if !u.enabled => Some(Refusal::Disabled),
            Some(_) => None,
        };
        match (user, refusal) {
            (Some(user), None) => {
                if let Err(e) = self.store.record_login(user.id, true, None, now).await {
                    tracing::error!(error = %e, "authenticate: could not record the login");
                }
                if let Some(a) = ctx.remote_addr.as_deref() {
                    let _ = self.store.clear_address_failures(a).await;
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
    /// goes to the event log and the logs. A wrong password counts towards
    /// the user's lockout.
    async fn refuse(&self, username: &str, user: Option<&User>, reason: Refusal, ctx: &CallContext) -> Vec<String> {
        let now = self.now();
        record(&Span::current(), "outcome", "nvu");
        crate::metrics::note_auth_reason(reason.code().trim_start_matches("auth."));
        if let (Some(u), Refusal::BadPassword) = (user, reason) {
            let locked_until = self.settings.auth.lockout_until(u.failed_logins + 1, now);
            if let Err(e) = self.store.record_login(u.id, false, locked_until, now).await {
                tracing::error!(error = %e, "authenticate: could not record the failed login");
            }
        }
        // Guessing (wrong passwords, unknown names) counts against the address.
        if let (Some(a), Refusal::BadPassword | Refusal::UnknownUser) = (ctx.remote_addr.as_deref(), reason) {
            if let Ok(failures) = self.store.record_address_failure(a, now).await {
                if let Some(until) = self.settings.auth.address_lockout_until(failures, now) {
                    let _ = self.store.lock_address(a, until).await;
                }
            }
        }
        let finding = Finding::from_code(reason.code());
        let addr = ctx.remote_addr.as_deref().unwrap_or("unknown address");
        tracing::warn!(diagnostic = %finding.code, remote_addr = addr, "authentication refused");
        self.event(NewEvent {
            at: now,
            company_id: user.map(|u| u.company_id),
            user_id: user.map(|u| u.id),
            job_id: None,
            kind: "auth.failed",
            code: Some(finding.code.clone()),
            message: format!(
                "login as \"{}\" from {} refused: {}",
                clip(username, CLIENT_TEXT_MAX),
                clip(addr, CLIENT_TEXT_MAX),
                finding.entry.title
            ),
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
