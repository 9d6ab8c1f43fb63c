//! Partner attribution: who gets credit for a deal that closed won, from the partner touches
//! recorded before the close, under a chosen model. Scoring is a pure function of the touches and
//! the deal, so the same history can be re-scored under another model at any time; the ledger of
//! record keeps what was scored when the deal closed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::money::{Currency, Money, Rate};

/// What a partner did for a deal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TouchKind {
    /// Brought the opportunity.
    Sourced,
    /// Referred the customer (sources, like `Sourced`).
    Referral,
    /// Helped it along.
    Influenced,
    /// Sold alongside.
    CoSelling,
}

impl TouchKind {
    /// Whether the touch sources the deal (categorical model).
    pub fn sources(self) -> bool {
        matches!(self, Self::Sourced | Self::Referral)
    }
}

/// One recorded partner touch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    /// The partner (its name or partnership id).
    pub partner: String,
    /// What it did.
    pub kind: TouchKind,
    /// When, Unix milliseconds.
    pub at: i64,
    /// Who recorded it.
    pub actor: String,
}

/// How credit is assigned.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "model")]
pub enum Model {
    /// Sourced / influenced / unattributed: the first partner with a sourcing touch sources the
    /// deal (full amount); every other partner that touched it influenced it (full amount, as
    /// influenced revenue: categorical credits are not shares and do not add up).
    Categorical,
    /// All to the first touch.
    FirstTouch,
    /// All to the last touch before the close.
    LastTouch,
    /// Equal shares per touch.
    Linear,
    /// Each touch weighs 2^(−age / half-life), its age taken at the close.
    TimeDecay {
        /// Days for a touch's weight to halve.
        half_life_days: u32,
    },
    /// 40 % first touch, 40 % last, 20 % shared by the touches between (one touch: all; two:
    /// half each).
    UShaped,
    /// 30 % each to the first touch, the touch nearest the opportunity's creation among those
    /// between, and the last; 10 % shared by the rest (up to three touches: equal shares).
    WShaped,
}

impl Model {
    /// The model's name, as the API and the ledger write it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Categorical => "categorical",
            Self::FirstTouch => "first_touch",
            Self::LastTouch => "last_touch",
            Self::Linear => "linear",
            Self::TimeDecay { .. } => "time_decay",
            Self::UShaped => "u_shaped",
            Self::WShaped => "w_shaped",
        }
    }
}

/// A deal that closed won.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClosedDeal {
    /// Its amount in the deal's currency.
    pub amount: Money,
    /// When the opportunity was created, Unix milliseconds (the W-shaped model's middle anchor).
    pub created_at: i64,
    /// When it closed, Unix milliseconds.
    pub closed_at: i64,
    /// The reporting currency and the rate (reporting units per deal unit) on the close date.
    pub reporting: Option<(Currency, Rate)>,
}

/// How a partner is credited under the categorical model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Brought the deal.
    Sourced,
    /// Helped it.
    Influenced,
}

/// One partner's credit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Credit {
    /// The partner.
    pub partner: String,
    /// Its share in parts per million (categorical: 1,000,000 for each credited partner).
    pub share_ppm: u32,
    /// Its credited amount in the deal's currency.
    pub amount: Money,
    /// The same at the close date's rate, in the reporting currency.
    pub reported: Option<Money>,
    /// Categorical model only.
    pub category: Option<Category>,
}

/// A deal scored under a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// The model's name.
    pub model: String,
    /// Credits, by partner name.
    pub credits: Vec<Credit>,
    /// Whether no partner touched the deal before it closed.
    pub unattributed: bool,
    /// The rate applied, as recorded on the close date.
    pub rate: Option<Rate>,
}

/// Scores `deal` under `model` from `touches` (touches after the close are ignored).
pub fn attribute(model: &Model, touches: &[Touch], deal: &ClosedDeal) -> Result<Attribution, Error> {
    if deal.created_at > deal.closed_at {
        return Err(Error::Invalid("a deal cannot close before it was created".into()));
    }
    if let Model::TimeDecay { half_life_days: 0 } = model {
        return Err(Error::Invalid("the half-life must be at least one day".into()));
    }
    let mut ordered: Vec<&Touch> = touches.iter().filter(|t| t.at <= deal.closed_at).collect();
    // Stable: equal times keep the order they were recorded in.
    ordered.sort_by_key(|t| t.at);
    deal.amount.check()?;
    let report = |amount: Money| deal.reporting.map(|(currency, rate)| amount.convert(&rate, currency)).transpose();
    // Every share is at most the whole: if the whole converts, each share does.
    report(deal.amount)?;
    let mut attribution = Attribution {
        model: model.name().to_owned(),
        credits: Vec::new(),
        unattributed: ordered.is_empty(),
        rate: deal.reporting.map(|(_, rate)| rate),
    };
    if ordered.is_empty() {
        return Ok(attribution);
    }
    if let Model::Categorical = model {
        let source = ordered.iter().find(|t| t.kind.sources()).map(|t| t.partner.as_str());
        let mut partners: Vec<&str> = ordered.iter().map(|t| t.partner.as_str()).collect();
        partners.sort_unstable();
        partners.dedup();
        attribution.credits = partners
            .into_iter()
            .map(|p| {
                Ok(Credit {
                    partner: p.to_owned(),
                    share_ppm: 1_000_000,
                    amount: deal.amount,
                    reported: report(deal.amount)?,
                    category: Some(if Some(p) == source { Category::Sourced } else { Category::Influenced }),
                })
            })
            .collect::<Result<_, Error>>()?;
        return Ok(attribution);
    }
    let weights = weights(model, &ordered, deal);
    // Per partner: the sum of its touches' weights.
    let mut per_partner: BTreeMap<&str, f64> = BTreeMap::new();
    for (touch, w) in ordered.iter().zip(&weights) {
        *per_partner.entry(&touch.partner).or_default() += w;
    }
    let (partners, partner_weights): (Vec<&str>, Vec<f64>) = per_partner.into_iter().unzip();
    let amounts = deal.amount.split(&partner_weights);
    let ppm = crate::money::largest_remainder(1_000_000, &partner_weights);
    attribution.credits = partners
        .into_iter()
        .zip(amounts)
        .zip(ppm)
        .filter(|((_, _), ppm)| *ppm > 0)
        .map(|((partner, amount), ppm)| {
            Ok(Credit {
                partner: partner.to_owned(),
                share_ppm: u32::try_from(ppm).unwrap_or(0),
                amount,
                reported: report(amount)?,
                category: None,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(attribution)
}

/// Each (ordered) touch's weight under a weighted model.
fn weights(model: &Model, touches: &[&Touch], deal: &ClosedDeal) -> Vec<f64> {
    let n = touches.len();
    let mut w = vec![0.0; n];
    match model {
        Model::Categorical => {}
        Model::FirstTouch => w[0] = 1.0,
        Model::LastTouch => w[n - 1] = 1.0,
        Model::Linear => w.fill(1.0),
        Model::TimeDecay { half_life_days } => {
            let half_life_ms = f64::from(*half_life_days) * 86_400_000.0;
            for (wi, t) in w.iter_mut().zip(touches) {
                *wi = (-((deal.closed_at - t.at) as f64) / half_life_ms).exp2();
            }
        }
        Model::UShaped => match n {
            1 => w[0] = 1.0,
            2 => w.fill(0.5),
            _ => {
                w.fill(0.2 / (n - 2) as f64);
                w[0] = 0.4;
                w[n - 1] = 0.4;
            }
        },
        Model::WShaped => {
            if n <= 3 {
                w.fill(1.0);
            } else {
                w.fill(0.1 / (n - 3) as f64);
                // The middle anchor: the touch between the first and last nearest the creation.
                let middle = (1..n - 1)
                    .min_by_key(|&i| (touches[i].at - deal.created_at).unsigned_abs())
                    .expect("n > 3 has touches between");
                for anchor in [0, middle, n - 1] {
                    w[anchor] = 0.3;
                }
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn touch(partner: &str, kind: TouchKind, day: i64) -> Touch {
        Touch { partner: partner.into(), kind, at: day * DAY, actor: "kim".into() }
    }

    fn deal(amount: &str) -> ClosedDeal {
        let eur = Currency::new("EUR").unwrap();
        ClosedDeal {
            amount: Money::parse(amount, eur).unwrap(),
            created_at: 10 * DAY,
            closed_at: 100 * DAY,
            reporting: Some((Currency::new("USD").unwrap(), Rate::parse("1.1").unwrap())),
        }
    }

    fn shares(model: Model, touches: &[Touch]) -> Vec<(String, i64)> {
        let a = attribute(&model, touches, &deal("1000.00")).unwrap();
        a.credits.into_iter().map(|c| (c.partner, c.amount.minor)).collect()
    }

    fn history() -> Vec<Touch> {
        vec![
            touch("Acme", TouchKind::Influenced, 1),
            touch("Globex", TouchKind::Sourced, 5),
            touch("Initech", TouchKind::CoSelling, 11),
            touch("Acme", TouchKind::CoSelling, 50),
            touch("Globex", TouchKind::Influenced, 90),
            touch("Umbrella", TouchKind::Sourced, 120), // after the close: ignored
        ]
    }

    #[test]
    fn categorical_credits_the_first_source_and_everyone_else_as_influence() {
        let a = attribute(&Model::Categorical, &history(), &deal("1000.00")).unwrap();
        let got: Vec<(&str, Option<Category>, i64)> =
            a.credits.iter().map(|c| (c.partner.as_str(), c.category, c.amount.minor)).collect();
        assert_eq!(
            got,
            [
                ("Acme", Some(Category::Influenced), 100_000),
                ("Globex", Some(Category::Sourced), 100_000),
                ("Initech", Some(Category::Influenced), 100_000),
            ]
        );
        assert_eq!(a.credits[0].reported.unwrap().to_string(), "1100.00 USD", "the close date's rate");
        let none = attribute(&Model::Categorical, &[], &deal("1000.00")).unwrap();
        assert!(none.unattributed && none.credits.is_empty());
    }

    #[test]
    fn positional_models_weigh_first_last_and_middle() {
        let h = history();
        assert_eq!(shares(Model::FirstTouch, &h), [("Acme".to_owned(), 100_000)]);
        assert_eq!(shares(Model::LastTouch, &h), [("Globex".to_owned(), 100_000)]);
        // Five touches before the close: 20 % each; Acme and Globex have two.
        assert_eq!(
            shares(Model::Linear, &h),
            [("Acme".to_owned(), 40_000), ("Globex".to_owned(), 40_000), ("Initech".to_owned(), 20_000)]
        );
        // U: Acme first 40 % + a middle 20/3 %; Globex middle + last 40 %; Initech a middle share.
        assert_eq!(
            shares(Model::UShaped, &h),
            [("Acme".to_owned(), 46_667), ("Globex".to_owned(), 46_667), ("Initech".to_owned(), 6_666)]
        );
        // W: first (Acme), nearest the creation on day 10 (Initech, day 11) and last (Globex) get
        // 30 % each; the two others share 10 %.
        assert_eq!(
            shares(Model::WShaped, &h),
            [("Acme".to_owned(), 35_000), ("Globex".to_owned(), 35_000), ("Initech".to_owned(), 30_000)]
        );
        let two = [touch("A", TouchKind::Sourced, 1), touch("B", TouchKind::Influenced, 2)];
        assert_eq!(shares(Model::UShaped, &two), [("A".to_owned(), 50_000), ("B".to_owned(), 50_000)]);
        assert_eq!(shares(Model::WShaped, &two), [("A".to_owned(), 50_000), ("B".to_owned(), 50_000)]);
    }

    #[test]
    fn time_decay_halves_a_touch_per_half_life() {
        let t = [touch("Old", TouchKind::Influenced, 86), touch("New", TouchKind::Influenced, 100)];
        let a = attribute(&Model::TimeDecay { half_life_days: 14 }, &t, &deal("300.00")).unwrap();
        let got: Vec<(&str, i64, u32)> =
            a.credits.iter().map(|c| (c.partner.as_str(), c.amount.minor, c.share_ppm)).collect();
        assert_eq!(got, [("New", 20_000, 666_667), ("Old", 10_000, 333_333)]);
        assert!(attribute(&Model::TimeDecay { half_life_days: 0 }, &t, &deal("1.00")).is_err());
    }

    #[test]
    fn every_weighted_model_credits_the_whole_amount() {
        for model in [
            Model::FirstTouch,
            Model::LastTouch,
            Model::Linear,
            Model::TimeDecay { half_life_days: 30 },
            Model::UShaped,
            Model::WShaped,
        ] {
            let a = attribute(&model, &history(), &deal("999.99")).unwrap();
            assert_eq!(a.credits.iter().map(|c| c.amount.minor).sum::<i64>(), 99_999, "{model:?}");
            assert_eq!(a.credits.iter().map(|c| c.share_ppm).sum::<u32>(), 1_000_000, "{model:?}");
            assert_eq!(a.model, model.name());
        }
        let mut backwards = deal("1.00");
        backwards.created_at = backwards.closed_at + 1;
        assert!(attribute(&Model::Linear, &history(), &backwards).is_err());
    }

    #[test]
    fn models_are_named_as_the_api_writes_them() {
        let names: Vec<&str> = [
            Model::Categorical,
            Model::FirstTouch,
            Model::LastTouch,
            Model::Linear,
            Model::TimeDecay { half_life_days: 7 },
            Model::UShaped,
            Model::WShaped,
        ]
        .iter()
        .map(Model::name)
        .collect();
        assert_eq!(names, ["categorical", "first_touch", "last_touch", "linear", "time_decay", "u_shaped", "w_shaped"]);
        let a = attribute(&Model::WShaped, &history(), &deal("1.00")).unwrap();
        assert_eq!(a.model, "w_shaped");
    }

    #[test]
    fn a_deal_may_close_the_moment_it_was_created() {
        let mut instant = deal("10.00");
        instant.created_at = instant.closed_at;
        let a = attribute(&Model::Linear, &history(), &instant).unwrap();
        assert_eq!(a.credits.iter().map(|c| c.amount.minor).sum::<i64>(), 1_000);
    }

    #[test]
    fn w_shaped_shares_ten_percent_among_the_touches_off_the_anchors() {
        // Six touches: anchors first (A), nearest the creation on day 10 (C, day 10) and last (F)
        // get 30 % each; B, D and E share 10 %, a third each.
        let t: Vec<Touch> = ["A", "B", "C", "D", "E", "F"]
            .iter()
            .zip([1, 5, 10, 40, 60, 90])
            .map(|(p, day)| touch(p, TouchKind::Influenced, day))
            .collect();
        let got = shares(Model::WShaped, &t);
        let expect: Vec<(String, i64)> =
            [("A", 30_000), ("B", 3_334), ("C", 30_000), ("D", 3_333), ("E", 3_333), ("F", 30_000)]
                .iter()
                .map(|(p, m)| ((*p).to_owned(), *m))
                .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn one_touch_takes_the_whole_deal_under_every_model() {
        let one = [touch("Solo", TouchKind::Influenced, 50)];
        for model in [Model::UShaped, Model::WShaped, Model::Linear, Model::TimeDecay { half_life_days: 1 }] {
            assert_eq!(shares(model, &one), [("Solo".to_owned(), 100_000)], "{model:?}");
        }
    }

    #[test]
    fn the_w_shaped_middle_anchor_is_never_the_last_touch() {
        // Created the day before the close: the last touch is nearest the creation, but it is an
        // anchor already; the middle one is the nearest of those between (D, day 4).
        let t: Vec<Touch> = ["A", "B", "C", "D", "E"]
            .iter()
            .zip([1, 2, 3, 4, 95])
            .map(|(p, day)| touch(p, TouchKind::Influenced, day))
            .collect();
        let mut late = deal("1000.00");
        late.created_at = 99 * DAY;
        let a = attribute(&Model::WShaped, &t, &late).unwrap();
        let got: Vec<(&str, i64)> = a.credits.iter().map(|c| (c.partner.as_str(), c.amount.minor)).collect();
        assert_eq!(got, [("A", 30_000), ("B", 5_000), ("C", 5_000), ("D", 30_000), ("E", 30_000)]);
    }
}
