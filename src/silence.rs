//! Silent connectors: Web Connector users that stopped checking in.
//!
//! The Web Connector polls on the schedule its `.qwc` names, but only while
//! its PC is on, a Windows user is logged in and the program is open. When
//! any of these stops, qbwcd hears nothing and nothing fails on its side,
//! so it watches for the silence: a user seen before and not seen for
//! [`SILENT_AFTER_INTERVALS`] of its scheduled interval is reported (API,
//! metric, one `warn` log line with diagnostic `session.connector_silent`).
//! Authenticating again clears it.
//!
//! [`silent_connectors`] is a pure function of the users, the settings and
//! `now`, so it is tested with a controlled clock; [`SilenceTracker`]
//! remembers what was already logged so each silence is logged once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::qwc::{self, QwcSettings, QwcUser, DEFAULT_RUN_EVERY_MINUTES};
use crate::store::User;

/// How many scheduled intervals of silence make a connector silent.
pub const SILENT_AFTER_INTERVALS: u64 = 3;

/// The diagnostic code of a silent connector.
pub const DIAGNOSTIC: &str = "session.connector_silent";

/// One connector that has gone quiet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SilentConnector {
    /// The Web Connector user.
    pub username: String,
    /// Its company's slug.
    #[serde(skip)]
    pub company: String,
    /// Its last successful authentication.
    pub last_seen_at: DateTime<Utc>,
    /// How often its `.qwc` tells it to run, in seconds.
    pub expected_every_seconds: u64,
}

/// How often `user`'s Web Connector is expected to run, in seconds: the
/// `.qwc` schedule (a bad `[qwc]` schedule falls back to the default).
pub fn expected_interval_seconds(settings: &QwcSettings, user: &User) -> u64 {
    let qwc_user = QwcUser {
        username: user.username.to_string(),
        owner_id: user.owner_id,
        company_slug: user.company_slug.to_string(),
        company_name: String::new(),
        file_id: uuid::Uuid::nil(),
        run_every_minutes: user.run_every_minutes.and_then(|m| u32::try_from(m).ok()),
        run_every_seconds: user.run_every_seconds.and_then(|s| u32::try_from(s).ok()),
    };
    qwc::schedule(settings, &qwc_user)
        .map(qwc::Schedule::as_seconds)
        .unwrap_or(u64::from(DEFAULT_RUN_EVERY_MINUTES) * 60)
}

/// The enabled users seen at least once and not seen for
/// [`SILENT_AFTER_INTERVALS`] intervals at `now`. A user never seen is not
/// silent: its Web Connector was never set up, which is another problem.
pub fn silent_connectors(users: &[User], settings: &QwcSettings, now: DateTime<Utc>) -> Vec<SilentConnector> {
    users
        .iter()
        .filter(|u| u.enabled)
        .filter_map(|u| {
            let last = u.last_seen_at?;
            let every = expected_interval_seconds(settings, u);
            let limit = i64::try_from(every.saturating_mul(SILENT_AFTER_INTERVALS)).unwrap_or(i64::MAX);
            ((now - last).num_seconds() > limit).then(|| SilentConnector {
                username: u.username.to_string(),
                company: u.company_slug.to_string(),
                last_seen_at: last,
                expected_every_seconds: every,
            })
        })
        .collect()
}

/// Counts silent connectors per company, for the gauge.
pub fn per_company(silent: &[SilentConnector]) -> Vec<(&str, usize)> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for s in silent {
        match counts.iter_mut().find(|(c, _)| *c == s.company) {
            Some((_, n)) => *n += 1,
            None => counts.push((&s.company, 1)),
        }
    }
    counts
}

/// Remembers which silences were already reported, so each is logged once.
#[derive(Debug, Default)]
pub struct SilenceTracker {
    /// User name → the `last_seen_at` its silence was reported for. A new
    /// `last_seen_at` (it came back, then went quiet again) is a new silence.
    reported: HashMap<String, DateTime<Utc>>,
}

impl SilenceTracker {
    /// Takes the current silent set; returns the silences not reported
    /// before, and forgets users that are no longer silent.
    pub fn update<'a>(&mut self, current: &'a [SilentConnector]) -> Vec<&'a SilentConnector> {
        self.reported.retain(|name, seen| current.iter().any(|s| &s.username == name && s.last_seen_at == *seen));
        let mut new = Vec::new();
        for s in current {
            if !self.reported.contains_key(&s.username) {
                self.reported.insert(s.username.clone(), s.last_seen_at);
                new.push(s);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::types::{CompanySlug, Username};

    fn user(name: &str, last_seen: Option<DateTime<Utc>>) -> User {
        User {
            id: 1,
            username: Username::parse(name).unwrap(),
            company_id: 1,
            company_slug: CompanySlug::parse("acme").unwrap(),
            password_hash: String::new(),
            enabled: true,
            owner_id: uuid::Uuid::new_v4(),
            last_seen_at: last_seen,
            created_at: Utc::now(),
            run_every_minutes: None,
            run_every_seconds: None,
            company_disabled: false,
            last_message_set_id: None,
        }
    }

    #[test]
    fn a_user_is_silent_after_three_intervals_and_not_before() {
        let t0 = Utc::now();
        let settings = QwcSettings { run_every_minutes: Some(10), ..QwcSettings::default() };
        let users = [user("alice", Some(t0)), user("never", None)];
        assert!(silent_connectors(&users, &settings, t0 + Duration::minutes(30)).is_empty());
        let silent = silent_connectors(&users, &settings, t0 + Duration::minutes(31));
        assert_eq!(silent.len(), 1, "a user never seen is not silent");
        assert_eq!(silent[0].username, "alice");
        assert_eq!(silent[0].expected_every_seconds, 600);
        let mut disabled = user("alice", Some(t0));
        disabled.enabled = false;
        assert!(silent_connectors(&[disabled], &settings, t0 + Duration::days(1)).is_empty());
    }

    #[test]
    fn the_default_schedule_is_fifteen_minutes() {
        assert_eq!(expected_interval_seconds(&QwcSettings::default(), &user("a", None)), 900);
        let secs = QwcSettings { run_every_seconds: Some(20), ..QwcSettings::default() };
        assert_eq!(expected_interval_seconds(&secs, &user("a", None)), 20);
    }

    #[test]
    fn each_silence_is_reported_once_and_a_new_one_after_a_return() {
        let t0 = Utc::now();
        let settings = QwcSettings::default();
        let mut tracker = SilenceTracker::default();
        let later = t0 + Duration::hours(1);
        let users = [user("alice", Some(t0))];
        let silent = silent_connectors(&users, &settings, later);
        assert_eq!(tracker.update(&silent).len(), 1);
        assert!(tracker.update(&silent).is_empty(), "not again on the next tick");
        // It authenticates: no longer silent, forgotten.
        let back = [user("alice", Some(later))];
        assert!(tracker.update(&silent_connectors(&back, &settings, later)).is_empty());
        // Quiet again: a new silence.
        let silent = silent_connectors(&back, &settings, later + Duration::hours(1));
        assert_eq!(tracker.update(&silent).len(), 1);
    }

    #[test]
    fn counts_are_per_company() {
        let t0 = Utc::now();
        let s = |n: &str, c: &str| SilentConnector {
            username: n.into(),
            company: c.into(),
            last_seen_at: t0,
            expected_every_seconds: 1,
        };
        let list = [s("a", "x"), s("b", "y"), s("c", "x")];
        assert_eq!(per_company(&list), [("x", 2), ("y", 1)]);
    }
}
