//! What the attribution API reads, checked before anything is stored: times as RFC 3339 dates or
//! date-times, models by name, touch kinds, the texts that name opportunities and partners, and
//! the body of an inbound webhook delivery.

use blindmap_cosell::attribution::{Model, Touch, TouchKind};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::attribution::TouchInput;
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

/// Why what the attribution API or an inbound delivery gives cannot be used (all 422, mapped in
/// `http/error.rs`). `what` names the field as the caller wrote it.
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
}

impl TouchInput {
    /// The checked touch on its opportunity; `actor` unless the input names one, `now` (Unix
    /// milliseconds) unless it gives a time.
    pub(crate) fn check(&self, actor: &str, now: i64) -> Result<(String, Touch), AttributionError> {
        check_name("opportunity", &self.opportunity)?;
        check_name("partner", &self.partner)?;
        let actor = self.actor.as_deref().unwrap_or(actor);
        check_name("actor", actor)?;
        let at = match &self.at {
            Some(text) => parse_time("at", text)?,
            None => now,
        };
        let touch = Touch { partner: self.partner.clone(), kind: kind(&self.kind)?, at, actor: actor.to_owned() };
        Ok((self.opportunity.clone(), touch))
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
    pub(crate) fn parse(body: &[u8], actor: &str, now: i64) -> Result<Vec<(String, Touch)>, AttributionError> {
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
        assert_eq!((got[0].0.as_str(), got[0].1.actor.as_str(), got[0].1.at), ("OPP-1", "CRM", time("2027-01-15")));
        let many = br#"{"type": "touches", "data": [{"opportunity": "O", "partner": "A", "kind": "influenced"},
            {"opportunity": "O", "partner": "B", "kind": "referral", "actor": "kim"}]}"#;
        let got = InboundBody::parse(many, "CRM", 5).unwrap();
        assert_eq!((got[0].1.at, got[1].1.actor.as_str()), (5, "kim"), "now unless given; the actor if given");
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
        let texts = [("x".repeat(201), "too long"), (" A".into(), "padded"), ("A\u{7}".into(), "a control character")];
        for (text, why) in texts {
            assert!(check_name("partner", &text).is_err(), "{why}");
        }
    }
}
