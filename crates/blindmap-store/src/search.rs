//! What the reports' search compares: text folded in Rust, the same way at import and for the
//! query, so that both backends find the same rows. SQLite's `LIKE` and `LOWER` fold ASCII only
//! and PostgreSQL's depend on the database's collation; a folded column compared byte for byte
//! needs neither.
//!
//! The fold is for people typing a search, not for matching (the match keys have their own, in
//! `blindmap-records`):
//! - full Unicode case folding (`CaseFolding.txt`, with the one-to-many mappings: `ß` and `ẞ` are
//!   `ss`, final `ς` is `σ`), after compatibility decomposition (`ﬁ` is `fi`, full-width `Ａ` is
//!   `a`);
//! - accents dropped, so that a rep typing `Muller` finds `Müller` and `Societe` finds `Société`
//!   (and `Müller` finds `Muller`, but not the transliteration `Mueller`). Only the combining marks
//!   of the Latin, Greek and Cyrillic diacritic blocks go, as in the match keys: the voicing marks
//!   of kana or the vowel signs of Indic scripts change the word;
//! - Latin letters that carry their stroke or ligature in the letter itself spelled as the match
//!   keys spell them (`ø` `o`, `ł` `l`, `đ` `d`, `æ` `ae`, `œ` `oe`, `þ` `th`), and Turkish dotless
//!   `ı` as `i` — `İ` folds to `i` with a dot that is dropped — so that `Istanbul`, `İstanbul`
//!   and `ıstanbul` all find each other. The fold is the same in every locale (no Turkish `I` →
//!   `ı`): the node does not know the rep's language, and finding a little more beats missing.
//!
//! Punctuation and spacing stay as typed.

use caseless::Caseless;
use sqlx::Row;
use unicode_normalization::UnicodeNormalization;

use crate::{Store, StoreError};

/// `text` folded for search (see the module's documentation).
pub(crate) fn fold(text: &str) -> String {
    if text.is_ascii() {
        // ASCII's full case folding is its lower case, and it has no marks.
        return text.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(text.len());
    // Case folding can produce what decomposes again (`İ` → `i` + U+0307), hence the second NFKD.
    for c in text.nfkd().default_case_fold().nfkd().filter(|&c| !is_diacritic(c)).nfc() {
        match c {
            'ø' => out.push('o'),
            'ł' => out.push('l'),
            'đ' | 'ð' => out.push('d'),
            'ı' => out.push('i'),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'þ' => out.push_str("th"),
            c => out.push(c),
        }
    }
    out
}

/// The combining marks of the Latin, Greek and Cyrillic diacritic blocks (as the match keys'
/// fold drops them).
fn is_diacritic(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// What an account's search column holds: its name and its id, folded, on two lines. A folded
/// query has no line break (see [`query`]), so it never matches across the two.
pub(crate) fn account_text(name: Option<&str>, id: &str) -> String {
    format!("{}\n{}", fold(name.unwrap_or("")), fold(id))
}

/// A search as typed, folded, with control characters (line breaks included) dropped.
pub(crate) fn query(text: &str) -> String {
    fold(text.trim()).chars().filter(|c| !c.is_control()).collect()
}

/// Rows filled per statement when the store fills the column for rows written before it existed.
const FILL_BATCH: i64 = 500;

impl Store {
    /// Fills the search column of accounts imported before it existed (migration 0011), a batch
    /// per transaction; several replicas opening the store at once write the same values.
    pub(crate) async fn fill_search_text(&self) -> Result<u64, StoreError> {
        let mut filled = 0;
        loop {
            let rows = sqlx::query(
                "SELECT dataset_id, account_id, display_name FROM dataset_accounts WHERE search_text IS NULL LIMIT $1",
            )
            .bind(FILL_BATCH)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                return Ok(filled);
            }
            let mut tx = self.begin_write().await?;
            for r in &rows {
                let (dataset, account): (String, String) = (r.get(0), r.get(1));
                let name: Option<String> = r.get(2);
                sqlx::query("UPDATE dataset_accounts SET search_text = $1 WHERE dataset_id = $2 AND account_id = $3")
                    .bind(account_text(name.as_deref(), &account))
                    .bind(dataset)
                    .bind(account)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            filled += rows.len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use blindmap_records::{Importer, Preset};

    use super::*;
    use crate::{OrgId, PartnershipId, ReportFilter, Run, on_both_backends};

    const ACCOUNTS: &str = "id,segment,name,country,domain\n\
        a1,customers,Müller GmbH,DE,mueller.example\n\
        a2,customers,STRASSE AG,DE,strasse.example\n\
        a3,customers,Straße Eins,DE,strasse-eins.example\n\
        a4,customers,İstanbul Ticaret,TR,istanbul.example\n\
        a5,customers,Ørsted A/S,DK,orsted.example\n\
        Ü-7,customers,Plain Inc,US,plain.example\n";

    /// A run of a dataset of [`ACCOUNTS`] in which every account overlaps.
    async fn run_of_every_account(store: &Store) -> (OrgId, Run) {
        let org = store.create_organisation("Vendor").await.unwrap().id;
        let importer = Importer::new("a.csv", Cursor::new(ACCOUNTS.as_bytes().to_vec()), &Preset::Generic.mapping());
        let dataset = store.import_dataset(&org, "a.csv", "generic", importer.unwrap()).await.unwrap();
        let p = PartnershipId::generate();
        store.create_partnership(&p, &org, "Partner", "https://p", "sha256:aa", "pt_ref").await.unwrap();
        let every: Vec<_> =
            ["a1", "a2", "a3", "a4", "a5", "Ü-7"].iter().map(|a| (*a, "customers", "customers")).collect();
        let run = crate::runs::test_runs::complete(store, &org, &dataset.id, &p, &every).await;
        (org, run)
    }

    async fn found(store: &Store, org: &OrgId, run: &Run, q: &str) -> Vec<String> {
        let filter = ReportFilter { search: Some(q.to_owned()), ..ReportFilter::default() };
        let (rows, _) = store.report_page(org, run, &filter, 0, 100).await.unwrap();
        rows.into_iter().map(|r| r.account_id).collect()
    }

    async fn search_folds_unicode_case_and_accents(store: Store) {
        let (org, run) = run_of_every_account(&store).await;
        for (q, want) in [
            // Accents go: a lone `Ü` is any `u`.
            ("Ü", &["a1", "a4", "Ü-7"][..]),
            ("ÜLLER", &["a1"]),
            ("ü", &["a1", "a4", "Ü-7"]),
            ("MÜLLER", &["a1"]),
            ("muller", &["a1"]),
            ("strasse", &["a2", "a3"]),
            ("STRAẞE", &["a2", "a3"]),
            ("ıstanbul", &["a4"]),
            ("ISTANBUL", &["a4"]),
            ("orsted a/s", &["a5"]),
            ("ü-7", &["Ü-7"]),
            ("gmbh\na2", &[]),
            ("％", &[]),
        ] {
            let mut got = found(&store, &org, &run, q).await;
            got.sort();
            assert_eq!(got, want, "searching {q:?}");
        }
    }

    async fn rows_written_before_the_column_are_filled_when_the_store_opens(store: Store) {
        let (org, run) = run_of_every_account(&store).await;
        sqlx::query("UPDATE dataset_accounts SET search_text = NULL").execute(&store.pool).await.unwrap();
        assert_eq!(found(&store, &org, &run, "plain").await, ["Ü-7"], "ASCII folding meanwhile");
        assert_eq!(store.fill_search_text().await.unwrap(), 6);
        assert_eq!(found(&store, &org, &run, "müller").await, ["a1"]);
        assert_eq!(store.fill_search_text().await.unwrap(), 0, "nothing left to fill");
    }

    on_both_backends!(
        search_folds_unicode_case_and_accents,
        rows_written_before_the_column_are_filled_when_the_store_opens
    );

    #[test]
    fn folds_case_fully_and_drops_accents() {
        for (typed, stored) in [
            ("Ü", "Müller GmbH"),
            ("ü", "MÜLLER GMBH"),
            ("Muller", "Müller"),
            ("müller", "MULLER"),
            ("STRASSE", "Straße"),
            ("straße", "STRASSE"),
            ("ẞ", "Fuß"),
            ("istanbul", "İSTANBUL"),
            ("DİYARBAKIR", "Diyarbakır"),
            ("ıstanbul", "Istanbul"),
            ("orsted", "Ørsted"),
            ("lodz", "Łódź"),
            ("societe generale", "SOCIÉTÉ GÉNÉRALE"),
            ("σίσυφος", "ΣΊΣΥΦΟΣ"),
            ("acme", "ＡＣＭＥ"),
            ("office", "Oﬃce"),
        ] {
            assert!(fold(stored).contains(&fold(typed)), "{typed:?} finds {stored:?}: {:?}", fold(stored));
        }
        assert_eq!(fold("Müller & Söhne"), "muller & sohne", "punctuation and spacing stay");
        assert!(!fold("ガス").contains(&fold("カス")), "kana keep their voicing marks");
        assert!(!fold("Mueller").contains(&fold("Müller")), "no transliteration");
    }

    #[test]
    fn a_query_never_spans_the_name_and_the_id() {
        let text = account_text(Some("Acme"), "0015");
        assert!(text.contains(&query(" ACME ")));
        assert!(!text.contains(&query("acme\n0015")), "line breaks are dropped from the query");
        assert_eq!(query("a\r\nb"), "ab");
    }
}
