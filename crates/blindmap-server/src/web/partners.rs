//! The partners a rep can see, and the overlap matrix with each.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use blindmap_store::{OrgId, Partnership, PartnershipId, ReportFilter, ReportScope, Run, Tier};

use super::format::{pct, thousands};
use super::session::Signed;
use super::{Chrome, PageResult, html};
use crate::AppState;
use crate::api::runs::{LevelName, RunResult};
use crate::http::error::ApiError;
use crate::service::runs::result_of;

pub(super) struct PartnerRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) state: &'static str,
    pub(super) has_run: bool,
    /// This side's accounts that overlap (distinct), and the pairs (account, partner record)
    /// they make: an account matching two of the partner's records is one account, two pairs.
    pub(super) overlapping: String,
    pub(super) pairs: String,
    pub(super) last_run: String,
    pub(super) they_share: String,
    pub(super) you_share: String,
    /// For a partner matching in its browser: when its link expires (or expired).
    pub(super) link: Option<String>,
}

#[derive(Template)]
#[template(path = "partners.html")]
pub(super) struct PartnersPage {
    pub(super) chrome: Chrome,
    pub(super) admin: bool,
    pub(super) partners: Vec<PartnerRow>,
}

pub(super) async fn partners(State(state): State<AppState>, signed: Signed) -> PageResult {
    let org = signed.org();
    let mut rows = Vec::new();
    for p in state.store.partnerships(org).await? {
        let run = state.store.latest_complete_run(org, &p.id).await?;
        let result = match &run {
            Some(run) => result_of(run)?,
            None => None,
        };
        // As the lists count them: what this side's users corrected is not counted.
        let counted = match (&run, &result) {
            (Some(run), Some(_)) => {
                let all = ReportFilter::default();
                let (pairs, accounts) = state.store.report_counts_in(org, ReportScope::Run(run), &all).await?;
                Some((thousands(accounts), thousands(pairs)))
            }
            _ => None,
        };
        let they = LevelName::in_words(result.iter().flat_map(RunResult::cells).map(|(_, _, c)| c.level))
            .unwrap_or_else(|| "nothing yet".into());
        let you = LevelName::in_words(result.iter().flat_map(|r| r.disclosed.levels.iter().flatten().copied()))
            .unwrap_or_else(|| "nothing yet".into());
        let link = match p.in_browser() {
            true => state.store.browser_link(org, &p.id).await?.map(|l| crate::rfc3339(l.expires_at)),
            false => None,
        };
        rows.push(PartnerRow {
            link,
            id: p.id.to_string(),
            name: p.partner_name.clone(),
            state: if p.state == blindmap_store::PartnershipState::Active { "active" } else { "ended" },
            has_run: run.is_some(),
            overlapping: counted.as_ref().map_or_else(|| "–".to_owned(), |c| c.0.clone()),
            pairs: counted.map_or_else(|| "–".to_owned(), |c| c.1),
            last_run: run.as_ref().and_then(|r| r.finished_at).map_or_else(|| "never".to_owned(), crate::rfc3339),
            they_share: they,
            you_share: you,
        });
    }
    let admin = signed.user().role == blindmap_store::Role::Admin;
    let page = PartnersPage { chrome: signed.chrome(&state).await?.at("/partners"), admin, partners: rows };
    Ok(html(StatusCode::OK, &page))
}

/// The partnership of `org` a page is about, and its latest complete run.
pub(super) async fn partner_and_run(state: &AppState, org: &OrgId, id: &str) -> Result<(Partnership, Run), ApiError> {
    let id = PartnershipId::parse(id).ok_or(ApiError::NotFound("partner"))?;
    let partnership = state.store.partnership(org, &id).await?;
    let run = state
        .store
        .latest_complete_run(org, &id)
        .await?
        .ok_or(ApiError::NotFound("complete match with this partner"))?;
    Ok((partnership, run))
}

pub(super) struct MatrixCell {
    pub(super) column: String,
    /// The count as shown; where accounts are listed, the confirmed ones.
    pub(super) shown: String,
    pub(super) level: String,
    pub(super) href: Option<String>,
    /// Accounts overlapping by possible matches only, and the link to them.
    pub(super) possible: Option<(u64, String)>,
}

pub(super) struct MatrixRow {
    pub(super) segment: String,
    pub(super) cells: Vec<MatrixCell>,
}

#[derive(Template)]
#[template(path = "matrix.html")]
pub(super) struct MatrixPage {
    pub(super) chrome: Chrome,
    pub(super) partner: String,
    pub(super) pid: String,
    pub(super) finished: String,
    pub(super) columns: Vec<String>,
    pub(super) rows: Vec<MatrixRow>,
}

pub(super) async fn matrix(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> PageResult {
    let (partnership, run) = partner_and_run(&state, signed.org(), &id).await?;
    let result = result_of(&run)?.unwrap_or_default();
    let tiers: BTreeMap<(String, String), (u64, u64)> = state
        .store
        .report_cells(signed.org(), &run)
        .await?
        .into_iter()
        .map(|c| ((c.own_segment, c.partner_segment), (c.confirmed, c.possible)))
        .collect();
    let columns: Vec<String> = result.columns.iter().map(|c| c.segment.clone()).collect();
    let rows = result
        .rows
        .iter()
        .zip(&result.cells)
        .map(|(segment, row)| {
            let segment = segment.clone();
            let cells = columns
                .iter()
                .zip(row)
                .map(|(column, cell)| {
                    let level = cell.level.as_str().to_owned();
                    // The list shows confirmed matches unless asked for possible ones.
                    let link = |tier: Tier| {
                        let tier = if tier == Tier::Confirmed { "" } else { "&tier=possible" };
                        format!(
                            "/partners/{}/overlaps?own={}&partner={}{tier}",
                            partnership.id,
                            pct(&segment),
                            pct(column)
                        )
                    };
                    if cell.level.lists_records() && cell.count.is_some() {
                        // Listed accounts: counted as they are listed now, by tier (corrections
                        // included), the confirmed ones first.
                        let (confirmed, possible) =
                            tiers.get(&(segment.clone(), column.clone())).copied().unwrap_or_default();
                        MatrixCell {
                            column: column.clone(),
                            shown: thousands(confirmed),
                            href: (confirmed > 0).then(|| link(Tier::Confirmed)),
                            possible: (possible > 0).then(|| (possible, link(Tier::Possible))),
                            level,
                        }
                    } else {
                        MatrixCell {
                            column: column.clone(),
                            shown: cell.shown.clone(),
                            href: None,
                            possible: None,
                            level,
                        }
                    }
                })
                .collect();
            MatrixRow { segment, cells }
        })
        .collect();
    let page = MatrixPage {
        chrome: signed.chrome(&state).await?.at("/partners"),
        partner: partnership.partner_name.clone(),
        pid: partnership.id.to_string(),
        finished: run.finished_at.map_or_else(String::new, crate::rfc3339),
        columns,
        rows,
    };
    Ok(html(StatusCode::OK, &page))
}
