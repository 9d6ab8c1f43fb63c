//! Partner attribution as each organisation keeps it: the touches partners made on its
//! opportunities (recorded through the API or an inbound webhook, a redelivery recorded once),
//! the model it scores closes with, and the ledger of record — one entry per opportunity closed
//! won, written once with its entries and its `attribution.recorded` event in one transaction,
//! never changed afterwards. The ledger keeps the deal and the touches it was scored from, so
//! that the same history can be re-scored under another model without touching the record.

use blindmap_cosell::attribution::{Attribution, Category, ClosedDeal, Model, Touch, TouchKind};
use blindmap_cosell::money::{Currency, Money, Rate};
use sqlx::Row;
use zeroize::Zeroizing;

use crate::ids::{OrgId, SourceId, TouchId, now_ms};
use crate::sealed::INBOUND_SECRETS;
use crate::{Store, StoreError};

/// Where a touch recorded through the API comes from (inbound touches name their source's id).
const API_SOURCE: &str = "api";

/// A recorded touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTouch {
    /// Its id.
    pub id: TouchId,
    /// The opportunity it was on.
    pub opportunity: String,
    /// The touch.
    pub touch: Touch,
    /// The opportunity's amount as of this touch, if the touch gave one.
    pub amount: Option<Money>,
    /// `api`, or the inbound source (`src_…`) it came through.
    pub source: String,
    /// Unix milliseconds.
    pub recorded_at: i64,
}

/// A touch to record: the opportunity it is on, the touch, and the opportunity's amount as of
/// it, if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTouch {
    /// The opportunity.
    pub opportunity: String,
    /// The touch.
    pub touch: Touch,
    /// The opportunity's amount as of this touch.
    pub amount: Option<Money>,
}

/// What the pipeline summary reads of one partner on one opportunity touched in a period: the
/// partner's touches on it before the period's end, the opportunity's amount as of then and
/// whether (and when) it closed won.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineTouches {
    /// The opportunity.
    pub opportunity: String,
    /// The partner.
    pub partner: String,
    /// The partner's latest touch on it before the period's end, Unix milliseconds.
    pub latest_at: i64,
    /// Whether any of those touches is `sourced` or `referral`.
    pub sources: bool,
    /// The amount on the opportunity's latest touch (before the period's end) that gives one.
    pub amount: Option<Money>,
    /// When it closed won, if it did.
    pub closed_at: Option<i64>,
}

/// An opportunity closed won, as the ledger of record keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedOpportunity {
    /// The opportunity.
    pub opportunity: String,
    /// The deal: amount, dates, reporting currency and rate of the close date.
    pub deal: ClosedDeal,
    /// The touches it was scored from: those recorded by the close, up to the close date.
    pub touches: Vec<Touch>,
    /// The model it was scored under.
    pub model: Model,
    /// The score.
    pub result: Attribution,
    /// Who closed it.
    pub closed_by: String,
    /// Unix milliseconds.
    pub recorded_at: i64,
}

/// One entry of the ledger: a partner's credit for a deal, or the deal unattributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The opportunity.
    pub opportunity: String,
    /// Its place among the deal's entries.
    pub seq: u32,
    /// The partner credited; `None` for a deal no partner touched.
    pub partner: Option<String>,
    /// The model's name.
    pub model: String,
    /// The share, parts per million (categorical and unattributed: the whole).
    pub share_ppm: u32,
    /// The credited amount in the deal's currency.
    pub amount: Money,
    /// The same in the reporting currency, at the close date's rate.
    pub reported: Option<Money>,
    /// That rate.
    pub rate: Option<Rate>,
    /// Under the categorical model: sourced or influenced.
    pub category: Option<Category>,
    /// When the deal closed, Unix milliseconds.
    pub closed_at: i64,
}

/// Where a page of the ledger ends: an entry, named by its opportunity and place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCursor {
    /// The entry's opportunity.
    pub opportunity: String,
    /// Its place.
    pub seq: u32,
}

impl LedgerCursor {
    /// The cursor as opaque text (the opportunity in hex, so that any text survives a URL).
    pub fn to_text(&self) -> String {
        format!("{}.{}", self.seq, hex::encode(&self.opportunity))
    }

    /// A cursor from its text.
    pub fn parse(text: &str) -> Option<Self> {
        let (seq, opportunity) = text.split_once('.')?;
        let opportunity = String::from_utf8(hex::decode(opportunity).ok()?).ok()?;
        Some(Self { opportunity, seq: seq.parse().ok()? })
    }
}

/// An inbound webhook source, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSource {
    /// Its id.
    pub id: SourceId,
    /// The organisation whose touches it reports.
    pub org: OrgId,
    /// A name for people.
    pub name: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

fn kind_str(kind: TouchKind) -> &'static str {
    match kind {
        TouchKind::Sourced => "sourced",
        TouchKind::Referral => "referral",
        TouchKind::Influenced => "influenced",
        TouchKind::CoSelling => "co_selling",
    }
}

fn kind_of(text: &str) -> Result<TouchKind, StoreError> {
    [TouchKind::Sourced, TouchKind::Referral, TouchKind::Influenced, TouchKind::CoSelling]
        .into_iter()
        .find(|k| kind_str(*k) == text)
        .ok_or(StoreError::Corrupt("touches.kind"))
}

/// The checks of every text the attribution tables keep: 1 to 200 characters, no surrounding
/// blanks (the API says more precisely what is wrong; this is the last line).
fn check_text(what: &'static str, text: &str) -> Result<(), StoreError> {
    let n = text.chars().count();
    if n == 0 || n > 200 || text.trim() != text { Err(StoreError::InvalidName(what)) } else { Ok(()) }
}

fn check_touch(new: &NewTouch) -> Result<(), StoreError> {
    check_text("an opportunity", &new.opportunity)?;
    check_text("a partner", &new.touch.partner)?;
    check_text("an actor", &new.touch.actor)?;
    match new.amount {
        Some(m) if m.minor < 0 || m.check().is_err() => Err(StoreError::InvalidName("an amount")),
        _ => Ok(()),
    }
}

const TOUCH_COLUMNS: &str = "id, opportunity, partner, kind, at, actor, source, recorded_at, amount_minor, currency";

fn touch_from_row(r: &sqlx::any::AnyRow) -> Result<StoredTouch, StoreError> {
    Ok(StoredTouch {
        id: TouchId(r.get(0)),
        opportunity: r.get(1),
        touch: Touch { partner: r.get(2), kind: kind_of(&r.get::<String, _>(3))?, at: r.get(4), actor: r.get(5) },
        source: r.get(6),
        recorded_at: r.get(7),
        amount: money_of(r.get(8), r.get(9), "touches.amount")?,
    })
}

/// An amount stored as two nullable columns: both or neither.
fn money_of(minor: Option<i64>, code: Option<String>, what: &'static str) -> Result<Option<Money>, StoreError> {
    match (minor, code) {
        (Some(minor), Some(code)) => {
            Ok(Some(Money { minor, currency: Currency::new(&code).map_err(|_| StoreError::Corrupt(what))? }))
        }
        (None, None) => Ok(None),
        _ => Err(StoreError::Corrupt(what)),
    }
}

/// Inserts one touch in `tx`; `false` if its delivery (`external_id`) was recorded already.
async fn insert_touch(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org: &OrgId,
    stored: &StoredTouch,
    external_id: Option<&str>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO touches (org_id, id, opportunity, seq, partner, kind, at, actor, source, external_id, recorded_at, \
         amount_minor, currency) \
         VALUES ($1, $2, $3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM touches WHERE org_id = $1 AND opportunity = $3), \
         $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
    )
    .bind(org.as_str())
    .bind(stored.id.as_str())
    .bind(stored.opportunity.as_str())
    .bind(stored.touch.partner.as_str())
    .bind(kind_str(stored.touch.kind))
    .bind(stored.touch.at)
    .bind(stored.touch.actor.as_str())
    .bind(stored.source.as_str())
    .bind(external_id)
    .bind(stored.recorded_at)
    .bind(stored.amount.map(|m| m.minor))
    .bind(stored.amount.map(|m| m.currency.to_string()))
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A stored JSON value that does not parse.
fn corrupt(what: &'static str) -> impl Fn(serde_json::Error) -> StoreError {
    move |_| StoreError::Corrupt(what)
}

/// The ledger entries of a close: one per credit, or one without a partner when none touched it.
fn entries(close: &ClosedOpportunity) -> Result<Vec<LedgerEntry>, StoreError> {
    let entry = |seq: usize, partner: Option<String>, share_ppm, amount, reported, category| LedgerEntry {
        opportunity: close.opportunity.clone(),
        seq: u32::try_from(seq).unwrap_or(u32::MAX),
        partner,
        model: close.result.model.clone(),
        share_ppm,
        amount,
        reported,
        rate: close.result.rate,
        category,
        closed_at: close.deal.closed_at,
    };
    if close.result.credits.is_empty() {
        // Scoring converted the whole already (it refuses deals it cannot convert).
        let reported = close
            .deal
            .reporting
            .map(|(currency, rate)| close.deal.amount.convert(&rate, currency))
            .transpose()
            .map_err(|_| StoreError::Corrupt("ledger close (its amount does not convert)"))?;
        return Ok(vec![entry(0, None, 1_000_000, close.deal.amount, reported, None)]);
    }
    Ok(close
        .result
        .credits
        .iter()
        .enumerate()
        .map(|(seq, c)| entry(seq, Some(c.partner.clone()), c.share_ppm, c.amount, c.reported, c.category))
        .collect())
}

fn category_str(entry: &LedgerEntry) -> Option<&'static str> {
    match (&entry.partner, entry.category) {
        (None, _) => Some("unattributed"),
        (Some(_), Some(Category::Sourced)) => Some("sourced"),
        (Some(_), Some(Category::Influenced)) => Some("influenced"),
        (Some(_), None) => None,
    }
}

const ENTRY_COLUMNS: &str = "opportunity, seq, partner, model, share_ppm, amount_minor, currency, reported_minor, \
                             reporting_currency, rate, category, closed_at";

fn entry_from_row(r: &sqlx::any::AnyRow) -> Result<LedgerEntry, StoreError> {
    let bad = || StoreError::Corrupt("ledger_entries");
    let currency = |text: String| Currency::new(&text).map_err(|_| bad());
    let amount = Money { minor: r.get(5), currency: currency(r.get(6))? };
    let reported = match (r.get::<Option<i64>, _>(7), r.get::<Option<String>, _>(8)) {
        (Some(minor), Some(code)) => Some(Money { minor, currency: currency(code)? }),
        (None, None) => None,
        _ => return Err(bad()),
    };
    let rate = r.get::<Option<String>, _>(9).map(|t| Rate::parse(&t).map_err(|_| bad())).transpose()?;
    let category = match r.get::<Option<String>, _>(10).as_deref() {
        Some("sourced") => Some(Category::Sourced),
        Some("influenced") => Some(Category::Influenced),
        Some("unattributed") | None => None,
        Some(_) => return Err(bad()),
    };
    Ok(LedgerEntry {
        opportunity: r.get(0),
        seq: u32::try_from(r.get::<i64, _>(1)).map_err(|_| bad())?,
        partner: r.get(2),
        model: r.get(3),
        share_ppm: u32::try_from(r.get::<i64, _>(4)).map_err(|_| bad())?,
        amount,
        reported,
        rate,
        category,
        closed_at: r.get(11),
    })
}

impl Store {
    /// Records a touch of `org` made through the API.
    pub async fn record_touch(&self, org: &OrgId, new: &NewTouch) -> Result<StoredTouch, StoreError> {
        check_touch(new)?;
        let stored = StoredTouch {
            id: TouchId::generate(),
            opportunity: new.opportunity.clone(),
            touch: new.touch.clone(),
            amount: new.amount,
            source: API_SOURCE.to_owned(),
            recorded_at: now_ms(),
        };
        let mut tx = self.begin_write().await?;
        insert_touch(&mut tx, org, &stored, None).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Records the touches of one inbound delivery (`delivery`: its webhook-id) from `source`,
    /// all or none. `None` if that delivery was recorded before: a redelivery records nothing.
    pub async fn record_inbound_touches(
        &self,
        source: &InboundSource,
        delivery: &str,
        touches: &[NewTouch],
    ) -> Result<Option<Vec<StoredTouch>>, StoreError> {
        for new in touches {
            check_touch(new)?;
        }
        let mut tx = self.begin_write().await?;
        let now = now_ms();
        let mut recorded = Vec::with_capacity(touches.len());
        for (i, new) in touches.iter().enumerate() {
            let stored = StoredTouch {
                id: TouchId::generate(),
                opportunity: new.opportunity.clone(),
                touch: new.touch.clone(),
                amount: new.amount,
                source: source.id.to_string(),
                recorded_at: now,
            };
            // The delivery's id and the touch's place in it: unique per delivery, the same on
            // every redelivery of it.
            if !insert_touch(&mut tx, &source.org, &stored, Some(&format!("{delivery}#{i}"))).await? {
                // A delivery is recorded whole or not at all, so if one of its touches is there,
                // all are: dropping the transaction undoes this call's inserts.
                return Ok(None);
            }
            recorded.push(stored);
        }
        tx.commit().await?;
        Ok(Some(recorded))
    }

    /// A page of `org`'s touches, in the order they happened (an opportunity's touches at the
    /// same time: as recorded), optionally of one opportunity and of one partner: at most
    /// `limit`, after `after`.
    pub async fn touches_page(
        &self,
        org: &OrgId,
        opportunity: Option<&str>,
        partner: Option<&str>,
        after: Option<&TouchId>,
        limit: u32,
    ) -> Result<Vec<StoredTouch>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOUCH_COLUMNS} FROM touches t WHERE t.org_id = $1 AND ($2 = '' OR t.opportunity = $2) \
             AND ($3 = '' OR EXISTS (SELECT 1 FROM touches c WHERE c.org_id = $1 AND c.id = $3 AND (t.at > c.at \
             OR (t.at = c.at AND (t.seq > c.seq OR (t.seq = c.seq AND t.id > c.id)))))) \
             AND ($5 = '' OR t.partner = $5) ORDER BY t.at, t.seq, t.id LIMIT $4"
        )))
        .bind(org.as_str())
        .bind(opportunity.unwrap_or(""))
        .bind(after.map_or("", TouchId::as_str))
        .bind(i64::from(limit))
        .bind(partner.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(touch_from_row).collect()
    }

    /// Every touch on one opportunity of `org`, in the order they happened (ties: as recorded).
    pub async fn opportunity_touches(&self, org: &OrgId, opportunity: &str) -> Result<Vec<Touch>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOUCH_COLUMNS} FROM touches WHERE org_id = $1 AND opportunity = $2 ORDER BY at, seq"
        )))
        .bind(org.as_str())
        .bind(opportunity)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| touch_from_row(r).map(|s| s.touch)).collect()
    }

    /// The model `org` scores closes with, if one was set.
    pub async fn attribution_model(&self, org: &OrgId) -> Result<Option<Model>, StoreError> {
        let row = sqlx::query("SELECT model FROM attribution_settings WHERE org_id = $1")
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| serde_json::from_str(&r.get::<String, _>(0)).map_err(corrupt("attribution_settings.model")))
            .transpose()
    }

    /// Sets the model `org` scores later closes with (the ledger of record stays as it is).
    pub async fn set_attribution_model(&self, org: &OrgId, model: &Model) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO attribution_settings (org_id, model, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id) DO UPDATE SET model = $2, updated_at = $3",
        )
        .bind(org.as_str())
        .bind(serde_json::to_string(model).expect("a model serialises"))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Writes a close to the ledger of record — the close, its entries and its event — in one
    /// transaction. An opportunity closes once: a second close is a conflict and writes nothing.
    pub async fn record_close(
        &self,
        org: &OrgId,
        close: &ClosedOpportunity,
        event: (&str, &serde_json::Value),
    ) -> Result<(), StoreError> {
        check_text("an opportunity", &close.opportunity)?;
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO attributions (org_id, opportunity, deal, touches, model, result, closed_at, closed_by, \
             recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (org_id, opportunity) DO NOTHING",
        )
        .bind(org.as_str())
        .bind(close.opportunity.as_str())
        .bind(serde_json::to_string(&close.deal).expect("a deal serialises"))
        .bind(serde_json::to_string(&close.touches).expect("touches serialise"))
        .bind(serde_json::to_string(&close.model).expect("a model serialises"))
        .bind(serde_json::to_string(&close.result).expect("a score serialises"))
        .bind(close.deal.closed_at)
        .bind(close.closed_by.as_str())
        .bind(close.recorded_at)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            return Err(StoreError::Conflict("a ledger entry for that opportunity"));
        }
        for e in entries(close)? {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO ledger_entries (org_id, {ENTRY_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            )))
            .bind(org.as_str())
            .bind(e.opportunity.as_str())
            .bind(i64::from(e.seq))
            .bind(e.partner.as_deref())
            .bind(e.model.as_str())
            .bind(i64::from(e.share_ppm))
            .bind(e.amount.minor)
            .bind(e.amount.currency.as_str())
            .bind(e.reported.map(|m| m.minor))
            .bind(e.reported.map(|m| m.currency.to_string()))
            .bind(e.rate.map(|r| r.to_string()))
            .bind(category_str(&e))
            .bind(e.closed_at)
            .execute(&mut *tx)
            .await?;
        }
        crate::events::append_event(&mut tx, org, event.0, event.1).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The ledger of record for one opportunity of `org`.
    pub async fn closed_opportunity(&self, org: &OrgId, opportunity: &str) -> Result<ClosedOpportunity, StoreError> {
        let row = sqlx::query(
            "SELECT deal, touches, model, result, closed_by, recorded_at FROM attributions \
             WHERE org_id = $1 AND opportunity = $2",
        )
        .bind(org.as_str())
        .bind(opportunity)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("closed opportunity"))?;
        Ok(ClosedOpportunity {
            opportunity: opportunity.to_owned(),
            deal: serde_json::from_str(&row.get::<String, _>(0)).map_err(corrupt("attributions.deal"))?,
            touches: serde_json::from_str(&row.get::<String, _>(1)).map_err(corrupt("attributions.touches"))?,
            model: serde_json::from_str(&row.get::<String, _>(2)).map_err(corrupt("attributions.model"))?,
            result: serde_json::from_str(&row.get::<String, _>(3)).map_err(corrupt("attributions.result"))?,
            closed_by: row.get(4),
            recorded_at: row.get(5),
        })
    }

    /// A page of `org`'s ledger, latest close first (a deal's entries in order), optionally of
    /// one partner: at most `limit` entries, after the entry `after`.
    pub async fn ledger_page(
        &self,
        org: &OrgId,
        partner: Option<&str>,
        after: Option<&LedgerCursor>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger_entries e WHERE e.org_id = $1 AND ($2 = '' OR e.partner = $2) \
             AND ($3 = '' OR EXISTS (SELECT 1 FROM ledger_entries c WHERE c.org_id = $1 AND c.opportunity = $3 \
             AND c.seq = $4 AND (e.closed_at < c.closed_at OR (e.closed_at = c.closed_at AND (e.opportunity > \
             c.opportunity OR (e.opportunity = c.opportunity AND e.seq > c.seq)))))) \
             ORDER BY e.closed_at DESC, e.opportunity, e.seq LIMIT $5"
        )))
        .bind(org.as_str())
        .bind(partner.unwrap_or(""))
        .bind(after.map_or("", |c| c.opportunity.as_str()))
        .bind(after.map_or(0, |c| i64::from(c.seq)))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// What the pipeline summary of `org` over [`from`, `to`) reads (Unix milliseconds): for each
    /// opportunity touched in the period, each partner's touches on it before `to` — the
    /// latest, whether any sources it — with the opportunity's latest amount before `to` and its
    /// close, if it closed won. Two queries over the touches' time and opportunity indexes.
    pub async fn pipeline_touches(&self, org: &OrgId, from: i64, to: i64) -> Result<Vec<PipelineTouches>, StoreError> {
        const IN_PERIOD: &str = "SELECT p.opportunity FROM touches p WHERE p.org_id = $1 AND p.at >= $2 AND p.at < $3";
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT t.opportunity, t.partner, MAX(t.at), \
             CAST(MAX(CASE WHEN t.kind IN ('sourced', 'referral') THEN 1 ELSE 0 END) AS BIGINT), a.closed_at \
             FROM touches t LEFT JOIN attributions a ON a.org_id = t.org_id AND a.opportunity = t.opportunity \
             WHERE t.org_id = $1 AND t.at < $3 AND t.opportunity IN ({IN_PERIOD}) \
             GROUP BY t.opportunity, t.partner, a.closed_at ORDER BY t.opportunity, t.partner"
        )))
        .bind(org.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let amounts = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT t.opportunity, t.amount_minor, t.currency FROM touches t \
             WHERE t.org_id = $1 AND t.at < $3 AND t.amount_minor IS NOT NULL AND t.opportunity IN ({IN_PERIOD}) \
             AND NOT EXISTS (SELECT 1 FROM touches n WHERE n.org_id = $1 AND n.opportunity = t.opportunity \
             AND n.amount_minor IS NOT NULL AND n.at < $3 AND (n.at > t.at OR (n.at = t.at AND n.seq > t.seq)))"
        )))
        .bind(org.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut latest = std::collections::HashMap::with_capacity(amounts.len());
        for r in &amounts {
            latest.insert(r.get::<String, _>(0), money_of(r.get(1), r.get(2), "touches.amount")?);
        }
        Ok(rows
            .iter()
            .map(|r| {
                let opportunity: String = r.get(0);
                PipelineTouches {
                    amount: latest.get(&opportunity).copied().flatten(),
                    partner: r.get(1),
                    latest_at: r.get(2),
                    sources: r.get::<i64, _>(3) != 0,
                    closed_at: r.get(4),
                    opportunity,
                }
            })
            .collect())
    }

    /// The ledger entries of `org` that credit a partner for deals closed won in [`from`, `to`)
    /// (Unix milliseconds), in the order they closed.
    pub async fn ledger_in_period(&self, org: &OrgId, from: i64, to: i64) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE org_id = $1 AND closed_at >= $2 AND closed_at < $3 \
             AND partner IS NOT NULL ORDER BY closed_at, opportunity, seq"
        )))
        .bind(org.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Adds an inbound webhook source to `org`, keeping its secret (`whsec_…`, sealed) to verify
    /// with.
    pub async fn create_inbound_source(
        &self,
        org: &OrgId,
        name: &str,
        secret: &str,
    ) -> Result<InboundSource, StoreError> {
        check_text("a source name", name)?;
        let source =
            InboundSource { id: SourceId::generate(), org: org.clone(), name: name.to_owned(), created_at: now_ms() };
        let sealed = self.keyring()?.seal(&INBOUND_SECRETS, source.id.as_str(), secret);
        let inserted = sqlx::query(
            "INSERT INTO inbound_sources (id, org_id, name, secret, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(source.id.as_str())
        .bind(org.as_str())
        .bind(name)
        .bind(sealed)
        .bind(source.created_at)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() != 1 {
            return Err(StoreError::Conflict("an inbound source of that name"));
        }
        Ok(source)
    }

    /// `org`'s inbound sources, oldest first (never their secrets).
    pub async fn inbound_sources(&self, org: &OrgId) -> Result<Vec<InboundSource>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, org_id, name, created_at FROM inbound_sources WHERE org_id = $1 ORDER BY created_at, id",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| InboundSource {
                id: SourceId(r.get(0)),
                org: OrgId(r.get(1)),
                name: r.get(2),
                created_at: r.get(3),
            })
            .collect())
    }

    /// An inbound source by its id alone (the receiver knows no organisation until it has it),
    /// with its secret to verify a delivery with.
    pub async fn inbound_source(&self, id: &SourceId) -> Result<(InboundSource, Zeroizing<String>), StoreError> {
        let row = sqlx::query("SELECT id, org_id, name, created_at, secret FROM inbound_sources WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("inbound source"))?;
        let source = InboundSource {
            id: SourceId(row.get(0)),
            org: OrgId(row.get(1)),
            name: row.get(2),
            created_at: row.get(3),
        };
        let sealed: Zeroizing<String> = Zeroizing::new(row.get(4));
        let secret = self.keyring()?.open(&INBOUND_SECRETS, source.id.as_str(), &sealed)?;
        Ok((source, secret))
    }
}
