//! `qbwcd qwc USERNAME [-o FILE] [--link [--reset-password]]`, and the
//! `--run-every-*` flags of `user add|update`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::onboarding;
use crate::store::{AccountStore, SqlStore};
use crate::types::Username;

/// Writes the user's `.qwc` (or prints an onboarding link to it). A refusal
/// comes back as the error, whose message says why and what to change.
pub(super) async fn run(
    store: &SqlStore,
    settings: &Settings,
    username: &str,
    output: Option<&Path>,
    link: bool,
    reset_password: bool,
) -> anyhow::Result<()> {
    if link {
        let l = onboarding::create_link(store, settings, username, reset_password, SystemClock.now())
            .await
            .with_context(|| format!("cannot make an onboarding link for {username}"))?;
        crate::outln!("{}", l.url)?;
        eprintln!(
            "link {}: valid until {} for {} download{}{}; send it to the QuickBooks admin over a channel you trust \
             (revoke it with qbwcd link revoke {})",
            l.id,
            l.expires_at.format("%Y-%m-%d %H:%M UTC"),
            l.max_uses,
            if l.max_uses == 1 { "" } else { "s" },
            if l.reset_password { format!("; {}", onboarding::RESET_PASSWORD_WORDING) } else { String::new() },
            l.id,
        );
        return Ok(());
    }
    let file = onboarding::qwc_for(store, settings, username)
        .await
        .with_context(|| format!("cannot make a .qwc file for {username}"))?;
    match output {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::write(path, file.body.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {} (suggested name {})", path.display(), file.file_name);
        }
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(file.body.as_bytes()).context("cannot write to stdout")?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Stores a user's own poll interval when a `--run-every-*` flag was given
/// (no flag leaves it as it was).
pub(super) async fn set_schedule(
    store: &SqlStore,
    username: &Username,
    (minutes, seconds): (Option<i32>, Option<i32>),
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if minutes.is_none() && seconds.is_none() {
        return Ok(());
    }
    store.set_user_schedule(username, minutes, seconds, now).await?;
    let shown = match (minutes, seconds) {
        (Some(m), _) => format!("every {m} minute(s)"),
        (_, Some(s)) => format!("every {s} second(s)"),
        _ => unreachable!("one is set"),
    };
    crate::outln!(
        "{username}'s Web Connector polls {shown}; download its .qwc again (`qbwcd qwc {username}`) to apply it"
    )?;
    Ok(())
}
