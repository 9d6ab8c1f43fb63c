//! Home: what the signed-in user should look at first — on a fresh node the steps to a first
//! match, then each partner with its last match and what changed since the one before,
//! registrations waiting for a decision, and webhooks that keep failing.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use blindmap_store::{Direction, EndpointState, Role, SharingPolicy};

use super::format::thousands;
use super::session::Signed;
use super::{Chrome, PageResult, html};
use crate::AppState;
use crate::service::runs::result_of;

/// One step towards a first match.
pub(super) struct Step {
    pub(super) done: bool,
    pub(super) title: &'static str,
    pub(super) detail: String,
    pub(super) href: &'static str,
    pub(super) action: &'static str,
}

pub(super) struct PartnerLine {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) active: bool,
    pub(super) last_match: Option<String>,
    pub(super) accounts: String,
    /// New and lost accounts since the match before (none for a first match).
    pub(super) changes: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "home.html")]
pub(super) struct HomePage {
    pub(super) chrome: Chrome,
    pub(super) admin: bool,
    /// Empty once every step is done.
    pub(super) steps: Vec<Step>,
    pub(super) partners: Vec<PartnerLine>,
    /// Received registrations submitted or in review; `None`: more than shown are counted.
    pub(super) waiting: u64,
    pub(super) waiting_more: bool,
    /// Webhook endpoints whose last attempts failed, or that are disabled.
    pub(super) failing_hooks: Vec<(String, String)>,
}

/// Registrations counted on the home page at most (the count says "at least" beyond).
const WAITING_COUNTED: u32 = 100;

pub(super) async fn home(State(state): State<AppState>, signed: Signed) -> PageResult {
    let org = signed.org();
    let role = signed.user().role;
    let admin = role == Role::Admin;
    let partnerships = state.store.partnerships(org).await?;
    let active = state.store.active_dataset(org).await?;
    let mut partners = Vec::with_capacity(partnerships.len());
    let mut shared = false;
    let mut matched = false;
    for p in &partnerships {
        let live = p.state == blindmap_store::PartnershipState::Active;
        if live && !shared {
            shared = state.store.sharing(org, &p.id).await? != SharingPolicy::default();
        }
        let run = state.store.latest_complete_run(org, &p.id).await?;
        let result = match &run {
            Some(run) => result_of(run)?,
            None => None,
        };
        matched |= run.is_some();
        partners.push(PartnerLine {
            id: p.id.to_string(),
            name: p.partner_name.clone(),
            active: live,
            last_match: run.as_ref().and_then(|r| r.finished_at).map(crate::rfc3339),
            accounts: result.as_ref().map_or_else(|| "–".to_owned(), |r| thousands(r.overlapping_accounts)),
            changes: result.and_then(|r| r.changes).map(|c| (thousands(c.new_accounts), thousands(c.lost_accounts))),
        });
    }
    let steps = if active.is_some() && !partnerships.is_empty() && shared && matched {
        Vec::new()
    } else {
        vec![
            Step {
                done: active.is_some(),
                title: "Import your accounts",
                detail: match &active {
                    Some(d) => format!("Matches use {} ({} accounts).", d.name, thousands(d.accounts)),
                    None => "Upload a CRM export (Salesforce, HubSpot or blindmap's plain CSV).".to_owned(),
                },
                href: "/data",
                action: "Data",
            },
            Step {
                done: !partnerships.is_empty(),
                title: "Pair with a partner",
                detail: "Invite a partner with a code, or accept the code a partner gave you.".to_owned(),
                href: "/partners#pair",
                action: "Partners",
            },
            Step {
                done: shared,
                title: "Choose what each partner sees",
                detail: "Until you do, partners see counts only, and none below 5.".to_owned(),
                href: "/partners",
                action: "Partners",
            },
            Step {
                done: matched,
                title: "Run a first match",
                detail: "Nothing of your list leaves your node; each side learns what the other shares.".to_owned(),
                href: "/partners",
                action: "Partners",
            },
        ]
    };
    let mut waiting = 0u64;
    let mut waiting_more = false;
    for kind in ["submitted", "in_review"] {
        let page = state
            .store
            .registrations_page(org, Some(Direction::Received), Some(kind), None, WAITING_COUNTED + 1)
            .await?;
        waiting += page.len().min(WAITING_COUNTED as usize) as u64;
        waiting_more |= page.len() > WAITING_COUNTED as usize;
    }
    let failing_hooks = if admin {
        state
            .store
            .endpoints(org)
            .await?
            .into_iter()
            .filter(|e| e.state == EndpointState::Disabled || e.consecutive_failures > 0)
            .map(|e| {
                let why = if e.state == EndpointState::Disabled {
                    "disabled".to_owned()
                } else {
                    format!("{} failed attempts in a row", e.consecutive_failures)
                };
                (e.url, why)
            })
            .collect()
    } else {
        Vec::new()
    };
    let page = HomePage {
        chrome: signed.chrome(&state).await?.at("/"),
        admin,
        steps,
        partners,
        waiting,
        waiting_more,
        failing_hooks,
    };
    Ok(html(StatusCode::OK, &page))
}
