//! Imported datasets: stored whole or not at all, and which one an organisation matches.

use std::collections::BTreeMap;
use std::io::BufRead;

use blindmap_psi::{Dataset, FieldName, Record, SegmentLabel};
use blindmap_records::{AccountKeys, ErrorKind, ImportError, Importer, Place, Side, Summary, match_keys};
use serde_json::json;
use sqlx::Row;

use crate::ids::{DatasetId, OrgId, now_ms};
use crate::{Store, StoreError};

/// A stored dataset, without its accounts.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    /// Its id.
    pub id: DatasetId,
    /// What the user called it (usually the file name).
    pub name: String,
    /// The preset or mapping it was read with.
    pub read_as: String,
    /// When, in Unix milliseconds.
    pub imported_at: i64,
    /// Data rows in the file.
    pub rows: u64,
    /// Accounts stored: with a key and a segment.
    pub accounts: u64,
    /// The import summary, as JSON.
    pub summary: serde_json::Value,
    /// Whether it is the one the organisation's runs match.
    pub active: bool,
}

impl DatasetInfo {
    /// Its segments with their numbers of accounts, by label (from the import summary).
    pub fn segments(&self) -> Vec<(&str, u64)> {
        self.summary["segments"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(label, n)| (label.as_str(), n.as_u64().unwrap_or(0)))
            .collect()
    }
}

/// The columns [`info_from_row`] reads, of `datasets d`.
const INFO_COLUMNS: &str = "d.id, d.name, d.read_as, d.imported_at, d.rows_read, d.accounts, d.summary, \
     CASE WHEN d.id = (SELECT o.active_dataset FROM organisations o WHERE o.id = d.org_id) THEN 1 ELSE 0 END";

fn info_from_row(r: &sqlx::any::AnyRow) -> Result<DatasetInfo, StoreError> {
    let summary: String = r.get(6);
    Ok(DatasetInfo {
        id: DatasetId(r.get(0)),
        name: r.get(1),
        read_as: r.get(2),
        imported_at: r.get(3),
        rows: u64::try_from(r.get::<i64, _>(4)).map_err(|_| StoreError::Corrupt("datasets.rows_read"))?,
        accounts: u64::try_from(r.get::<i64, _>(5)).map_err(|_| StoreError::Corrupt("datasets.accounts"))?,
        summary: serde_json::from_str(&summary).map_err(|_| StoreError::Corrupt("datasets.summary"))?,
        active: r.get::<i64, _>(7) == 1,
    })
}

/// The import summary as stored: what the importer counted, the file's header and which column
/// each role read.
fn summary_json(s: &Summary, header: &[String], columns: &[(String, String)]) -> serde_json::Value {
    let lines = |l: &blindmap_records::Lines| json!({ "count": l.count, "lines": l.first });
    json!({
        "rows": s.rows,
        "blank_lines": s.blank_lines,
        "accounts": s.accounts,
        "keys": {
            "domain": s.keys[0], "duns": s.keys[1], "name_country": s.keys[2],
            "postal_code": s.keys[3], "phone": s.keys[4],
        },
        "rows_without_keys": lines(&s.without_keys),
        "unsegmented_rows": lines(&s.unsegmented),
        "segments": s.segments.iter().map(|(l, n)| (l.to_string(), *n)).collect::<BTreeMap<_, _>>(),
        "values_not_used_as_keys": s.dropped.iter().map(|(r, n)| (r.code(), *n)).collect::<BTreeMap<_, _>>(),
        "truncated_fields": s.truncated_fields,
        "header": header,
        "columns": columns.iter().map(|(role, column)| json!({ "role": role, "column": column })).collect::<Vec<_>>(),
    })
}

/// How long one transaction of an import writes before it commits and lets other writers in.
const CHUNK_TIME: std::time::Duration = std::time::Duration::from_millis(500);

/// How long an import on SQLite pauses between chunks, so that a waiting writer gets its turn.
const SQLITE_WRITER_WINDOW: std::time::Duration = std::time::Duration::from_millis(110);

/// An account as an import stored it: its canonical keys, segment and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccount {
    /// Its id in the export.
    pub id: String,
    /// Its line in the file.
    pub line: u64,
    /// Its segment.
    pub segment: String,
    /// Canonical domains.
    pub domains: Vec<String>,
    /// D-U-N-S numbers.
    pub duns: Vec<String>,
    /// The company name as written in the export.
    pub name: Option<String>,
    /// The country, canonical.
    pub country: Option<String>,
    /// The city, canonical.
    pub city: Option<String>,
    /// The postal code, canonical.
    pub postal_code: Option<String>,
    /// The phone number (E.164).
    pub phone: Option<String>,
    /// Its fields by name.
    pub fields: BTreeMap<String, String>,
}

/// Columns of a `dataset_accounts` row.
const ACCOUNT_COLUMNS: usize = 14;

/// One account as stored.
struct AccountRow {
    id: String,
    line: u64,
    segment: String,
    domains: String,
    duns: String,
    name: Option<String>,
    country: Option<String>,
    city: Option<String>,
    postal_code: Option<String>,
    phone: Option<String>,
    fields: String,
    display_name: Option<String>,
    /// The name and id folded for the reports' search (see `search.rs`).
    search_text: String,
}

/// An imported account as stored, or `None` if it takes no part in a match (no key, or no
/// segment): such rows are counted in the summary and not kept.
fn account_row(account: blindmap_records::Account) -> Option<AccountRow> {
    let segment = account.segment.as_ref().filter(|_| !account.keys.is_empty())?.to_string();
    let (name, country) = match &account.keys.name_country {
        Some((n, c)) => (Some(n.clone()), Some((*c).to_owned())),
        None => (None, None),
    };
    let fields: BTreeMap<&str, &str> = account.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Some(AccountRow {
        line: account.line,
        segment,
        domains: json!(account.keys.domains).to_string(),
        duns: json!(account.keys.duns).to_string(),
        name,
        country,
        city: account.keys.city.clone(),
        postal_code: account.keys.postal_code.clone(),
        phone: account.keys.phone.clone(),
        fields: json!(fields).to_string(),
        search_text: crate::search::account_text(account.name.as_deref(), &account.id),
        display_name: account.name,
        id: account.id,
    })
}

/// A dataset's totals, as a summary states them.
struct Totals {
    accounts: u64,
    keys: serde_json::Value,
    segments: serde_json::Value,
}

/// How a change names an account: its name, its owner and the owner's e-mail address ('' for
/// what the dataset lacks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountLabel {
    /// The account's name.
    pub name: String,
    /// Its owner.
    pub owner: String,
    /// Its owner's e-mail address.
    pub owner_email: String,
}

/// Deletes the accounts of `ids` from a dataset; how many there were.
async fn delete_accounts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    dataset: &DatasetId,
    ids: &[String],
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM dataset_accounts WHERE dataset_id = $1 AND account_id IN ({})",
        placeholders.join(", ")
    )))
    .bind(dataset.as_str());
    for id in ids {
        query = query.bind(id.as_str());
    }
    Ok(query.execute(&mut **tx).await?.rows_affected())
}

/// Inserts a batch of accounts; a repeated id (within the batch or with an earlier one) is an
/// import error naming both lines. Insert-or-nothing, then a look for what did not go in: a
/// failed statement would abort the whole transaction on PostgreSQL.
async fn insert_accounts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    dataset: &DatasetId,
    rows: &[AccountRow],
    (source, id_column): (&str, &str),
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let duplicate = |id: &str, line: u64, first_line: u64| {
        let place = Place { source: source.to_owned(), line: Some(line), column: Some(id_column.to_owned()) };
        StoreError::from(ImportError::new(place, ErrorKind::DuplicateId { id: id.to_owned(), first_line }))
    };
    let mut seen: std::collections::HashMap<&str, u64> = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        if let Some(&first) = seen.get(row.id.as_str()) {
            return Err(duplicate(&row.id, row.line, first));
        }
        seen.insert(&row.id, row.line);
    }
    let mut sql = String::from(
        "INSERT INTO dataset_accounts (dataset_id, account_id, line, segment, domains, duns, name, country, city, \
         postal_code, phone, fields, display_name, search_text) VALUES ",
    );
    for i in 0..rows.len() {
        let n = i * ACCOUNT_COLUMNS;
        if i > 0 {
            sql.push_str(", ");
        }
        let params: Vec<String> = (1..=ACCOUNT_COLUMNS).map(|k| format!("${}", n + k)).collect();
        sql.push_str(&format!("({})", params.join(", ")));
    }
    sql.push_str(" ON CONFLICT (dataset_id, account_id) DO NOTHING");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in rows {
        query = query
            .bind(dataset.as_str())
            .bind(row.id.as_str())
            .bind(row.line as i64)
            .bind(row.segment.as_str())
            .bind(row.domains.as_str())
            .bind(row.duns.as_str())
            .bind(row.name.as_deref())
            .bind(row.country.as_deref())
            .bind(row.city.as_deref())
            .bind(row.postal_code.as_deref())
            .bind(row.phone.as_deref())
            .bind(row.fields.as_str())
            .bind(row.display_name.as_deref())
            .bind(row.search_text.as_str());
    }
    let inserted = query.execute(&mut **tx).await?;
    if inserted.rows_affected() == rows.len() as u64 {
        return Ok(());
    }
    // Some id was stored by an earlier batch: find the first row whose stored line is not its own.
    let placeholders: Vec<String> = (0..rows.len()).map(|i| format!("${}", i + 2)).collect();
    let mut lookup = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT account_id, line FROM dataset_accounts WHERE dataset_id = $1 AND account_id IN ({})",
        placeholders.join(", ")
    )))
    .bind(dataset.as_str());
    for row in rows {
        lookup = lookup.bind(row.id.as_str());
    }
    let stored: std::collections::HashMap<String, i64> =
        lookup.fetch_all(&mut **tx).await?.iter().map(|r| (r.get(0), r.get(1))).collect();
    let row = rows
        .iter()
        .find(|r| stored.get(&r.id).is_some_and(|&line| line != r.line as i64))
        .ok_or(StoreError::Corrupt("dataset_accounts: a row neither inserted nor stored"))?;
    Err(duplicate(&row.id, row.line, stored[&row.id] as u64))
}

impl Store {
    /// Stores every account `importer` reads as a new dataset of `org`, whole or not at all: if
    /// the file turns out malformed half-way, nothing of it stays and the organisation's earlier
    /// datasets are as they were. Accounts without keys or segment are left out (and counted in
    /// the summary, as the importer reports them). The first dataset of an organisation becomes
    /// its active one; later ones wait to be chosen ([`Store::activate_dataset`]).
    ///
    /// The accounts go in chunks, each its own short transaction, while the dataset is marked
    /// `importing` (no reader sees it); the last marks it complete. Other writers — other
    /// organisations' among them — get their turn between chunks.
    pub async fn import_dataset<R: BufRead>(
        &self,
        org: &OrgId,
        name: &str,
        read_as: &str,
        importer: Importer<R>,
    ) -> Result<DatasetInfo, StoreError> {
        let id = self.begin_import(org, name, read_as).await?;
        let written = self.import_accounts(org, &id, importer).await;
        self.imported(org, &id, written).await
    }

    /// Records a new dataset of `org` as being imported (no reader sees it), after deleting
    /// imports whose process stopped: its id.
    async fn begin_import(&self, org: &OrgId, name: &str, read_as: &str) -> Result<DatasetId, StoreError> {
        self.purge_stale_imports().await?;
        let id = DatasetId::generate();
        sqlx::query(
            "INSERT INTO datasets (id, org_id, name, read_as, imported_at, rows_read, accounts, summary, state, \
             heartbeat_at) VALUES ($1, $2, $3, $4, $5, 0, 0, '{}', 'importing', $5)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(name)
        .bind(read_as)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound("organisation"),
            _ => e.into(),
        })?;
        Ok(id)
    }

    /// The dataset an import wrote, or (it failed) nothing of it: the import is deleted.
    async fn imported(
        &self,
        org: &OrgId,
        id: &DatasetId,
        written: Result<(), StoreError>,
    ) -> Result<DatasetInfo, StoreError> {
        match written {
            Ok(()) => self.dataset(org, id).await,
            Err(e) => {
                // If even this fails, the import stays invisible and the next one after a minute
                // deletes it (its heartbeat stopped).
                let _ = self.delete_import(id).await;
                Err(e)
            }
        }
    }

    /// Marks an import complete with its counts and summary, and makes it `org`'s active dataset
    /// if it has none, in `tx`, which it commits.
    async fn complete_import(
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        org: &OrgId,
        id: &DatasetId,
        (rows, accounts): (u64, u64),
        summary: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE datasets SET rows_read = $1, accounts = $2, summary = $3, state = 'complete', heartbeat_at = NULL \
             WHERE id = $4 AND state = 'importing'",
        )
        .bind(rows as i64)
        .bind(accounts as i64)
        .bind(summary.to_string())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE organisations SET active_dataset = $1 WHERE id = $2 AND active_dataset IS NULL")
            .bind(id.as_str())
            .bind(org.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes the accounts of a dataset being imported, chunk by chunk, then marks it complete
    /// (and active, if the organisation has none).
    async fn import_accounts<R: BufRead>(
        &self,
        org: &OrgId,
        id: &DatasetId,
        mut importer: Importer<R>,
    ) -> Result<(), StoreError> {
        let source = importer.source().to_owned();
        let id_column = importer.id_column().to_owned();
        let batch_rows = self.insert_batch(ACCOUNT_COLUMNS);
        let mut batch = Vec::with_capacity(batch_rows);
        let mut tx = self.begin_write().await?;
        let mut chunk_started = std::time::Instant::now();
        while let Some(account) = importer.next_account()? {
            let Some(row) = account_row(account) else { continue };
            batch.push(row);
            if batch.len() == batch_rows {
                insert_accounts(&mut tx, id, &batch, (&source, &id_column)).await?;
                batch.clear();
                if chunk_started.elapsed() >= CHUNK_TIME {
                    sqlx::query("UPDATE datasets SET heartbeat_at = $1 WHERE id = $2")
                        .bind(now_ms())
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    if self.backend == crate::Backend::Sqlite {
                        // SQLite's writers wait by polling (every 100 ms at most): leave them a
                        // window, or the next chunk takes the lock again before any looks.
                        tokio::time::sleep(SQLITE_WRITER_WINDOW).await;
                    }
                    tx = self.begin_write().await?;
                    chunk_started = std::time::Instant::now();
                }
            }
        }
        insert_accounts(&mut tx, id, &batch, (&source, &id_column)).await?;
        let summary = importer.summary();
        let json = summary_json(summary, importer.header(), &importer.columns());
        Self::complete_import(tx, org, id, (summary.rows, summary.accounts), &json).await?;
        // The log held every chunk of the import: back into the database, and truncated.
        self.checkpoint().await
    }

    /// Stores a new dataset of `org` that is `base` changed: `base`'s accounts, less those whose
    /// ids are in `removed` and those `importer` reads again, plus what `importer` reads (a
    /// changed account replaces its old row; one that no longer has a key or a segment is only
    /// taken out). Whole or not at all, as [`Store::import_dataset`]: a failure half-way leaves
    /// nothing of it and `base` as it was. Its summary is the import's of the rows read, with
    /// the dataset's totals (accounts, keys per type, segments) in place of the rows' and what
    /// changed under `changes` (the base, the rows read, the accounts removed).
    ///
    /// This is how a CRM sync that read only what changed makes its dataset version.
    pub async fn import_dataset_changes<R: BufRead>(
        &self,
        org: &OrgId,
        name: &str,
        read_as: &str,
        base: &DatasetId,
        removed: &[String],
        importer: Importer<R>,
    ) -> Result<DatasetInfo, StoreError> {
        self.dataset(org, base).await?;
        let id = self.begin_import(org, name, read_as).await?;
        let written = self.change_accounts(org, base, &id, removed, importer).await;
        self.imported(org, &id, written).await
    }

    /// Copies `base`'s accounts into `id`, applies the changes, counts the totals and marks it
    /// complete, in one transaction.
    async fn change_accounts<R: BufRead>(
        &self,
        org: &OrgId,
        base: &DatasetId,
        id: &DatasetId,
        removed: &[String],
        mut importer: Importer<R>,
    ) -> Result<(), StoreError> {
        let source = importer.source().to_owned();
        let id_column = importer.id_column().to_owned();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO dataset_accounts (dataset_id, account_id, line, segment, domains, duns, name, country, city, \
             postal_code, phone, fields, display_name, search_text) \
             SELECT $1, account_id, line, segment, domains, duns, name, country, city, postal_code, phone, fields, \
             display_name, search_text FROM dataset_accounts WHERE dataset_id = $2",
        )
        .bind(id.as_str())
        .bind(base.as_str())
        .execute(&mut *tx)
        .await?;
        // Changed rows go after the base's, in the order read.
        let last_line: i64 = sqlx::query("SELECT COALESCE(MAX(line), 0) FROM dataset_accounts WHERE dataset_id = $1")
            .bind(base.as_str())
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        let last_line = u64::try_from(last_line).map_err(|_| StoreError::Corrupt("dataset_accounts.line"))?;
        let batch_rows = self.insert_batch(ACCOUNT_COLUMNS);
        let (mut batch, mut read) = (Vec::with_capacity(batch_rows), Vec::with_capacity(batch_rows));
        loop {
            // No row read again is no change (a file with no rows is an error for an import).
            let account = match importer.next_account() {
                Err(e) if matches!(e.kind(), ErrorKind::NoRows) => None,
                other => other?,
            };
            let done = account.is_none();
            if let Some(account) = account {
                read.push(account.id.clone());
                if let Some(mut row) = account_row(account) {
                    row.line += last_line;
                    batch.push(row);
                }
            }
            if read.len() >= batch_rows || (done && !read.is_empty()) {
                delete_accounts(&mut tx, id, &read).await?;
                insert_accounts(&mut tx, id, &batch, (&source, &id_column)).await?;
                read.clear();
                batch.clear();
            }
            if done {
                break;
            }
        }
        let mut removed_count = 0u64;
        for chunk in removed.chunks(batch_rows.max(1)) {
            removed_count += delete_accounts(&mut tx, id, chunk).await?;
        }
        let totals = self.totals(&mut tx, id).await?;
        let summary = importer.summary();
        let mut json = summary_json(summary, importer.header(), &importer.columns());
        json["accounts"] = json!(totals.accounts);
        json["keys"] = totals.keys;
        json["segments"] = totals.segments;
        json["changes"] = json!({ "base": base.as_str(), "rows_read": summary.rows, "removed": removed_count });
        Self::complete_import(tx, org, id, (summary.rows, totals.accounts), &json).await?;
        self.checkpoint().await
    }

    /// A stored dataset's totals: accounts, keys per type and accounts per segment.
    async fn totals(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &DatasetId) -> Result<Totals, StoreError> {
        let length = |column: &str| match self.backend {
            crate::Backend::Sqlite => format!("COALESCE(SUM(json_array_length({column})), 0)"),
            crate::Backend::Postgres => format!("COALESCE(SUM(json_array_length({column}::json)), 0)"),
        };
        let sql = format!(
            "SELECT COUNT(*), {}, {}, COUNT(name), COUNT(postal_code), COUNT(phone) FROM dataset_accounts \
             WHERE dataset_id = $1",
            length("domains"),
            length("duns")
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str()).fetch_one(&mut **tx).await?;
        let count = |i: usize| -> Result<u64, StoreError> {
            u64::try_from(row.get::<i64, _>(i)).map_err(|_| StoreError::Corrupt("dataset_accounts"))
        };
        let keys = json!({
            "domain": count(1)?, "duns": count(2)?, "name_country": count(3)?, "postal_code": count(4)?, "phone": count(5)?,
        });
        let segments: BTreeMap<String, i64> = sqlx::query(
            "SELECT segment, COUNT(*) FROM dataset_accounts WHERE dataset_id = $1 GROUP BY segment ORDER BY segment",
        )
        .bind(id.as_str())
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        Ok(Totals { accounts: count(0)?, keys, segments: json!(segments) })
    }

    /// Deletes a dataset that is being imported (or failed to be) and its accounts.
    async fn delete_import(&self, id: &DatasetId) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM dataset_accounts WHERE dataset_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM datasets WHERE id = $1 AND state = 'importing'")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes imports whose process stopped writing them a minute ago or more.
    async fn purge_stale_imports(&self) -> Result<(), StoreError> {
        let stale = sqlx::query("SELECT id FROM datasets WHERE state = 'importing' AND heartbeat_at < $1")
            .bind(now_ms() - crate::STALE_AFTER_MS)
            .fetch_all(&self.pool)
            .await?;
        for row in stale {
            self.delete_import(&DatasetId(row.get(0))).await?;
        }
        Ok(())
    }

    /// The dataset `org`'s runs match, if it has one.
    pub async fn active_dataset(&self, org: &OrgId) -> Result<Option<DatasetInfo>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INFO_COLUMNS} FROM datasets d JOIN organisations o ON o.active_dataset = d.id \
             WHERE o.id = $1 AND d.org_id = $1 AND d.state = 'complete'"
        )))
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(info_from_row).transpose()
    }

    /// Makes dataset `id` the one `org`'s runs match from now on (runs under way keep theirs).
    pub async fn activate_dataset(&self, org: &OrgId, id: &DatasetId) -> Result<DatasetInfo, StoreError> {
        let set = sqlx::query(
            "UPDATE organisations SET active_dataset = $1 WHERE id = $2 \
             AND EXISTS (SELECT 1 FROM datasets WHERE id = $1 AND org_id = $2 AND state = 'complete')",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .execute(&self.pool)
        .await?;
        if set.rows_affected() == 0 {
            return Err(StoreError::NotFound("dataset"));
        }
        self.dataset(org, id).await
    }

    /// Deletes a dataset of `org` that is not its active one, with the runs that matched it when
    /// `with_runs` (their results, overlaps and record orders); without, a dataset that runs used
    /// is refused. The audit trail keeps what those runs revealed. What was deleted: the dataset
    /// and how many runs went with it.
    pub async fn delete_dataset(
        &self,
        org: &OrgId,
        id: &DatasetId,
        with_runs: bool,
    ) -> Result<(DatasetInfo, u64), StoreError> {
        let info = self.dataset(org, id).await?;
        let mut tx = self.begin_write().await?;
        // Lock the organisation's row first: activating and deleting are serialised.
        sqlx::query("UPDATE organisations SET active_dataset = active_dataset WHERE id = $1")
            .bind(org.as_str())
            .execute(&mut *tx)
            .await?;
        let active: Option<String> = sqlx::query("SELECT active_dataset FROM organisations WHERE id = $1")
            .bind(org.as_str())
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        if active.as_deref() == Some(id.as_str()) {
            return Err(StoreError::DatasetInUse("it is the active dataset: activate another first"));
        }
        let runs: Vec<(String, String)> =
            sqlx::query("SELECT id, state FROM match_runs WHERE org_id = $1 AND dataset_id = $2")
                .bind(org.as_str())
                .bind(id.as_str())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
        if runs.iter().any(|(_, state)| state == "running") {
            return Err(StoreError::DatasetInUse("a run is matching it now"));
        }
        if !runs.is_empty() && !with_runs {
            return Err(StoreError::DatasetInUse("runs matched it: delete them with it (with_runs) or keep it"));
        }
        for (run, _) in &runs {
            for table in ["run_overlap_fields", "run_overlaps", "run_orders"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE run_id = $1")))
                    .bind(run)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM match_runs WHERE id = $1").bind(run).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM dataset_accounts WHERE dataset_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM datasets WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(org.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((info, runs.len() as u64))
    }

    /// The datasets of `org`, newest first.
    pub async fn datasets(&self, org: &OrgId) -> Result<Vec<DatasetInfo>, StoreError> {
        self.datasets_page(org, None, u32::MAX).await
    }

    /// A page of `org`'s datasets, newest first: at most `limit`, starting after `after` (the
    /// last id of the previous page).
    pub async fn datasets_page(
        &self,
        org: &OrgId,
        after: Option<&DatasetId>,
        limit: u32,
    ) -> Result<Vec<DatasetInfo>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INFO_COLUMNS} FROM datasets d WHERE d.org_id = $1 AND d.state = 'complete' \
             AND ($2 = '' OR EXISTS (SELECT 1 FROM datasets c WHERE c.id = $2 AND c.org_id = $1 \
             AND (d.imported_at < c.imported_at OR (d.imported_at = c.imported_at AND d.id < c.id)))) \
             ORDER BY d.imported_at DESC, d.id DESC LIMIT $3"
        )))
        .bind(org.as_str())
        .bind(after.map_or("", DatasetId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(info_from_row).collect()
    }

    /// One dataset of `org`.
    pub async fn dataset(&self, org: &OrgId, id: &DatasetId) -> Result<DatasetInfo, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INFO_COLUMNS} FROM datasets d WHERE d.id = $1 AND d.org_id = $2 AND d.state = 'complete'"
        )))
        .bind(id.as_str())
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await?;
        info_from_row(&row.ok_or(StoreError::NotFound("dataset"))?)
    }

    /// Up to `limit` accounts of a dataset of `org` as the import stored them, by account id (the
    /// table's key: a sample that costs the same for ten rows or a million).
    pub async fn dataset_sample(
        &self,
        org: &OrgId,
        dataset: &DatasetId,
        limit: u32,
    ) -> Result<Vec<StoredAccount>, StoreError> {
        self.dataset(org, dataset).await?;
        let rows = sqlx::query(
            "SELECT account_id, line, segment, domains, duns, display_name, country, city, postal_code, phone, fields \
             FROM dataset_accounts WHERE dataset_id = $1 ORDER BY account_id LIMIT $2",
        )
        .bind(dataset.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let list = |i: usize, what| {
                    serde_json::from_str::<Vec<String>>(&r.get::<String, _>(i)).map_err(|_| StoreError::Corrupt(what))
                };
                Ok(StoredAccount {
                    id: r.get(0),
                    line: r.get::<i64, _>(1) as u64,
                    segment: r.get(2),
                    domains: list(3, "dataset_accounts.domains")?,
                    duns: list(4, "dataset_accounts.duns")?,
                    name: r.get(5),
                    country: r.get(6),
                    city: r.get(7),
                    postal_code: r.get(8),
                    phone: r.get(9),
                    fields: serde_json::from_str(&r.get::<String, _>(10))
                        .map_err(|_| StoreError::Corrupt("dataset_accounts.fields"))?,
                })
            })
            .collect()
    }

    /// The names (as the export wrote them) of accounts of a dataset of `org`, by account id;
    /// ids without a name, or not in the dataset, are left out.
    pub async fn account_names(
        &self,
        org: &OrgId,
        dataset: &DatasetId,
        ids: &[&str],
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut names = BTreeMap::new();
        if ids.is_empty() {
            return Ok(names);
        }
        self.dataset(org, dataset).await?;
        // A few hundred at a time: well within both databases' limits on bound values.
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT account_id, display_name FROM dataset_accounts WHERE dataset_id = $1 \
                 AND display_name IS NOT NULL AND account_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(dataset.as_str());
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await? {
                names.insert(row.get::<String, _>(0), row.get::<String, _>(1));
            }
        }
        Ok(names)
    }

    /// The names, owners and owners' e-mail addresses (fields `owner`, `owner_email`) of
    /// accounts `ids` in `org`'s `dataset` ('' where it has none): how a change names its account
    /// and its owner. An id the dataset lacks is left out.
    pub async fn account_labels(
        &self,
        org: &OrgId,
        dataset: &DatasetId,
        ids: &[&str],
    ) -> Result<BTreeMap<String, AccountLabel>, StoreError> {
        let mut labels = BTreeMap::new();
        if ids.is_empty() {
            return Ok(labels);
        }
        self.dataset(org, dataset).await?;
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT account_id, COALESCE(display_name, name, ''), fields FROM dataset_accounts \
                 WHERE dataset_id = $1 AND account_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(dataset.as_str());
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await? {
                let fields: serde_json::Value = serde_json::from_str(&row.get::<String, _>(2))
                    .map_err(|_| StoreError::Corrupt("dataset_accounts"))?;
                let field = |name: &str| {
                    fields.get(name).and_then(serde_json::Value::as_str).unwrap_or_default().trim().to_owned()
                };
                let label = AccountLabel { name: row.get(1), owner: field("owner"), owner_email: field("owner_email") };
                labels.insert(row.get::<String, _>(0), label);
            }
        }
        Ok(labels)
    }

    /// A dataset of `org` as one side of a session: protocol keys made for `side` by the
    /// matching rule, in file order.
    pub async fn load_dataset(&self, org: &OrgId, dataset: &DatasetId, side: Side) -> Result<Dataset, StoreError> {
        let owned = sqlx::query("SELECT 1 FROM datasets WHERE id = $1 AND org_id = $2 AND state = 'complete'")
            .bind(dataset.as_str())
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?;
        if owned.is_none() {
            return Err(StoreError::NotFound("dataset"));
        }
        let rows = sqlx::query(
            "SELECT account_id, segment, domains, duns, name, country, city, fields, postal_code, phone \
             FROM dataset_accounts \
             WHERE dataset_id = $1 ORDER BY line",
        )
        .bind(dataset.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut records = Vec::with_capacity(rows.len());
        for r in rows {
            let segment: String = r.get(1);
            let segment = SegmentLabel::new(&segment).map_err(|_| StoreError::Corrupt("dataset_accounts.segment"))?;
            let list = |i: usize, what| {
                serde_json::from_str::<Vec<String>>(&r.get::<String, _>(i)).map_err(|_| StoreError::Corrupt(what))
            };
            let name: Option<String> = r.get(4);
            let country: Option<String> = r.get(5);
            let keys = AccountKeys {
                domains: list(2, "dataset_accounts.domains")?,
                duns: list(3, "dataset_accounts.duns")?,
                name_country: match (name, country) {
                    (Some(n), Some(c)) => {
                        Some((n, blindmap_records::normalise::country(&c).map_err(|_| StoreError::Corrupt("country"))?))
                    }
                    _ => None,
                },
                city: r.get(6),
                postal_code: r.get(8),
                phone: r.get(9),
            };
            let fields: BTreeMap<String, String> = serde_json::from_str(&r.get::<String, _>(7))
                .map_err(|_| StoreError::Corrupt("dataset_accounts.fields"))?;
            let mut record = Record::new(r.get::<String, _>(0), segment);
            record.keys = match_keys(&keys, side);
            for (k, v) in fields {
                let name = FieldName::new(&k).map_err(|_| StoreError::Corrupt("dataset_accounts.fields"))?;
                record = record.with_field(name, v);
            }
            records.push(record);
        }
        Ok(Dataset::new(records)?)
    }
}
