//! The sharing editor: what this side lets one partner learn, as a grid of this side's segments
//! × the partner's (with "any" for each), a level per cell, the fields shown where a cell is at
//! `fields`, the threshold and the smallest partner segment served — and a preview, from the
//! policy alone, of what the partner will be able to see. Saved through the same service
//! function as the API's `PUT …/sharing`, checked as a run will read it.

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use blindmap_psi::{Level, SegmentLabel};
use blindmap_store::{OrgId, Partnership, PartnershipId, SharingPolicy};
use serde::Deserialize;

use super::format::thousands;
use super::manage::{admin, only_admins};
use super::session::Signed;
use super::{Chrome, PageError, PageResult, html};
use crate::AppState;
use crate::api::datasets::ImportSummary;
use crate::http::error::ApiError;
use crate::service::partnerships::{self, RuleText};
use crate::service::runs::{disclosure_policy, result_of};

/// "Any segment" in a rule, and in the grid.
const ANY: &str = "*";

/// One segment of the grid: its label (or `*`), how people read it, and its size where known.
pub(super) struct Axis {
    pub(super) label: String,
    pub(super) title: String,
}

/// One cell of the grid: the level set for it (empty: not set, the next rule applies).
pub(super) struct EditCell {
    pub(super) name: String,
    pub(super) level: String,
    pub(super) label: String,
}

pub(super) struct EditRow {
    pub(super) own: Axis,
    pub(super) cells: Vec<EditCell>,
}

/// A field that can be shown: in the active dataset, or only named by a stored rule.
pub(super) struct FieldChoice {
    pub(super) name: String,
    pub(super) ticked: bool,
    pub(super) in_data: bool,
}

/// The preview: per own segment, what the partner learns about each of its segments.
pub(super) struct PreviewRow {
    pub(super) own: String,
    pub(super) cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "sharing.html")]
pub(super) struct SharingPage {
    pub(super) chrome: Chrome,
    pub(super) pid: String,
    pub(super) partner: String,
    pub(super) columns: Vec<Axis>,
    pub(super) rows: Vec<EditRow>,
    pub(super) fields: Vec<FieldChoice>,
    pub(super) threshold: u32,
    pub(super) min_partner_segment: u32,
    /// Whether the partner's segments are known (from a match); else only "any".
    pub(super) partner_segments_known: bool,
    pub(super) preview_columns: Vec<String>,
    pub(super) preview: Vec<PreviewRow>,
    /// What the partner sees of this side whatever the levels: segment names and sizes.
    pub(super) own_sizes: String,
    pub(super) notice: Option<String>,
    pub(super) problem: Option<String>,
    /// Whether the stored rules list different fields per cell (the editor gives all the same).
    pub(super) mixed_fields: bool,
    /// Whether the partner matches in its browser (spec §20): counts show it nothing, fields
    /// reach it for the overlaps it reveals.
    pub(super) in_browser: bool,
}

/// What the page is built from: the partnership, this side's segments and fields (active
/// dataset), the partner's segments (latest complete match).
struct Context {
    partnership: Partnership,
    own: Vec<(String, u64)>,
    theirs: Vec<(String, u64)>,
    data_fields: BTreeSet<String>,
}

async fn context(state: &AppState, org: &OrgId, id: &str) -> Result<Context, PageError> {
    let id = PartnershipId::parse(id).ok_or(PageError(ApiError::NotFound("partner")))?;
    let partnership = state.store.partnership(org, &id).await?;
    let (own, data_fields) = match state.store.active_dataset(org).await? {
        Some(d) => {
            let summary = ImportSummary::of(&d)?;
            let fields =
                summary.columns.iter().filter_map(|c| c.role.strip_prefix("field:")).map(str::to_owned).collect();
            (d.segments().into_iter().map(|(l, n)| (l.to_owned(), n)).collect(), fields)
        }
        None => (Vec::new(), BTreeSet::new()),
    };
    let theirs = match state.store.latest_complete_run(org, &id).await? {
        Some(run) => result_of(&run)?
            .map(|r| r.columns.into_iter().map(|c| (c.segment, c.records)).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(Context { partnership, own, theirs, data_fields })
}

/// What the partner learns of a cell at `level`, in words.
fn learns(level: &Level, partner: &str, threshold: u32, in_browser: bool) -> String {
    match level {
        Level::Hidden => "nothing".to_owned(),
        // spec §20.3, §20.7: a browser session serves overlaps or nothing, and fields come
        // back for the overlaps the partner reveals.
        Level::Counts if in_browser => "nothing: a partner matching in its browser is shown no counts".to_owned(),
        Level::Fields(fields) if in_browser => format!(
            "which of its records overlap; your accounts' {} for the overlaps {partner} shares with you",
            fields.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
        ),
        Level::Counts if threshold > 1 => {
            format!("how many of its records overlap (\"< {threshold}\" below {threshold})")
        }
        Level::Counts => "how many of its records overlap".to_owned(),
        Level::Overlaps => format!("which of its records overlap; {partner} does not learn your accounts' names"),
        Level::Fields(fields) => format!(
            "which of its records overlap, with your accounts' {}",
            fields.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A label no rule names, standing for "a segment of theirs not listed".
fn unnamed(policy: &SharingPolicy) -> SegmentLabel {
    let mut label = String::from("other");
    while policy.rules.iter().any(|r| r.own_segment == label || r.partner_segment == label) {
        label.push('x');
    }
    SegmentLabel::new(&label).expect("letters are a label")
}

/// Builds the page for `policy` (stored, or as a form gave it).
fn page(
    chrome: Chrome,
    ctx: &Context,
    policy: &SharingPolicy,
    notice: Option<String>,
    problem: Option<String>,
) -> Result<SharingPage, PageError> {
    let partner = ctx.partnership.partner_name.clone();
    let set: BTreeMap<(&str, &str), &Level> =
        policy.rules.iter().map(|r| ((r.own_segment.as_str(), r.partner_segment.as_str()), &r.level)).collect();
    // Rows and columns: the segments known, those only rules name, then "any".
    let mut own: Vec<(String, Option<u64>)> = ctx.own.iter().map(|(l, n)| (l.clone(), Some(*n))).collect();
    let mut theirs: Vec<(String, Option<u64>)> = ctx.theirs.iter().map(|(l, n)| (l.clone(), Some(*n))).collect();
    for r in &policy.rules {
        if r.own_segment != ANY && !own.iter().any(|(l, _)| *l == r.own_segment) {
            own.push((r.own_segment.clone(), None));
        }
        if r.partner_segment != ANY && !theirs.iter().any(|(l, _)| *l == r.partner_segment) {
            theirs.push((r.partner_segment.clone(), None));
        }
    }
    let axis = |(label, n): &(String, Option<u64>), whose: &str| Axis {
        label: label.clone(),
        title: match n {
            Some(n) => format!("{label} ({} {whose})", thousands(*n)),
            None => format!("{label} (not in the data now)"),
        },
    };
    let mut columns: Vec<Axis> = theirs.iter().map(|t| axis(t, "records")).collect();
    columns.push(Axis { label: ANY.into(), title: format!("Any segment of {partner}'s") });
    let any_of_yours = Axis { label: ANY.into(), title: "Any of your segments".into() };
    let rows = own
        .iter()
        .map(|o| axis(o, "accounts"))
        .chain(std::iter::once(any_of_yours))
        .map(|o| {
            let cells = columns
                .iter()
                .map(|c| EditCell {
                    name: format!("cell:{}:{}", o.label, c.label),
                    level: set.get(&(o.label.as_str(), c.label.as_str())).map_or("", |l| l.name()).to_owned(),
                    label: format!("Your {} × {}", o.title, c.title),
                })
                .collect();
            EditRow { own: o, cells }
        })
        .collect();

    let field_lists: BTreeSet<Vec<String>> = policy
        .rules
        .iter()
        .filter_map(|r| match &r.level {
            Level::Fields(f) => Some(f.iter().map(|f| f.as_str().to_owned()).collect()),
            _ => None,
        })
        .collect();
    let ticked: BTreeSet<String> = field_lists.iter().flatten().cloned().collect();
    let mut fields: Vec<FieldChoice> = ctx
        .data_fields
        .iter()
        .map(|f| FieldChoice { name: f.clone(), ticked: ticked.contains(f), in_data: true })
        .collect();
    fields.extend(ticked.iter().filter(|f| !ctx.data_fields.contains(*f)).map(|f| FieldChoice {
        name: f.clone(),
        ticked: true,
        in_data: false,
    }));

    let in_browser = ctx.partnership.in_browser();
    // The preview, from the policy alone: each known cell, and "other" for segments not listed.
    let resolved = disclosure_policy(policy).map_err(ApiError::from)?;
    let other = unnamed(policy);
    let label = |l: &str| SegmentLabel::new(l).ok();
    let mut preview_columns: Vec<String> = theirs.iter().map(|(l, _)| format!("Their {l}")).collect();
    preview_columns.push("Any other segment of theirs".to_owned());
    let mut preview_rows: Vec<String> = own.iter().map(|(l, _)| l.clone()).collect();
    if preview_rows.is_empty() {
        preview_rows.push(other.to_string());
    }
    let preview = preview_rows
        .iter()
        .map(|o| {
            let own_label = label(o).unwrap_or_else(|| other.clone());
            let cells = theirs
                .iter()
                .map(|(t, _)| label(t).unwrap_or_else(|| other.clone()))
                .chain(std::iter::once(other.clone()))
                .map(|t| learns(resolved.level(&own_label, &t), &partner, policy.threshold, in_browser))
                .collect();
            PreviewRow { own: if own.is_empty() { "any of your segments".into() } else { o.clone() }, cells }
        })
        .collect();
    let own_sizes = if ctx.own.is_empty() {
        "none yet (no dataset)".to_owned()
    } else {
        ctx.own.iter().map(|(l, n)| format!("{l} ({})", thousands(*n))).collect::<Vec<_>>().join(", ")
    };
    Ok(SharingPage {
        chrome,
        pid: ctx.partnership.id.to_string(),
        partner,
        columns,
        rows,
        fields,
        threshold: policy.threshold,
        min_partner_segment: policy.min_partner_segment,
        partner_segments_known: !ctx.theirs.is_empty(),
        preview_columns,
        preview,
        own_sizes,
        notice,
        problem,
        mixed_fields: field_lists.len() > 1,
        in_browser,
    })
}

#[derive(Deserialize)]
pub(super) struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub(super) async fn sharing_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<SavedQuery>,
) -> PageResult {
    only_admins(&signed)?;
    let ctx = context(&state, signed.org(), &id).await?;
    let policy = state.store.sharing(signed.org(), &ctx.partnership.id).await?;
    let notice =
        query.saved.map(|_| format!("Saved. Matches with {} from now on use this.", ctx.partnership.partner_name));
    let page = page(signed.chrome(&state).await?.at("/partners"), &ctx, &policy, notice, None)?;
    Ok(html(StatusCode::OK, &page))
}

/// The policy a form describes: a rule per cell set, the fields ticked for every `fields` cell.
fn form_policy(form: &[(String, String)]) -> Result<(Vec<RuleText>, u32, u32, bool), String> {
    let value = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let number = |name: &str, what: &str| -> Result<u32, String> {
        value(name)
            .unwrap_or("")
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("{what} must be a whole number from 1"))
    };
    let threshold = number("threshold", "The threshold")?;
    let min = number("min_partner_segment", "The smallest partner segment")?;
    let fields: Vec<String> = form.iter().filter(|(k, _)| k == "field").map(|(_, v)| v.clone()).collect();
    let mut rules = Vec::new();
    for (name, level) in form {
        let Some(cell) = name.strip_prefix("cell:") else { continue };
        let (own, partner) = cell.split_once(':').ok_or("a cell of the grid is malformed")?;
        let level = level.trim();
        if level.is_empty() {
            continue;
        }
        if !matches!(level, "hidden" | "counts" | "overlaps" | "fields") {
            return Err(format!("{level:?} is not a level"));
        }
        if level == "fields" && fields.is_empty() {
            return Err("A cell shares fields: tick at least one field to show (or choose overlaps).".into());
        }
        rules.push(RuleText {
            own_segment: own.to_owned(),
            partner_segment: partner.to_owned(),
            level: level.to_owned(),
            fields: if level == "fields" { fields.clone() } else { Vec::new() },
        });
    }
    let save = value("action") != Some("preview");
    Ok((rules, threshold, min, save))
}

/// Saves the grid (or, with `action=preview`, shows what it would share without saving).
pub(super) async fn save_sharing(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> PageResult {
    let csrf = form.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
    admin(&signed, csrf)?;
    let ctx = context(&state, signed.org(), &id).await?;
    let chrome = signed.chrome(&state).await?.at("/partners");
    let stored = state.store.sharing(signed.org(), &ctx.partnership.id).await?;
    let checked = form_policy(&form).and_then(|(rules, threshold, min, save)| {
        partnerships::policy_of(&rules, threshold, min).map(|p| (p, save)).map_err(|e| e.to_string())
    });
    let (policy, save) = match checked {
        Ok(checked) => checked,
        Err(problem) => {
            // The stored policy again, with what was wrong: nothing was saved.
            let page = page(chrome, &ctx, &stored, None, Some(problem))?;
            return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    if !save {
        let notice = Some("A preview: not saved yet.".to_owned());
        return Ok(html(StatusCode::OK, &page(chrome, &ctx, &policy, notice, None)?));
    }
    partnerships::set_sharing(&state.store, signed.user(), &ctx.partnership.id, &policy).await?;
    Ok(Redirect::to(&format!("/partners/{}/sharing?saved=1", ctx.partnership.id)).into_response())
}
