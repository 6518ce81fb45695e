//! `qbwcd link list|revoke`: the CLI side of `listUserQwcLinks` and
//! `revokeQwcLink`.

use super::output::TextTable;
use super::LinkCommand;
use crate::clock::{Clock, SystemClock};
use crate::onboarding;
use crate::store::SqlStore;

/// Runs one `link` subcommand.
pub(super) async fn run(store: &SqlStore, cmd: LinkCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match cmd {
        LinkCommand::List { username, json } => {
            let links = onboarding::list_links(store, username.as_deref(), now).await?;
            if json {
                return super::output::json(&links);
            }
            let mut t = TextTable::new(&["ID", "USER", "STATE", "USES", "RESET", "EXPIRES", "CREATED"]);
            for l in links {
                t.row([
                    l.id,
                    l.username,
                    l.state.to_owned(),
                    format!("{}/{}", l.uses, l.max_uses),
                    if l.reset_password { "yes" } else { "no" }.to_owned(),
                    l.expires_at.format("%Y-%m-%d %H:%M").to_string(),
                    l.created_at.format("%Y-%m-%d %H:%M").to_string(),
                ]);
            }
            t.print("no onboarding links; make one with qbwcd qwc USER --link")
        }
        LinkCommand::Revoke { id } => {
            let l = onboarding::revoke_link(store, &id, now).await?;
            crate::outln!("onboarding link {} of {} revoked", l.id, l.username)
        }
    }
}
