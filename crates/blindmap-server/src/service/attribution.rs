//! Partner attribution, whoever asks (the API, the pages, an inbound delivery): touches checked
//! and recorded (with the opportunity's amount as of the touch, if given), closes scored into the
//! ledger of record, re-scoring under another model, the model in force, and the pipeline
//! summary per partner over a period. What callers give is checked here before anything is
//! stored: times as RFC 3339 dates or date-times, models by name, touch kinds, amounts, the texts
//! that name opportunities and partners, and the body of an inbound webhook delivery.

use std::collections::BTreeMap;

use blindmap_cosell::attribution::{Attribution, Category, ClosedDeal, Model, Touch, TouchKind, attribute};
use blindmap_cosell::money::{Currency, Money, Rate};
use blindmap_store::{
    ClosedOpportunity, LedgerCursor, LedgerEntry, NewTouch, OrgId, PipelineTouches, Store, StoreError, StoredTouch,
    User,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::attribution::{ClosedView, OpportunityClose, TouchInput};
use crate::service::text::{TextError, check_name, holds_nul};

/// The model closes are scored under until an admin sets another: what most partner programmes
/// report (sourced / influenced / unattributed).
pub(crate) const DEFAULT_MODEL: Model = Model::Categorical;

/// The longest half-life a time-decay model takes, in days (ten years).
pub(crate) const MAX_HALF_LIFE_DAYS: u32 = 3650;

/// Touches one inbound delivery may carry.
pub(crate) const MAX_TOUCHES_PER_DELIVERY: usize = 100;

/// The models by name, as the API and the ledger write them.
pub(crate) const MODEL_NAMES: &str = "categorical, first_touch, last_touch, linear, time_decay, u_shaped, w_shaped";

/// The pipeline summary's period when none is given: the last 90 days, up to now.
pub(crate) const DEFAULT_PERIOD_DAYS: i64 = 90;

/// The longest period a pipeline summary covers (ten years): a bound on what one read scans.
pub(crate) const MAX_PERIOD_DAYS: i64 = 3653;

const DAY_MS: i64 = 86_400_000;

/// Why an attribution request cannot be done. All are the caller's to fix (422) but
/// `AlreadyClosed` (409) and `Store`, mapped in `http/error.rs`. `what` names the field as the
/// caller wrote it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AttributionError {
    /// An inbound delivery that is not JSON.
    #[error("the delivery is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// JSON, but not one touch or a list of them.
    #[error(
        "the delivery is not {{\"type\": \"touch\", \"data\": {{opportunity, partner, kind, at, actor}}}} or \
         {{\"type\": \"touches\", \"data\": [...]}}: {0}"
    )]
    NotADelivery(serde_json::Error),
    /// None, or more touches than one delivery may carry.
    #[error("a delivery carries 1 to {MAX_TOUCHES_PER_DELIVERY} touches")]
    TouchCount,
    /// One touch of a delivery (counted from 1) is refused.
    #[error("touch {index}: {error}")]
    Touch {
        /// Its place in the delivery, from 1.
        index: usize,
        /// Why.
        error: Box<Self>,
    },
    /// A name or a text that cannot be taken.
    #[error(transparent)]
    Text(#[from] TextError),
    /// Not one of the touch kinds.
    #[error("{0:?} is not a touch kind: sourced, referral, influenced or co_selling")]
    NotAKind(String),
    /// Not one of the models.
    #[error("{0:?} is not a model: {MODEL_NAMES}")]
    NotAModel(String),
    /// No model named where one is needed.
    #[error("say which model: {MODEL_NAMES}")]
    NoModel,
    /// A half-life out of range.
    #[error("half_life_days must be 1 to {MAX_HALF_LIFE_DAYS}")]
    HalfLifeRange,
    /// `time_decay` without its half-life.
    #[error("time_decay needs half_life_days, e.g. 30")]
    HalfLifeMissing,
    /// A half-life with another model.
    #[error("half_life_days goes with time_decay only")]
    HalfLifeWithoutTimeDecay,
    /// Not an RFC 3339 date or date-time.
    #[error("{what}: {text:?} is not an RFC 3339 date or date-time, e.g. 2027-01-15 or 2027-01-15T09:30:00Z")]
    NotATime {
        /// The field.
        what: &'static str,
        /// As given.
        text: String,
    },
    /// An amount without its currency or a currency without an amount.
    #[error("amount and currency go together: give both (e.g. 48000.00 and EUR) or neither")]
    AmountWithoutCurrency,
    /// An amount, currency or rate that does not read.
    #[error("{what}: {error}")]
    Money {
        /// The field.
        what: &'static str,
        /// Why.
        error: blindmap_cosell::Error,
    },
    /// A negative amount.
    #[error("{0}: the amount cannot be negative")]
    Negative(&'static str),
    /// A close that is not won.
    #[error("only opportunities closed won are attributed; a lost one records nothing (leave it out)")]
    NotWon,
    /// One of the reporting currency and its rate without the other.
    #[error("reporting_currency and rate go together")]
    ReportingPair,
    /// The deal cannot be scored (e.g. its amount does not convert at the rate).
    #[error("{0}")]
    Scoring(blindmap_cosell::Error),
    /// The opportunity closed already: its ledger of record does not change.
    #[error("{0:?} is closed already; its ledger of record does not change (re-score it with /score)")]
    AlreadyClosed(String),
    /// A period that ends before it starts, or is too long.
    #[error("the period must start before it ends and cover at most {MAX_PERIOD_DAYS} days")]
    Period,
    /// The store failed, or has nothing of that name.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An amount and its currency as given (both or neither): not negative, within range.
pub(crate) fn amount(
    what: &'static str,
    amount: Option<&str>,
    currency: Option<&str>,
) -> Result<Option<Money>, AttributionError> {
    let money = |error| AttributionError::Money { what, error };
    match (amount, currency) {
        (None, None) => Ok(None),
        (Some(amount), Some(currency)) => {
            let currency =
                Currency::new(currency).map_err(|error| AttributionError::Money { what: "currency", error })?;
            let parsed = Money::parse(amount, currency).map_err(money)?;
            if parsed.minor < 0 {
                return Err(AttributionError::Negative(what));
            }
            Ok(Some(parsed))
        }
        _ => Err(AttributionError::AmountWithoutCurrency),
    }
}

impl TouchInput {
    /// The checked touch on its opportunity; `actor` unless the input names one, `now` (Unix
    /// milliseconds) unless it gives a time.
    pub(crate) fn check(&self, actor: &str, now: i64) -> Result<NewTouch, AttributionError> {
        check_name("opportunity", &self.opportunity)?;
        check_name("partner", &self.partner)?;
        let actor = self.actor.as_deref().unwrap_or(actor);
        check_name("actor", actor)?;
        let at = match &self.at {
            Some(text) => parse_time("at", text)?,
            None => now,
        };
        let touch = Touch { partner: self.partner.clone(), kind: kind(&self.kind)?, at, actor: actor.to_owned() };
        let amount = amount("amount", self.amount.as_deref(), self.currency.as_deref())?;
        Ok(NewTouch { opportunity: self.opportunity.clone(), touch, amount })
    }
}

/// The body of an inbound delivery: one touch or several.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub(crate) enum InboundBody {
    /// `{"type": "touch", "data": {…}}`.
    Touch(TouchInput),
    /// `{"type": "touches", "data": [{…}, …]}`, up to 100.
    Touches(Vec<TouchInput>),
}

impl InboundBody {
    /// The checked touches of a delivery, all or an error naming the first bad one.
    pub(crate) fn parse(body: &[u8], actor: &str, now: i64) -> Result<Vec<NewTouch>, AttributionError> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(AttributionError::NotJson)?;
        if holds_nul(&value) {
            return Err(TextError::Nul.into());
        }
        let parsed: Self = serde_json::from_value(value).map_err(AttributionError::NotADelivery)?;
        let inputs = match parsed {
            Self::Touch(one) => vec![one],
            Self::Touches(many) => many,
        };
        if inputs.is_empty() || inputs.len() > MAX_TOUCHES_PER_DELIVERY {
            return Err(AttributionError::TouchCount);
        }
        inputs
            .iter()
            .enumerate()
            .map(|(i, t)| t.check(actor, now).map_err(|e| AttributionError::Touch { index: i + 1, error: Box::new(e) }))
            .collect()
    }
}

/// A touch kind's name, as the API writes it.
pub(crate) fn kind_name(kind: TouchKind) -> &'static str {
    match kind {
        TouchKind::Sourced => "sourced",
        TouchKind::Referral => "referral",
        TouchKind::Influenced => "influenced",
        TouchKind::CoSelling => "co_selling",
    }
}

/// A touch kind by name.
pub(crate) fn kind(name: &str) -> Result<TouchKind, AttributionError> {
    match name {
        "sourced" => Ok(TouchKind::Sourced),
        "referral" => Ok(TouchKind::Referral),
        "influenced" => Ok(TouchKind::Influenced),
        "co_selling" => Ok(TouchKind::CoSelling),
        _ => Err(AttributionError::NotAKind(name.to_owned())),
    }
}

/// A model by name, with its half-life for `time_decay` (and only for it).
pub(crate) fn model(name: &str, half_life_days: Option<u32>) -> Result<Model, AttributionError> {
    let model = match name {
        "categorical" => Model::Categorical,
        "first_touch" => Model::FirstTouch,
        "last_touch" => Model::LastTouch,
        "linear" => Model::Linear,
        "u_shaped" => Model::UShaped,
        "w_shaped" => Model::WShaped,
        "time_decay" => match half_life_days {
            Some(days @ 1..=MAX_HALF_LIFE_DAYS) => return Ok(Model::TimeDecay { half_life_days: days }),
            Some(_) => return Err(AttributionError::HalfLifeRange),
            None => return Err(AttributionError::HalfLifeMissing),
        },
        _ => return Err(AttributionError::NotAModel(name.to_owned())),
    };
    match half_life_days {
        Some(_) => Err(AttributionError::HalfLifeWithoutTimeDecay),
        None => Ok(model),
    }
}

/// A time as RFC 3339 gives it, in Unix milliseconds: a full date (`2027-01-15`, midnight UTC)
/// or a date-time with its offset (`2027-01-15T09:30:00Z`, `…09:30:00.250+01:00`), as
/// [`blindmap_cosell::time`] reads it. `what` names the field in the message.
pub(crate) fn parse_time(what: &'static str, text: &str) -> Result<i64, AttributionError> {
    blindmap_cosell::time::parse(text).map_err(|_| AttributionError::NotATime { what, text: text.to_owned() })
}

/// A model as chosen by name and half-life, if one is: a half-life alone is refused.
pub(crate) fn model_choice(name: Option<&str>, half_life_days: Option<u32>) -> Result<Option<Model>, AttributionError> {
    match name {
        Some(name) => Ok(Some(model(name, half_life_days)?)),
        None if half_life_days.is_some() => Err(AttributionError::HalfLifeWithoutTimeDecay),
        None => Ok(None),
    }
}

/// Records a touch by `user` (the API's or a page's), checked first; `now` unless it gives a time.
pub(crate) async fn record_touch(
    store: &Store,
    user: &User,
    input: &TouchInput,
    now: i64,
) -> Result<StoredTouch, AttributionError> {
    let new = input.check(&user.name, now)?;
    Ok(store.record_touch(&user.org, &new).await?)
}

/// A page of the organisation's touches, optionally of one opportunity and one partner.
pub(crate) async fn touches(
    store: &Store,
    org: &OrgId,
    opportunity: Option<&str>,
    partner: Option<&str>,
    after: Option<&blindmap_store::TouchId>,
    limit: u32,
) -> Result<Vec<StoredTouch>, AttributionError> {
    if let Some(o) = opportunity {
        check_name("opportunity", o)?;
    }
    if let Some(p) = partner {
        check_name("partner", p)?;
    }
    Ok(store.touches_page(org, opportunity, partner, after, limit).await?)
}

/// A page of the ledger, optionally of one partner.
pub(crate) async fn ledger(
    store: &Store,
    org: &OrgId,
    partner: Option<&str>,
    after: Option<&LedgerCursor>,
    limit: u32,
) -> Result<Vec<LedgerEntry>, AttributionError> {
    if let Some(p) = partner {
        check_name("partner", p)?;
    }
    Ok(store.ledger_page(org, partner, after, limit).await?)
}

/// The model in force and whether an admin set it (`false`: the default).
pub(crate) async fn model_in_force(store: &Store, org: &OrgId) -> Result<(Model, bool), AttributionError> {
    let configured = store.attribution_model(org).await?;
    Ok((configured.unwrap_or(DEFAULT_MODEL), configured.is_some()))
}

/// Sets the model later closes are scored under (the caller checked `user` is an admin), audited.
pub(crate) async fn set_model(store: &Store, user: &User, model: &Model) -> Result<(), AttributionError> {
    store.set_attribution_model(&user.org, model).await?;
    let half_life_days = match model {
        Model::TimeDecay { half_life_days } => Some(*half_life_days),
        _ => None,
    };
    let detail = serde_json::json!({ "model": model.name(), "half_life_days": half_life_days });
    store.record_audit(&user.org, &user.name, "attribution.model_set", &detail).await?;
    Ok(())
}

/// What a close says of the deal, checked; its creation time may wait for the touches.
#[derive(Debug, Clone)]
pub(crate) struct CloseTerms {
    amount: Money,
    closed_at: i64,
    created_at: Option<i64>,
    reporting: Option<(Currency, Rate)>,
    model: Option<Model>,
}

impl OpportunityClose {
    /// The close's terms, checked.
    pub(crate) fn terms(&self) -> Result<CloseTerms, AttributionError> {
        if self.won == Some(false) {
            return Err(AttributionError::NotWon);
        }
        let amount = amount("amount", Some(&self.amount), Some(&self.currency))?.ok_or(AttributionError::NotWon)?;
        let closed_at = parse_time("closed_at", &self.closed_at)?;
        let created_at = self.created_at.as_deref().map(|t| parse_time("created_at", t)).transpose()?;
        let money = |what| move |error| AttributionError::Money { what, error };
        let reporting = match (&self.reporting_currency, &self.rate) {
            (Some(c), Some(r)) => {
                Some((Currency::new(c).map_err(money("reporting_currency"))?, Rate::parse(r).map_err(money("rate"))?))
            }
            (None, None) => None,
            _ => return Err(AttributionError::ReportingPair),
        };
        let model = model_choice(self.model.as_deref(), self.half_life_days)?;
        Ok(CloseTerms { amount, closed_at, created_at, reporting, model })
    }
}

/// Closes `opportunity` won and records who gets credit: the touches recorded so far, up to the
/// close date, scored under the terms' model or the organisation's, written to the ledger of
/// record with an `attribution.recorded` event in one transaction, and audited. An opportunity
/// closes once.
pub(crate) async fn close(
    store: &Store,
    user: &User,
    opportunity: &str,
    terms: CloseTerms,
    now: i64,
) -> Result<ClosedOpportunity, AttributionError> {
    check_name("opportunity", opportunity)?;
    let org = &user.org;
    let model = match terms.model {
        Some(m) => m,
        None => model_in_force(store, org).await?.0,
    };
    let closed_at = terms.closed_at;
    let touches: Vec<Touch> =
        store.opportunity_touches(org, opportunity).await?.into_iter().filter(|t| t.at <= closed_at).collect();
    let created_at = terms.created_at.unwrap_or_else(|| touches.first().map_or(closed_at, |t| t.at.min(closed_at)));
    let deal = ClosedDeal { amount: terms.amount, created_at, closed_at, reporting: terms.reporting };
    let result = attribute(&model, &touches, &deal).map_err(AttributionError::Scoring)?;
    let close = ClosedOpportunity {
        opportunity: opportunity.to_owned(),
        deal,
        touches,
        model,
        result,
        closed_by: user.name.clone(),
        recorded_at: now,
    };
    let view = ClosedView::from(close.clone());
    let credits = view.attribution.credits.len();
    let mut payload = serde_json::to_value(&view).expect("a view serialises");
    // The event says who got credit; the touches behind it stay behind the API.
    payload.as_object_mut().expect("an object").remove("touches");
    match store.record_close(org, &close, ("attribution.recorded", &payload)).await {
        Err(StoreError::Conflict(_)) => return Err(AttributionError::AlreadyClosed(opportunity.to_owned())),
        other => other?,
    }
    let detail = serde_json::json!({ "opportunity": opportunity, "model": model.name(), "credits": credits });
    store.record_audit(org, &user.name, "attribution.recorded", &detail).await?;
    Ok(close)
}

/// The ledger of record of a closed opportunity.
pub(crate) async fn closed(
    store: &Store,
    org: &OrgId,
    opportunity: &str,
) -> Result<ClosedOpportunity, AttributionError> {
    check_name("opportunity", opportunity)?;
    Ok(store.closed_opportunity(org, opportunity).await?)
}

/// A closed opportunity's record and its score under `model`: the same touches and deal as the
/// ledger of record (amounts in the currency and at the rate of the close date). Writes nothing.
pub(crate) async fn rescore(
    store: &Store,
    org: &OrgId,
    opportunity: &str,
    model: &Model,
) -> Result<(ClosedOpportunity, Attribution), AttributionError> {
    let record = closed(store, org, opportunity).await?;
    let result = attribute(model, &record.touches, &record.deal).map_err(AttributionError::Scoring)?;
    Ok((record, result))
}

/// A period [from, to) in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Period {
    /// Its start, included.
    pub(crate) from: i64,
    /// Its end, excluded.
    pub(crate) to: i64,
}

impl Period {
    /// The period `from`..`to` as given (RFC 3339 dates or date-times; a date is its midnight
    /// UTC, so `to=2027-04-01` ends as March does): `to` defaults to `now`, `from` to 90 days
    /// before `to`.
    pub(crate) fn parse(from: Option<&str>, to: Option<&str>, now: i64) -> Result<Self, AttributionError> {
        let to = to.map(|t| parse_time("to", t)).transpose()?.unwrap_or(now);
        let from = from.map(|t| parse_time("from", t)).transpose()?.unwrap_or(to - DEFAULT_PERIOD_DAYS * DAY_MS);
        if from >= to || to - from > MAX_PERIOD_DAYS * DAY_MS {
            return Err(AttributionError::Period);
        }
        Ok(Self { from, to })
    }
}

/// Amounts kept per currency, never added across currencies, with how many opportunities (or
/// deals) they come from and how many of those had no amount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Amounts {
    /// Minor units per currency.
    pub(crate) totals: BTreeMap<Currency, i64>,
    /// Won only: the same in the ledger's reporting currencies, where the close gave one.
    pub(crate) reported: BTreeMap<Currency, i64>,
    /// Opportunities (pipeline) or deals (won) counted.
    pub(crate) count: u32,
    /// Pipeline only: those of them with no amount on any touch (counted, amount unknown).
    pub(crate) unknown: u32,
}

impl Amounts {
    fn add(&mut self, amount: Option<Money>) {
        self.count += 1;
        match amount {
            Some(m) => *self.totals.entry(m.currency).or_default() += m.minor,
            None => self.unknown += 1,
        }
    }

    fn add_reported(&mut self, reported: Option<Money>) {
        if let Some(m) = reported {
            *self.reported.entry(m.currency).or_default() += m.minor;
        }
    }

    /// The amounts as `Money`, in currency order.
    pub(crate) fn money(&self) -> Vec<Money> {
        self.totals.iter().map(|(c, m)| Money { minor: *m, currency: *c }).collect()
    }

    /// The reported amounts as `Money`, in currency order.
    pub(crate) fn reported_money(&self) -> Vec<Money> {
        self.reported.iter().map(|(c, m)| Money { minor: *m, currency: *c }).collect()
    }
}

/// One partner's line of the pipeline summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PartnerPipeline {
    /// The partner, as the touches name it.
    pub(crate) partner: String,
    /// Open opportunities the partner touched in the period with a `sourced` or `referral` touch.
    pub(crate) sourced: Amounts,
    /// Open opportunities the partner touched in the period otherwise.
    pub(crate) influenced: Amounts,
    /// Categorical ledger credits as sourced, of deals closed won in the period.
    pub(crate) won_sourced: Amounts,
    /// Categorical ledger credits as influenced, of deals closed won in the period.
    pub(crate) won_influenced: Amounts,
    /// Ledger credits under the other models (a share of the deal), of deals closed won in the period.
    pub(crate) won_credited: Amounts,
}

/// The pipeline summary of a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pipeline {
    /// The period.
    pub(crate) period: Period,
    /// Its partners, most won first, then most pipeline (in the main currency), then by name.
    pub(crate) partners: Vec<PartnerPipeline>,
    /// The currency most amounts are in, which the order compares in.
    pub(crate) main_currency: Option<Currency>,
}

/// The rule, in the words the API documents and the page shows.
pub(crate) const PIPELINE_RULE: &str = "Pipeline: open opportunities (not closed won by the period's end) a partner \
     touched in the period, sourced if the partner's touches on it include sourced or referral, influenced otherwise, \
     at the amount on the opportunity's latest touch that gives one (those without count as unknown). Won: the \
     ledger's credits for deals closed won in the period: sourced or influenced under the categorical model; under \
     other models the credited share. Amounts stay in their own currency.";

/// The pipeline summary from what the store read: the pure rules (see [`PIPELINE_RULE`]).
pub(crate) fn summarise(period: Period, touches: &[PipelineTouches], ledger: &[LedgerEntry]) -> Pipeline {
    let mut partners: BTreeMap<String, PartnerPipeline> = BTreeMap::new();
    for t in touches {
        let touched_in_period = t.latest_at >= period.from && t.latest_at < period.to;
        let open = t.closed_at.is_none_or(|closed| closed >= period.to);
        if !touched_in_period || !open {
            continue;
        }
        let p = partners
            .entry(t.partner.clone())
            .or_insert_with(|| PartnerPipeline { partner: t.partner.clone(), ..Default::default() });
        if t.sources { p.sourced.add(t.amount) } else { p.influenced.add(t.amount) }
    }
    let mut counted = std::collections::BTreeSet::new();
    for e in ledger {
        let Some(partner) = &e.partner else { continue };
        if e.closed_at < period.from || e.closed_at >= period.to {
            continue;
        }
        let p = partners
            .entry(partner.clone())
            .or_insert_with(|| PartnerPipeline { partner: partner.clone(), ..Default::default() });
        let (bucket, which) = match e.category {
            Some(Category::Sourced) => (&mut p.won_sourced, 0),
            Some(Category::Influenced) => (&mut p.won_influenced, 1),
            None => (&mut p.won_credited, 2),
        };
        // A deal counts once per partner and bucket, however many entries credit it.
        if counted.insert((partner.as_str(), e.opportunity.as_str(), which)) {
            bucket.count += 1;
        }
        *bucket.totals.entry(e.amount.currency).or_default() += e.amount.minor;
        bucket.add_reported(e.reported);
    }
    let mut uses: BTreeMap<Currency, usize> = BTreeMap::new();
    for p in partners.values() {
        for a in [&p.sourced, &p.influenced, &p.won_sourced, &p.won_influenced, &p.won_credited] {
            for c in a.totals.keys() {
                *uses.entry(*c).or_default() += 1;
            }
        }
    }
    // The most used currency; ties: the first by code.
    let main_currency = uses.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(c, _)| *c);
    let in_main = |a: &Amounts| main_currency.and_then(|c| a.totals.get(&c).copied()).unwrap_or(0);
    let mut partners: Vec<PartnerPipeline> = partners.into_values().collect();
    partners.sort_by(|a, b| {
        let won = |p: &PartnerPipeline| in_main(&p.won_sourced) + in_main(&p.won_influenced) + in_main(&p.won_credited);
        let pipeline = |p: &PartnerPipeline| in_main(&p.sourced) + in_main(&p.influenced);
        won(b).cmp(&won(a)).then(pipeline(b).cmp(&pipeline(a))).then(a.partner.cmp(&b.partner))
    });
    Pipeline { period, partners, main_currency }
}

/// The pipeline summary of `org` over `period`.
pub(crate) async fn pipeline(store: &Store, org: &OrgId, period: Period) -> Result<Pipeline, AttributionError> {
    let touches = store.pipeline_touches(org, period.from, period.to).await?;
    let ledger = store.ledger_in_period(org, period.from, period.to).await?;
    Ok(summarise(period, &touches, &ledger))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> i64 {
        parse_time("t", text).unwrap()
    }

    #[test]
    fn a_time_that_is_not_rfc3339_is_named_in_the_message() {
        // The language itself is tested beside it, in blindmap_cosell::time.
        assert_eq!(time("2027-01-15T09:30:00+01:00"), 1_800_001_800_000);
        let Err(refused) = parse_time("closed_at", "2027-02-31") else { panic!("refused") };
        assert_eq!(
            refused.to_string(),
            r#"closed_at: "2027-02-31" is not an RFC 3339 date or date-time, e.g. 2027-01-15 or 2027-01-15T09:30:00Z"#
        );
    }

    #[test]
    fn models_and_kinds_are_named_as_the_api_writes_them() {
        for m in
            [Model::Categorical, Model::FirstTouch, Model::LastTouch, Model::Linear, Model::UShaped, Model::WShaped]
        {
            assert_eq!(model(m.name(), None).unwrap(), m);
            assert!(model(m.name(), Some(30)).is_err(), "a half-life only for time decay");
        }
        assert_eq!(model("time_decay", Some(30)).unwrap(), Model::TimeDecay { half_life_days: 30 });
        assert!(model("time_decay", None).is_err() && model("time_decay", Some(0)).is_err());
        assert!(model("time_decay", Some(3651)).is_err() && model("Linear", None).is_err());
        for k in [TouchKind::Sourced, TouchKind::Referral, TouchKind::Influenced, TouchKind::CoSelling] {
            assert_eq!(kind(kind_name(k)).unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), kind_name(k), "the name serde gives it");
        }
        assert!(kind("co-selling").is_err() && kind("").is_err());
    }

    #[test]
    fn inbound_bodies_carry_one_touch_or_several() {
        let one = br#"{"type": "touch", "data": {"opportunity": "OPP-1", "partner": "Acme", "kind": "sourced",
            "at": "2027-01-15"}}"#;
        let got = InboundBody::parse(one, "CRM", 5).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].opportunity.as_str(), got[0].touch.actor.as_str(), got[0].touch.at),
            ("OPP-1", "CRM", time("2027-01-15"))
        );
        let many = br#"{"type": "touches", "data": [{"opportunity": "O", "partner": "A", "kind": "influenced"},
            {"opportunity": "O", "partner": "B", "kind": "referral", "actor": "kim"}]}"#;
        let got = InboundBody::parse(many, "CRM", 5).unwrap();
        assert_eq!((got[0].touch.at, got[1].touch.actor.as_str()), (5, "kim"), "now unless given; the actor if given");
        for bad in [
            &br#"{"type": "deal", "data": {}}"#[..],
            br#"{"type": "touches", "data": []}"#,
            br#"{"type": "touch", "data": {"opportunity": "O", "partner": "A", "kind": "bought"}}"#,
            br#"{"type": "touch", "data": {"opportunity": "", "partner": "A", "kind": "sourced"}}"#,
            br#"{"type": "touch", "data": {"opportunity": "O", "partner": "A", "kind": "sourced", "extra": 1}}"#,
            b"not json",
        ] {
            assert!(InboundBody::parse(bad, "CRM", 5).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let priced = br#"{"type": "touch", "data": {"opportunity": "O", "partner": "A", "kind": "sourced",
            "amount": "48000.00", "currency": "EUR"}}"#;
        let got = InboundBody::parse(priced, "CRM", 5).unwrap();
        assert_eq!(got[0].amount, Some(Money::parse("48000.00", Currency::new("EUR").unwrap()).unwrap()));
        let half =
            br#"{"type": "touch", "data": {"opportunity": "O", "partner": "A", "kind": "sourced", "amount": "1"}}"#;
        let Err(AttributionError::Touch { index: 1, error }) = InboundBody::parse(half, "CRM", 5) else { panic!() };
        assert!(matches!(*error, AttributionError::AmountWithoutCurrency));
        let texts = [("x".repeat(201), "too long"), (" A".into(), "padded"), ("A\u{7}".into(), "a control character")];
        for (text, why) in texts {
            assert!(check_name("partner", &text).is_err(), "{why}");
        }
    }

    const DAY: i64 = DAY_MS;

    fn money(amount: &str, currency: &str) -> Money {
        Money::parse(amount, Currency::new(currency).unwrap()).unwrap()
    }

    fn seen(
        opportunity: &str,
        partner: &str,
        latest_day: i64,
        sources: bool,
        amount: Option<Money>,
        closed_day: Option<i64>,
    ) -> PipelineTouches {
        PipelineTouches {
            opportunity: opportunity.into(),
            partner: partner.into(),
            latest_at: latest_day * DAY,
            sources,
            amount,
            closed_at: closed_day.map(|d| d * DAY),
        }
    }

    fn credit(
        opportunity: &str,
        partner: &str,
        category: Option<Category>,
        amount: Money,
        closed_day: i64,
    ) -> LedgerEntry {
        LedgerEntry {
            opportunity: opportunity.into(),
            seq: 0,
            partner: Some(partner.into()),
            model: if category.is_some() { "categorical" } else { "linear" }.into(),
            share_ppm: 1_000_000,
            amount,
            reported: None,
            rate: None,
            category,
            closed_at: closed_day * DAY,
        }
    }

    const PERIOD: Period = Period { from: 10 * DAY, to: 20 * DAY };

    fn line<'a>(p: &'a Pipeline, partner: &str) -> &'a PartnerPipeline {
        p.partners.iter().find(|l| l.partner == partner).unwrap_or_else(|| panic!("no {partner}"))
    }

    fn totals(a: &Amounts) -> Vec<String> {
        a.money().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn pipeline_is_sourced_with_a_sourced_or_referral_touch_and_influenced_otherwise() {
        let touches = [
            seen("O1", "Acme", 12, true, Some(money("100.00", "EUR")), None),
            seen("O2", "Acme", 13, false, Some(money("40.00", "EUR")), None),
            seen("O3", "Acme", 14, false, Some(money("60.00", "EUR")), None),
            seen("O1", "Globex", 15, false, Some(money("100.00", "EUR")), None),
        ];
        let p = summarise(PERIOD, &touches, &[]);
        let acme = line(&p, "Acme");
        assert_eq!((totals(&acme.sourced), acme.sourced.count), (vec!["100.00 EUR".to_owned()], 1));
        assert_eq!((totals(&acme.influenced), acme.influenced.count), (vec!["100.00 EUR".to_owned()], 2));
        let globex = line(&p, "Globex");
        assert_eq!((globex.sourced.count, totals(&globex.influenced)), (0, vec!["100.00 EUR".to_owned()]));
    }

    #[test]
    fn pipeline_counts_touches_in_the_period_only_from_included_to_excluded() {
        let eur = Some(money("1.00", "EUR"));
        let touches = [
            seen("Before", "Acme", 9, true, eur, None),
            PipelineTouches { latest_at: 10 * DAY, ..seen("AtStart", "Acme", 0, true, eur, None) },
            PipelineTouches { latest_at: 20 * DAY - 1, ..seen("LastMs", "Acme", 0, true, eur, None) },
            seen("AtEnd", "Acme", 20, true, eur, None),
        ];
        let p = summarise(PERIOD, &touches, &[]);
        assert_eq!(
            (line(&p, "Acme").sourced.count, totals(&line(&p, "Acme").sourced)),
            (2, vec!["2.00 EUR".to_owned()])
        );
    }

    #[test]
    fn pipeline_leaves_out_opportunities_closed_won_by_the_periods_end() {
        let eur = Some(money("5.00", "EUR"));
        let touches = [
            seen("ClosedIn", "Acme", 12, true, eur, Some(15)),
            seen("ClosedBefore", "Acme", 12, true, eur, Some(11)),
            seen("ClosedAfter", "Acme", 12, true, eur, Some(20)),
            seen("Open", "Acme", 12, true, eur, None),
        ];
        let p = summarise(PERIOD, &touches, &[]);
        assert_eq!(line(&p, "Acme").sourced.count, 2, "closed after the period: still open at its end");
    }

    #[test]
    fn currencies_stay_apart_and_unknown_amounts_are_counted() {
        let touches = [
            seen("O1", "Acme", 12, true, Some(money("100.00", "EUR")), None),
            seen("O2", "Acme", 12, true, Some(money("70.00", "USD")), None),
            seen("O3", "Acme", 12, true, Some(money("30.00", "EUR")), None),
            seen("O4", "Acme", 12, true, None, None),
        ];
        let ledger = [
            credit("W1", "Acme", Some(Category::Sourced), money("10.00", "EUR"), 11),
            credit("W2", "Acme", Some(Category::Sourced), money("1000", "JPY"), 12),
            credit("W3", "Acme", Some(Category::Influenced), money("3.00", "EUR"), 12),
            credit("W4", "Acme", None, money("2.00", "EUR"), 13),
            credit("Outside", "Acme", Some(Category::Sourced), money("99.00", "EUR"), 20),
        ];
        let p = summarise(PERIOD, &touches, &ledger);
        let acme = line(&p, "Acme");
        assert_eq!(totals(&acme.sourced), ["130.00 EUR", "70.00 USD"]);
        assert_eq!((acme.sourced.count, acme.sourced.unknown), (4, 1));
        assert_eq!(totals(&acme.won_sourced), ["10.00 EUR", "1000 JPY"]);
        assert_eq!(acme.won_sourced.count, 2, "the deal closed at the period's end is left out");
        assert_eq!(totals(&acme.won_influenced), ["3.00 EUR"]);
        assert_eq!(totals(&acme.won_credited), ["2.00 EUR"], "another model's entries: its credited share");
    }

    #[test]
    fn partners_are_ordered_by_won_then_pipeline() {
        let eur = |a: &str| Some(money(a, "EUR"));
        let touches = [
            seen("O1", "Big pipeline", 12, true, eur("900.00"), None),
            seen("O2", "Small pipeline", 12, true, eur("10.00"), None),
            seen("O3", "Winner", 12, false, eur("1.00"), None),
        ];
        let ledger = [credit("W", "Winner", Some(Category::Influenced), money("5.00", "EUR"), 12)];
        let p = summarise(PERIOD, &touches, &ledger);
        let names: Vec<&str> = p.partners.iter().map(|l| l.partner.as_str()).collect();
        assert_eq!(names, ["Winner", "Big pipeline", "Small pipeline"]);
        assert_eq!(p.main_currency, Some(Currency::new("EUR").unwrap()));
    }

    #[test]
    fn a_period_defaults_to_the_last_90_days_and_must_run_forwards() {
        let now = 1_800_000_000_000;
        assert_eq!(Period::parse(None, None, now).unwrap(), Period { from: now - 90 * DAY, to: now });
        let p = Period::parse(Some("2027-01-01"), Some("2027-04-01"), now).unwrap();
        assert_eq!((p.from, p.to), (time("2027-01-01"), time("2027-04-01")));
        assert!(matches!(Period::parse(Some("2027-04-01"), Some("2027-01-01"), now), Err(AttributionError::Period)));
        assert!(matches!(Period::parse(Some("2027-01-01"), Some("2027-01-01"), now), Err(AttributionError::Period)));
        assert!(matches!(Period::parse(Some("Monday"), None, now), Err(AttributionError::NotATime { .. })));
        // Given empty is not left out: the API refuses it (the page leaves out what is blank).
        assert!(matches!(Period::parse(None, Some(""), now), Err(AttributionError::NotATime { .. })));
    }

    #[test]
    fn an_amount_goes_with_its_currency_and_is_not_negative() {
        assert_eq!(amount("amount", None, None).unwrap(), None);
        assert_eq!(amount("amount", Some("48000.00"), Some("EUR")).unwrap(), Some(money("48000.00", "EUR")));
        for (a, c) in [(Some("1"), None), (None, Some("EUR"))] {
            assert!(matches!(amount("amount", a, c), Err(AttributionError::AmountWithoutCurrency)));
        }
        assert!(matches!(amount("amount", Some("-1.00"), Some("EUR")), Err(AttributionError::Negative(_))));
        assert!(matches!(amount("amount", Some("1.00"), Some("EURO")), Err(AttributionError::Money { .. })));
        assert!(matches!(amount("amount", Some("1.001"), Some("EUR")), Err(AttributionError::Money { .. })));
    }
}
