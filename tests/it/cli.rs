//! End-to-end tests of the `blindmap` binary: the README's main command on the shipped samples,
//! its outputs checked against a plaintext join of the same keys, `inspect`, mappings, the
//! malformed files an import must refuse whole, and the benchmarks at smoke sizes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use blindmap_records::{Preset, Side, import_dataset};

fn blindmap(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blindmap")).args(args).current_dir(dir).output().expect("runs")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const VENDOR: &str = "samples/vendor-salesforce.csv";
const PARTNER: &str = "samples/partner-hubspot.csv";

/// `id → protocol keys` of a sample export, made by the records crate as `match-files` makes them.
fn keys_of(path: &Path, preset: Preset, side: Side) -> BTreeMap<String, BTreeSet<String>> {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let imported = import_dataset("sample", file, &preset.mapping(), side, |_| {}).unwrap();
    imported
        .dataset
        .records()
        .iter()
        .map(|r| (r.id.clone(), r.keys.iter().map(|k| format!("{}:{}", k.key_type(), k.value())).collect()))
        .collect()
}

fn read_pairs(path: &Path) -> BTreeSet<(String, String, String)> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    assert_eq!(reader.headers().unwrap(), vec!["left_id", "right_id", "key_type", "tier", "reason"]);
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let tier = &r[3];
            assert!(tier == "confirmed" || tier == "possible", "{r:?}");
            assert!(r[4].starts_with(&format!("{tier}: ")), "the reason names the tier: {r:?}");
            let by_identifier = r[2].split('+').any(|t| t == "domain" || t == "duns");
            assert!(!by_identifier || tier == "confirmed", "a domain or DUNS match is confirmed: {r:?}");
            (r[0].to_owned(), r[1].to_owned(), r[2].to_owned())
        })
        .collect()
}

#[test]
fn match_files_on_the_samples_writes_the_plaintext_join() {
    let dir = tempfile::tempdir().unwrap();
    let left = repo().join(VENDOR);
    let right = repo().join(PARTNER);
    let out = dir.path().join("pairs.csv");
    let run = blindmap(
        &[
            "match-files",
            left.to_str().unwrap(),
            right.to_str().unwrap(),
            "--left-preset",
            "salesforce",
            "--right-preset",
            "hubspot",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(stdout.contains("learned, its segments"), "{stdout}");
    assert!(stdout.contains("open_opportunities") && stdout.contains("partners"), "{stdout}");
    assert!(stdout.contains("read as salesforce") && stdout.contains("read as hubspot"), "{stdout}");
    assert!(stdout.contains("without any usable key"), "{stdout}");

    // The pairs are exactly the accounts sharing a key, with the key types that matched.
    let (lk, rk) = (keys_of(&left, Preset::Salesforce, Side::First), keys_of(&right, Preset::Hubspot, Side::Second));
    let mut expected = BTreeSet::new();
    for (l, lkeys) in &lk {
        for (r, rkeys) in &rk {
            let common: BTreeSet<&str> = lkeys.intersection(rkeys).map(|k| k.split(':').next().unwrap()).collect();
            if !common.is_empty() {
                expected.insert((l.clone(), r.clone(), common.into_iter().collect::<Vec<_>>().join("+")));
            }
        }
    }
    let got = read_pairs(&out);
    assert_eq!(got, expected);

    // Golden pairs: what the importer's normalisation is for.
    let has = |l: &str, r: &str, types: &str| got.contains(&(l.to_owned(), r.to_owned(), types.to_owned()));
    let none = |l: &str| !got.iter().any(|(x, _, _)| x == l);
    // "Northwind Traders Inc." at https://www.northwindtraders.com/about = "NORTHWIND TRADERS", northwindtraders.com
    assert!(has("0015g00000NWTRdAAF", "9001120031", "domain+name_city"), "{got:?}");
    // No website on one side: the name and country match, in one city ("UK" = "United Kingdom", Ltd = Limited).
    assert!(has("0015g00000CNTSbAAB", "9001120033", "name_city"));
    // DUNS written 30-184-7562, and the partner's second domain; München is Munich.
    assert!(has("0015g00000FBRKmAAC", "9001120034", "domain+duns+name_city"), "{got:?}");
    // Accents, & vs and, IDN vs Punycode, subdomains, K.K. vs Co., Ltd.
    assert!(has("0015g00000SGEQpAAF", "9001120037", "domain+name_city"));
    // "Barnes & Noble Freight" is a common name (every word is): without postal codes its
    // name and country make a possible match, and its city is not compared.
    assert!(has("0015g00000BNFRtAAG", "9001120038", "name_country"));
    assert!(has("0015g00000MLTEcAAH", "9001120039", "domain"));
    assert!(has("0015g00000WNGTtAAJ", "9001120041", "domain+name_city"));
    assert!(has("0015g00000KTSUsAAN", "9001120045", "name_city"));
    // The partner's company got gmail.com as its domain (HubSpot does that): the name still matches.
    assert!(has("0015g00000COHOwAAE", "9001120036", "name_city"));
    // Decoys: "Delta Inc" (a common name) with another website and no postal code to show one
    // place (veto), Alpine Ski House in another
    // country, "Proseware Analytics" vs "Proseware Analytica".
    assert!(none("0015g00000DLTAfAAD") && none("0015g00000ALPSkAAK") && none("0015g00000PRSWaAAL"), "{got:?}");
}

#[test]
fn match_files_json_reports_both_views_and_respects_levels() {
    let dir = tempfile::tempdir().unwrap();
    let run = blindmap(
        &[
            "match-files",
            repo().join(VENDOR).to_str().unwrap(),
            repo().join(PARTNER).to_str().unwrap(),
            "--left-shares",
            "fields:owner",
            "--right-shares",
            "counts",
            "--json",
        ],
        dir.path(),
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    // The left side only learns counts: no pairs, thresholded cells.
    assert_eq!(v["left"]["pairs"].as_array().unwrap().len(), 0);
    let left_cells: Vec<&str> = v["left"]["matrix"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(left_cells.contains(&"<5"), "{left_cells:?}");
    // The right side learns its overlaps and the vendor's owner for each, nothing more.
    let pairs = v["right"]["pairs"].as_array().unwrap();
    assert!(!pairs.is_empty());
    for p in pairs {
        let fields: Vec<&str> = p["right_fields"].as_array().unwrap().iter().map(|f| f[0].as_str().unwrap()).collect();
        assert_eq!(fields, ["owner"], "{p}");
    }
}

#[test]
fn errors_are_clear_and_leave_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pairs.csv");
    let vendor = repo().join(VENDOR);

    let run = blindmap(&["match-files", vendor.to_str().unwrap(), "missing.csv", "--out", "pairs.csv"], dir.path());
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stderr).contains("cannot open missing.csv"), "{}", text(&run.stderr));
    assert!(!out.exists());

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "id,segment,domain\n1,customers,a.com\n2,customers,b.com,extra\n").unwrap();
    let run = blindmap(&["match-files", vendor.to_str().unwrap(), "bad.csv", "--out", "pairs.csv"], dir.path());
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("bad.csv, line 3") && stderr.contains("quote values"), "{stderr}");
    assert!(!out.exists(), "nothing is written when an input is bad");

    let run = blindmap(
        &[
            "match-files",
            vendor.to_str().unwrap(),
            vendor.to_str().unwrap(),
            "--right-shares",
            "counts",
            "--out",
            "p.csv",
        ],
        dir.path(),
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stderr).contains("--out needs --right-shares overlaps"));

    let run = blindmap(&["match-files", "a.csv", "b.csv", "--left-shares", "everything"], dir.path());
    assert_eq!(run.status.code(), Some(2), "usage errors exit 2");
    assert!(text(&run.stderr).contains("unknown level"));
}

#[cfg(feature = "bench")]
#[test]
fn bench_psi_checks_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let run = blindmap(&["bench", "psi", "--n", "1500", "--overlap", "0.3", "--json"], dir.path());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["correct"], true);
    assert_eq!(v["overlapping_pairs"], 450);
    assert!(v["ratio"].as_f64().unwrap() > 0.0);
    assert!(v["bytes_initiator_to_responder"].as_u64().unwrap() > 1500 * 32);
}

#[test]
fn help_describes_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let run = blindmap(&["--help"], dir.path());
    let stdout = text(&run.stdout);
    assert!(stdout.contains("match-files"), "{stdout}");
    let bench = stdout.lines().any(|l| l.trim_start().starts_with("bench "));
    assert_eq!(bench, cfg!(feature = "bench"), "`bench` is there exactly with the feature: {stdout}");
    let run = blindmap(&["match-files", "--help"], dir.path());
    let stdout = text(&run.stdout);
    assert!(stdout.contains("--left-shares") && stdout.contains("fields:NAME"), "{stdout}");
}

#[test]
fn inspect_shows_keys_segments_and_why_values_are_not_keys() {
    let dir = tempfile::tempdir().unwrap();
    let partner = repo().join(PARTNER);
    let run = blindmap(&["inspect", partner.to_str().unwrap(), "--limit", "0"], dir.path());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(stdout.contains("read as hubspot"), "detected from the header: {stdout}");
    assert!(stdout.contains("name_country  coho winery | US"), "{stdout}");
    assert!(stdout.contains("\"gmail.com\" in \"Company Domain Name\": a free-mail"), "{stdout}");
    assert!(stdout.contains("domain        xn--mller-technik-wob.de"), "{stdout}");
    assert!(stdout.contains("Summary:") && stdout.contains("29 rows → 29 accounts"), "{stdout}");

    let vendor = repo().join(VENDOR);
    let run = blindmap(&["inspect", vendor.to_str().unwrap(), "--preset", "salesforce", "--json"], dir.path());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["summary"]["rows"], 37);
    assert_eq!(v["summary"]["rows_without_keys"]["count"], 1);
    assert_eq!(v["summary"]["rows_without_keys"]["lines"][0], 39, "the row after the long quoted description");
    assert_eq!(v["accounts"].as_array().unwrap().len(), 20, "--limit defaults to 20");
    assert_eq!(v["accounts"][2]["duns"][0], "301847562");
    assert_eq!(v["accounts"][0]["segment"], "customers");
}

#[test]
fn mappings_read_any_export() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("crm.csv"),
        "Key;Organisation;Web;Contact;Land;Tier\n\
         A1;Acme GmbH;https://acme.de;jane@acme-group.com;Deutschland;Gold\n\
         A2;Beta Ltd;;tom@gmail.com;UK;Silver\n\
         A3;Gamma;gamma.io;;;Gold\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("crm.toml"),
        "segments = [\"gold: Tier = Gold\", \"others: everything else\"]\n\
         [columns]\nid = \"Key\"\nname = \"Organisation\"\ndomain = \"Web\"\nemail = \"Contact\"\ncountry = \"Land\"\n\
         [fields]\ntier = \"Tier\"\n",
    )
    .unwrap();
    let run = blindmap(&["inspect", "crm.csv", "--mapping", "crm.toml", "--json"], dir.path());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let a = &v["accounts"];
    assert_eq!(a[0]["domains"], serde_json::json!(["acme.de", "acme-group.com"]));
    assert_eq!(a[0]["name_country"], "acme | DE");
    assert_eq!(a[0]["segment"], "gold");
    assert_eq!(a[1]["not_keys"][0]["reason"], "free_mail_domain");
    assert_eq!(a[1]["name_country"], "beta | GB");
    assert_eq!(a[2]["not_keys"][0]["reason"], "name_without_country");

    // The same with flags, and a rule naming a column the file lacks.
    let flags = [
        "inspect",
        "crm.csv",
        "--map",
        "id=Key",
        "--map",
        "name=Organisation",
        "--map",
        "domain=Web",
        "--map",
        "email+=Contact",
        "--map",
        "country=Land",
        "--segment",
        "gold: Tier = Gold",
        "--json",
    ];
    let run = blindmap(&flags, dir.path());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let w: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(w["accounts"][0]["domains"], a[0]["domains"]);
    assert_eq!(w["summary"]["unsegmented_rows"]["count"], 1, "only one rule: Silver is unsegmented");
    let run = blindmap(&["inspect", "crm.csv", "--mapping", "crm.toml", "--segment", "x: Region = EU"], dir.path());
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("crm.csv, line 1: no \"Region\" (read by segment rule"), "{stderr}");
}

/// Every malformed file is refused whole, with the place and the fix, and nothing is written.
#[test]
fn malformed_exports_import_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let header = "Account ID,Account Name,Type,Website,Billing Country\r\n";
    let good = format!("{header}001A,Acme Inc,Customer - Direct,acme.com,US\r\n");
    let long_line = format!("{header}001A,\"Acme{}\",Prospect,acme.com,US\r\n", "x".repeat(10 << 20));
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "bad-quote.csv",
            format!("{header}001A,\"Acme, Inc,Customer - Direct,acme.com,US\r\n001B,Beta,Prospect,beta.com,US\r\n")
                .into_bytes(),
            &["bad-quote.csv, line 2, column \"Account Name\"", "never closed"],
        ),
        (
            "stray-quote.csv",
            format!("{header}001A,Acme 12\" Pipes,Customer - Direct,acme.com,US\r\n").into_bytes(),
            &["line 2, column \"Account Name\"", "inside an unquoted value"],
        ),
        (
            "latin1.csv",
            [header.as_bytes(), b"001A,Soci\xE9t\xE9,Prospect,acme.fr,France\r\n"].concat(),
            &["latin1.csv, line 2, column \"Account Name\"", "not UTF-8", "iconv"],
        ),
        (
            "utf16.csv",
            good.encode_utf16().flat_map(u16::to_le_bytes).fold(vec![0xFF, 0xFE], |mut v, b| {
                v.push(b);
                v
            }),
            &["utf16.csv", "UTF-16", "CSV UTF-8"],
        ),
        (
            "missing-column.csv",
            b"Account ID,Type,Website\n001A,Prospect,acme.com\n".to_vec(),
            &["missing-column.csv, line 1: no company name column", "\"Account Name\""],
        ),
        ("empty.csv", Vec::new(), &["empty.csv", "empty"]),
        ("header-only.csv", header.as_bytes().to_vec(), &["header-only.csv", "no accounts"]),
        ("long-line.csv", long_line.into_bytes(), &["long-line.csv, line 2", "longer than 4 MiB"]),
        (
            "duplicate-id.csv",
            format!("{header}001A,Acme,Prospect,acme.com,US\r\n001A,Beta,Prospect,beta.com,US\r\n").into_bytes(),
            &["line 3, column \"Account ID\"", "already used on line 2"],
        ),
    ];
    std::fs::write(dir.path().join("good.csv"), &good).unwrap();
    for (name, bytes, needles) in cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let run = blindmap(
            &[
                "match-files",
                "good.csv",
                name,
                "--left-preset",
                "salesforce",
                "--right-preset",
                "salesforce",
                "--out",
                "pairs.csv",
            ],
            dir.path(),
        );
        assert_eq!(run.status.code(), Some(1), "{name}");
        let stderr = text(&run.stderr);
        for needle in needles {
            assert!(stderr.contains(needle), "{name}: {needle:?} not in {stderr}");
        }
        assert!(!dir.path().join("pairs.csv").exists(), "{name}: nothing is written");
    }
}

#[cfg(feature = "bench")]
#[test]
fn bench_quality_meets_its_targets_at_a_smoke_size() {
    let dir = tempfile::tempdir().unwrap();
    let run = blindmap(&["bench", "quality", "--n", "2000", "--json"], dir.path());
    assert!(run.status.success(), "{}{}", text(&run.stdout), text(&run.stderr));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["meets_targets"], true, "{v}");
    assert!(v["true_pairs"].as_u64().unwrap() > 400, "{v}");
    let by_type = v["by_key_type"].as_object().unwrap();
    for types in ["domain", "name_city", "domain+name_city"] {
        assert!(by_type.contains_key(types), "every key type contributes: {v}");
    }
}

/// The harsh world's same-named companies land in the possible tier, not the confirmed one. (The
/// targets are stated at n = 20,000; at this smoke size a handful of pairs moves a percentage.)
#[cfg(feature = "bench")]
#[test]
fn bench_quality_puts_the_harsh_worlds_namesakes_in_the_possible_tier() {
    let dir = tempfile::tempdir().unwrap();
    let run = blindmap(&["bench", "quality", "--world", "harsh", "--n", "2000", "--json"], dir.path());
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|_| panic!("{}", text(&run.stderr)));
    assert_eq!((v["world"].clone(), v["city_columns"].clone()), (serde_json::json!("harsh"), serde_json::json!(true)));
    let tier = |name: &str| {
        let t = &v["tiers"][name];
        let matched = t["matched"].as_u64().unwrap();
        (matched, matched - t["true_positives"].as_u64().unwrap(), t["precision"].as_f64().unwrap())
    };
    let (confirmed, confirmed_false, confirmed_precision) = tier("confirmed");
    let (possible, possible_false, _) = tier("possible");
    assert!(confirmed > 500 && confirmed_precision >= 0.98, "{v}");
    assert!(possible > 0 && possible_false > confirmed_false, "namesakes are possible matches: {v}");
    assert!(v["by_key_type"].as_object().unwrap().keys().any(|k| k.contains("name_postal")), "{v}");
}

#[cfg(feature = "bench")]
#[test]
fn bench_import_reads_every_row_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let run = blindmap(&["bench", "import", "--rows", "5000", "--json"], dir.path());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["rows"], 5000);
    assert_eq!(v["meets_target"], true, "{v}");
    assert!(v["accounts"].as_u64().unwrap() > 4800, "{v}");
}

/// A node as a user runs it: `init`, then `serve` in the background.
#[cfg(unix)]
struct Served {
    server: std::process::Child,
    url: String,
    fingerprint: String,
    token: String,
}

#[cfg(unix)]
impl Served {
    fn start(dir: &Path, data_dir: &str, organisation: &str) -> Self {
        let init =
            blindmap(&["init", "--data-dir", data_dir, "--organisation", organisation, "--listen", "127.0.0.1:0"], dir);
        assert!(init.status.success(), "{}", text(&init.stderr));
        let out = text(&init.stdout);
        let after = |label: &str| out.lines().skip_while(|l| !l.contains(label)).nth(1).unwrap().trim().to_owned();
        let token = after("Admin token");
        let fingerprint = out.lines().find_map(|l| l.trim().strip_prefix("fingerprint")).unwrap().trim().to_owned();
        // As an operator whose webhook receivers run on the node's machine configures it.
        let config = dir.join(data_dir).join("node.toml");
        let settings = std::fs::read_to_string(&config)
            .unwrap()
            .replace("webhook_allow_http = false", "webhook_allow_http = true")
            .replace("webhook_allow = []", "webhook_allow = [\"127.0.0.0/8\"]");
        assert!(settings.contains("webhook_allow = [\"127.0.0.0/8\"]"), "{settings}");
        std::fs::write(&config, settings).unwrap();
        let served = Self::serve(dir, data_dir, &token);
        assert_eq!(served.fingerprint, fingerprint);
        served
    }

    /// Serves the node already in `data_dir`, whose admin holds `token`.
    fn serve(dir: &Path, data_dir: &str, token: &str) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;

        let mut server = Command::new(env!("CARGO_BIN_EXE_blindmap"))
            .args(["serve", "--data-dir", data_dir])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
        let listening = lines.next().unwrap().unwrap();
        let url = listening.split_whitespace().nth(2).unwrap().to_owned();
        let fingerprint = listening.split("(fingerprint ").nth(1).unwrap().trim_end_matches(')').to_owned();
        Self { server, url, fingerprint, token: token.to_owned() }
    }

    /// Runs a command against this node.
    fn run(&self, args: &[&str], dir: &Path) -> Output {
        let connect = ["--node", &self.url, "--fingerprint", &self.fingerprint, "--token", &self.token];
        blindmap(&[args, &connect[..]].concat(), dir)
    }

    /// Stops the node with SIGTERM; its log.
    fn stop(mut self) -> String {
        Command::new("kill").args(["-TERM", &self.server.id().to_string()]).status().unwrap();
        let status = self.server.wait().unwrap();
        assert!(status.success(), "a graceful stop exits 0: {status}");
        let mut log = String::new();
        std::io::Read::read_to_string(&mut self.server.stderr.take().unwrap(), &mut log).unwrap();
        log
    }
}

#[cfg(unix)]
impl Drop for Served {
    /// A test that fails half-way leaves no node running (after `stop`, the child is reaped
    /// already and nothing is sent).
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Nothing in `out` could act on a terminal: no control character but the line ends, no bidi
/// override or isolate.
fn assert_inert(out: &str) {
    let bad = out
        .chars()
        .find(|&c| (c.is_control() && c != '\n') || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'));
    assert!(bad.is_none(), "{bad:?} printed raw in:\n{out}");
}

/// A partner organisation, a user, a dataset, a touch and a file whose names carry terminal
/// escape sequences, newlines and bidi overrides: every command prints them escaped, on the
/// line they belong to, and `--json` keeps them exact.
#[cfg(unix)]
#[test]
fn text_from_partners_users_and_files_is_printed_escaped() {
    const EVIL: &str = "Evil\x1b[2J\nCo\u{202e}";
    const SHOWN: &str = "Evil\\x1b[2J\\nCo\\u{202e}";
    let dir = tempfile::tempdir().unwrap();
    let vendor = Served::start(dir.path(), "vendor", "Vendor");
    let partner = Served::start(dir.path(), "partner", EVIL);
    let invite = vendor.run(&["partner", "invite"], dir.path());
    let code = text(&invite.stdout).lines().find(|l| l.starts_with("bminvite1.")).unwrap().to_owned();
    let accept = partner.run(&["partner", "accept", &code], dir.path());
    assert!(accept.status.success(), "{}", text(&accept.stderr));

    let listed = text(&vendor.run(&["partner", "list"], dir.path()).stdout);
    assert_inert(&listed);
    assert_eq!(listed.lines().count(), 1, "one partnership, one line: {listed}");
    assert!(listed.contains(SHOWN), "{listed}");
    let shared = vendor.run(&["partner", "sharing", EVIL], dir.path());
    assert!(shared.status.success(), "{}", text(&shared.stderr));
    assert_inert(&text(&shared.stdout));
    let unknown = vendor.run(&["match", "--partner", "Nobody"], dir.path());
    let said = text(&unknown.stderr);
    assert_inert(&said);
    assert!(said.contains(SHOWN) && said.lines().count() == 1, "{said}");

    // The node refuses control characters in the names it keeps (and says so inertly); what
    // it keeps, bidi overrides included, is printed escaped.
    let refused = vendor.run(&["users", "add", "kim\x1b[31m"], dir.path());
    assert!(!refused.status.success());
    assert_inert(&text(&refused.stderr));
    let added = vendor.run(&["users", "add", "kim\u{202e}", "--label", "laptop\u{2066}"], dir.path());
    assert!(added.status.success(), "{}", text(&added.stderr));
    assert_inert(&text(&added.stdout));
    assert!(text(&added.stdout).contains("Added kim\\u{202e} (rep)"), "{}", text(&added.stdout));
    let users = text(&vendor.run(&["users", "list"], dir.path()).stdout);
    assert_inert(&users);
    assert!(users.contains("kim\\u{202e}") && users.contains("laptop\\u{2066}"), "{users}");

    let csv = repo().join(VENDOR);
    let refused =
        vendor.run(&["datasets", "import", csv.to_str().unwrap(), "--name", "crm\x1b]0;pwned\x07.csv"], dir.path());
    assert!(!refused.status.success());
    assert_inert(&text(&refused.stderr));
    let import = vendor.run(&["datasets", "import", csv.to_str().unwrap(), "--name", "crm\u{202e}vsc.csv"], dir.path());
    assert!(import.status.success(), "{}", text(&import.stderr));
    assert_inert(&text(&import.stdout));
    let datasets = text(&vendor.run(&["datasets", "list"], dir.path()).stdout);
    assert_inert(&datasets);
    assert!(datasets.contains("crm\\u{202e}vsc.csv"), "{datasets}");

    // Touches refuse control characters, not bidi overrides.
    const REVERSED: &str = "Acme \u{202e}Corp";
    let touch = ["attribution", "touch", "--opportunity", "OPP 1", "--partner", REVERSED, "--kind", "sourced"];
    let touched = vendor.run(&touch, dir.path());
    assert!(touched.status.success(), "{}", text(&touched.stderr));
    assert_inert(&text(&touched.stdout));
    let touches = text(&vendor.run(&["attribution", "touches"], dir.path()).stdout);
    assert_inert(&touches);
    assert!(touches.contains("Acme \\u{202e}Corp"), "{touches}");
    let json = vendor.run(&["attribution", "touches", "--json"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json[0]["partner"], REVERSED, "--json is exact JSON");

    // A file from elsewhere: its values and even its name carry escapes.
    let file = dir.path().join("crm{\x1b[2J.csv");
    std::fs::write(&file, "id,segment,name,country,domain\n1\x1b[1A,customers,Acme\x1b[2K Corp,US,acme.com\n").unwrap();
    let inspect = blindmap(&["inspect", file.to_str().unwrap()], dir.path());
    let out = text(&inspect.stdout);
    assert!(inspect.status.success(), "{out}{}", text(&inspect.stderr));
    assert_inert(&out);
    assert!(out.contains("crm{\\x1b[2J.csv read as generic") && out.contains("1\\x1b[1A"), "{out}");

    vendor.stop();
    partner.stop();
}

/// The node as a user runs it: `init`, `serve` in the background, `datasets import` and `list`
/// through the API with the pinned fingerprint, and a graceful stop on SIGTERM.
#[cfg(unix)]
#[test]
fn init_serve_and_import_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let node = Served::start(dir.path(), "node", "Vendor");
    let again = blindmap(&["init", "--data-dir", "node", "--organisation", "Vendor"], dir.path());
    assert!(text(&again.stderr).contains("already holds a node"), "{}", text(&again.stderr));

    let vendor = repo().join(VENDOR);
    let import = node.run(&["datasets", "import", vendor.to_str().unwrap()], dir.path());
    assert!(import.status.success(), "{}", text(&import.stderr));
    assert!(text(&import.stdout).contains("(salesforce): 37 rows, 36 accounts"), "{}", text(&import.stdout));
    let list = node.run(&["datasets", "list"], dir.path());
    assert!(text(&list.stdout).contains("vendor-salesforce.csv"), "{}", text(&list.stdout));
    let invite = node.run(&["partner", "invite"], dir.path());
    assert!(text(&invite.stdout).contains("bminvite1."), "{}{}", text(&invite.stdout), text(&invite.stderr));
    let bad_token = ["--node", node.url.as_str(), "--fingerprint", node.fingerprint.as_str(), "--token", "bm_nope"];
    let refused = blindmap(&[&["datasets", "list"][..], &bad_token].concat(), dir.path());
    assert!(text(&refused.stderr).contains("401"), "{}", text(&refused.stderr));
    // A wrong pin: said once, with the node's URL once and both fingerprints.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let pinned_wrong = ["--node", node.url.as_str(), "--fingerprint", wrong.as_str(), "--token", node.token.as_str()];
    let said = text(&blindmap(&[&["datasets", "list"][..], &pinned_wrong].concat(), dir.path()).stderr);
    assert_eq!(said.matches(&node.url).count(), 1, "{said}");
    let mismatch = format!("its certificate is {}, not the pinned {wrong}: check", node.fingerprint);
    assert!(said.contains(&mismatch) && said.contains("(--fingerprint or BLINDMAP_FINGERPRINT)"), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(!said.contains("/api/v1/"), "the URL is the node's, not the call's: {said}");
    // http:// to a node that speaks only HTTPS.
    let plain = node.url.replace("https://", "http://");
    let over_http =
        ["--node", plain.as_str(), "--fingerprint", node.fingerprint.as_str(), "--token", node.token.as_str()];
    let said = text(&blindmap(&[&["datasets", "list"][..], &over_http].concat(), dir.path()).stderr);
    assert!(said.contains("HTTPS only") && said.contains(&node.url), "{said}");
    assert!(!said.contains("invalid HTTP version"), "{said}");
    // An export no preset recognises: the command's flag, not the API's parameter.
    std::fs::write(dir.path().join("odd.csv"), "Firm,Web\nAcme,acme.com\n").unwrap();
    let said = text(&node.run(&["datasets", "import", "odd.csv"], dir.path()).stderr);
    assert!(said.contains("--preset") && !said.contains("preset="), "{said}");

    // Users and tokens: a rep with a token of their own, revoked again.
    let added = node.run(&["users", "add", "kim", "--role", "rep"], dir.path());
    let out = text(&added.stdout);
    assert!(out.contains("Added kim (rep)"), "{out}{}", text(&added.stderr));
    let kim = out.lines().last().unwrap().trim().to_owned();
    let token_id = out.lines().find_map(|l| l.strip_prefix("Token ")).unwrap().split_whitespace().next().unwrap();
    let as_kim = ["--node", node.url.as_str(), "--fingerprint", node.fingerprint.as_str(), "--token", kim.as_str()];
    let listed = blindmap(&[&["datasets", "list"][..], &as_kim].concat(), dir.path());
    assert!(text(&listed.stdout).contains("vendor-salesforce.csv"), "a rep reads: {}", text(&listed.stderr));
    let users = node.run(&["users", "list"], dir.path());
    assert!(text(&users.stdout).contains("kim") && !text(&users.stdout).contains(&kim), "{}", text(&users.stdout));
    let kim_id =
        text(&users.stdout).lines().find(|l| l.contains("kim")).unwrap().split_whitespace().next().unwrap().to_owned();
    let link = node.run(&["users", "link", &kim_id], dir.path());
    let out = text(&link.stdout);
    assert!(out.contains(&format!("{}/signin/link?secret=bml_", node.url)), "{out}{}", text(&link.stderr));
    let revoked = node.run(&["users", "revoke", token_id], dir.path());
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let after = blindmap(&[&["datasets", "list"][..], &as_kim].concat(), dir.path());
    assert!(text(&after.stderr).contains("401"), "{}", text(&after.stderr));

    // Disabled, enabled, signed out everywhere, removed; the last admin stays.
    let issued = text(&node.run(&["users", "token", &kim_id, "--label", "laptop"], dir.path()).stdout);
    let kim = issued.lines().last().unwrap().trim().to_owned();
    let as_kim = ["--node", node.url.as_str(), "--fingerprint", node.fingerprint.as_str(), "--token", kim.as_str()];
    let kim_reads = || blindmap(&[&["datasets", "list"][..], &as_kim].concat(), dir.path()).status.success();
    assert!(kim_reads());
    let disabled = node.run(&["users", "disable", &kim_id], dir.path());
    assert!(text(&disabled.stdout).contains("is disabled"), "{}{}", text(&disabled.stdout), text(&disabled.stderr));
    assert!(!kim_reads(), "a disabled user's token stops at once");
    assert!(text(&node.run(&["users", "list"], dir.path()).stdout).contains("(disabled)"));
    assert!(text(&node.run(&["users", "enable", &kim_id], dir.path()).stdout).contains("is active"));
    assert!(kim_reads());
    let out = text(&node.run(&["users", "signout", &kim_id], dir.path()).stdout);
    assert!(out.contains("0 sessions ended"), "{out}");
    assert!(node.run(&["users", "remove", &kim_id], dir.path()).status.success());
    assert!(!kim_reads(), "a removed user's tokens are revoked");
    let users = text(&node.run(&["users", "list"], dir.path()).stdout);
    assert!(users.contains("(removed)"), "{users}");
    let admin_id = users.lines().find(|l| l.contains(" admin")).unwrap().split_whitespace().next().unwrap().to_owned();
    let last = node.run(&["users", "disable", &admin_id], dir.path());
    assert!(!last.status.success() && text(&last.stderr).contains("last active admin"), "{}", text(&last.stderr));

    // Webhooks: add (the secret shown once), list, disable, enable, log.
    let events = ["--event", "overlap.changed", "--event", "registration.extended", "--event", "registration.closed"];
    let added = node.run(&[&["hooks", "add", "http://127.0.0.1:9/hook"][..], &events].concat(), dir.path());
    let out = text(&added.stdout);
    assert!(
        out.contains("whsec_") && out.contains("events: overlap.changed, registration.extended, registration.closed"),
        "every kind the node emits can be chosen: {out}{}",
        text(&added.stderr)
    );
    let unknown = node.run(&["hooks", "add", "http://127.0.0.1:9/hook", "--event", "registration.nope"], dir.path());
    assert!(
        !unknown.status.success() && text(&unknown.stderr).contains("registration.extended"),
        "an unknown kind is refused with the list: {}",
        text(&unknown.stderr)
    );
    let hook = out.split_whitespace().next().unwrap().to_owned();
    let listed = text(&node.run(&["hooks", "list"], dir.path()).stdout);
    assert!(listed.contains(&hook) && !listed.contains("whsec_"), "{listed}");
    assert!(text(&node.run(&["hooks", "disable", &hook], dir.path()).stdout).contains("disabled"));
    assert!(text(&node.run(&["hooks", "enable", &hook], dir.path()).stdout).contains("enabled"));
    assert!(node.run(&["hooks", "log", &hook], dir.path()).status.success());
    let metadata = node.run(&["hooks", "add", "http://169.254.169.254/latest/meta-data/"], dir.path());
    let said = text(&metadata.stderr);
    assert!(said.contains("422") && said.contains("169.254.169.254 is a link-local address"), "{said}");

    // A second organisation on the same node sees nothing of the first.
    let org = blindmap(&["org", "add", "Hosted Co", "--data-dir", "node"], dir.path());
    let org_token = text(&org.stdout).lines().last().unwrap().trim().to_owned();
    assert!(org_token.starts_with("bm_"), "{}{}", text(&org.stdout), text(&org.stderr));
    let as_org =
        ["--node", node.url.as_str(), "--fingerprint", node.fingerprint.as_str(), "--token", org_token.as_str()];
    let theirs = blindmap(&[&["datasets", "list"][..], &as_org].concat(), dir.path());
    assert!(theirs.status.success() && text(&theirs.stdout).trim().is_empty(), "{}", text(&theirs.stdout));

    let token = node.token.clone();
    let log = node.stop();
    // The log has each request's method, route and status, and nothing of the data.
    assert!(log.contains("route=/api/v1/datasets") && log.contains("status=201"), "{log}");
    for secret in ["vendor-salesforce", "northwindtraders", "Northwind", "118273645", token.as_str()] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}

/// Two served nodes pair, set what they share and match, all from the CLI: `partner invite`,
/// `partner accept`, `partner sharing`, `match --partner --transcript`, and a re-run that
/// reports no change.
#[cfg(unix)]
#[test]
fn two_served_nodes_pair_share_and_match_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let vendor = Served::start(dir.path(), "vendor", "Vendor");
    let partner = Served::start(dir.path(), "partner", "Partner");
    let import = |node: &Served, file: &str| {
        let out = node.run(&["datasets", "import", repo().join(file).to_str().unwrap()], dir.path());
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    import(&vendor, VENDOR);
    import(&partner, PARTNER);

    let invite = vendor.run(&["partner", "invite"], dir.path());
    let code = text(&invite.stdout).lines().find(|l| l.starts_with("bminvite1.")).unwrap().to_owned();
    let accept = partner.run(&["partner", "accept", &code], dir.path());
    assert!(text(&accept.stdout).contains("Paired with Vendor"), "{}{}", text(&accept.stdout), text(&accept.stderr));
    // The code again: the inviting node's refusal, in its words, relayed by the partner's node.
    let again = partner.run(&["partner", "accept", &code], dir.path());
    let said = text(&again.stderr);
    assert!(!again.status.success() && said.contains("the invite code was used already or has expired"), "{said}");
    assert!(!said.contains("502") && !said.contains("403") && !said.contains("Bad Gateway"), "{said}");
    let bad = partner.run(&["partner", "sharing", "Vendor", "--rule", "customers=overlaps"], dir.path());
    assert!(!bad.status.success() && text(&bad.stderr).contains("OWN:PARTNER=LEVEL"), "{}", text(&bad.stderr));
    let share = partner.run(
        &[
            "partner",
            "sharing",
            "Vendor",
            "--rule",
            "*:*=fields:owner",
            "--rule",
            "prospects:*=hidden",
            "--threshold",
            "1",
            "--min-segment",
            "1",
        ],
        dir.path(),
    );
    let shown = text(&share.stdout);
    assert!(
        shown.contains("*:*=fields:owner") && shown.contains("prospects:*=hidden"),
        "{shown}{}",
        text(&share.stderr)
    );
    assert!(shown.contains("threshold 1"), "{shown}");

    let unknown = vendor.run(&["match", "--partner", "Nobody"], dir.path());
    assert!(text(&unknown.stderr).contains("active partners: Partner"), "{}", text(&unknown.stderr));
    let matched = vendor.run(&["match", "--partner", "Partner", "--transcript", "t.txt", "--show", "3"], dir.path());
    let out = text(&matched.stdout);
    assert!(matched.status.success(), "{out}{}", text(&matched.stderr));
    assert!(out.contains("your segments × Partner's (shared with you: fields in 6 cells, hidden in 3 cells)"), "{out}");
    assert!(out.contains("open_opportunities") && out.contains("owner="), "{out}");
    assert!(out.contains("First complete run with Partner"), "{out}");
    let transcript = std::fs::read_to_string(dir.path().join("t.txt")).unwrap();
    assert!(transcript.starts_with("blindmap transcript v1\n"), "{transcript}");
    for secret in ["northwindtraders", "Northwind", "NORTHWIND", "118273645"] {
        assert!(!transcript.contains(secret), "{secret:?} in the transcript");
    }

    // A co-sell record on the first overlapping account, answered by the partner.
    let account = out.lines().find(|l| l.contains('↔')).unwrap().split_whitespace().next().unwrap().to_owned();
    let created = vendor.run(&["cosell", "create", "--partner", "Partner", "--account", &account], dir.path());
    let line = text(&created.stdout);
    assert!(line.starts_with("cs_") && line.contains("proposed"), "{line}{}", text(&created.stderr));
    let id = line.split_whitespace().next().unwrap().to_owned();
    let theirs = text(&partner.run(&["cosell", "list"], dir.path()).stdout);
    assert!(theirs.contains(&id) && theirs.contains("side B"), "{theirs}");
    assert!(theirs.contains("with Vendor"), "the partner by name: {theirs}");
    let answered = partner.run(&["cosell", "edit", &id, "--status", "accepted", "--note", "let's talk"], dir.path());
    assert!(text(&answered.stdout).contains("accepted"), "{}", text(&answered.stderr));
    let bad = vendor.run(&["cosell", "edit", &id, "--amount", "12 dollars"], dir.path());
    assert!(!bad.status.success(), "a malformed amount is refused");
    let shown = text(&vendor.run(&["cosell", "show", &id], dir.path()).stdout);
    assert!(shown.contains("accepted") && shown.contains("note by admin: let's talk"), "{shown}");
    assert!(shown.contains(&format!("side A: account {account}")), "{shown}");
    // An amount is shown as it was given, on both nodes (minor units are the API's business).
    let priced = vendor.run(&["cosell", "edit", &id, "--amount", "125000.00 EUR"], dir.path());
    assert!(text(&priced.stdout).contains("amount 125000.00 EUR"), "{}{}", text(&priced.stdout), text(&priced.stderr));
    for out in
        [&vendor.run(&["cosell", "show", &id], dir.path()).stdout, &vendor.run(&["cosell", "list"], dir.path()).stdout]
    {
        assert!(text(out).contains("amount 125000.00 EUR") && !text(out).contains("12500000"), "{}", text(out));
    }
    let theirs = (0..50).find_map(|_| {
        let list = text(&partner.run(&["cosell", "list"], dir.path()).stdout);
        if list.contains("EUR") {
            Some(list)
        } else {
            std::thread::sleep(std::time::Duration::from_millis(200));
            None
        }
    });
    let theirs = theirs.expect("the partner's node has the amount");
    assert!(theirs.contains("amount 125000.00 EUR") && !theirs.contains("12500000"), "{theirs}");
    let shown = text(&partner.run(&["cosell", "show", &id], dir.path()).stdout);
    assert!(shown.contains("amount 125000.00 EUR"), "{shown}");
    let yen = vendor.run(&["cosell", "edit", &id, "--amount", "980000 JPY"], dir.path());
    assert!(text(&yen.stdout).contains("amount 980000 JPY"), "{}{}", text(&yen.stdout), text(&yen.stderr));

    // Deal registration: a pre-check, a registration on the vendor's open opportunity (a channel
    // conflict), the vendor's approval, heard on the partner's side.
    let run = |node: &Served, args: &[&str]| {
        let out = node.run(args, dir.path());
        assert!(out.status.success(), "{args:?}: {}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    };
    let asked = run(&partner, &["deal", "precheck", "--partner", "Vendor", "--domain", "litware.com"]);
    assert!(asked.starts_with("not claimed") && asked.contains("99 pre-checks left"), "{asked}");
    let registered = run(
        &partner,
        &[
            "deal",
            "register",
            "--partner",
            "Vendor",
            "--name",
            "Litware Inc",
            "--country",
            "US",
            "--product",
            "cloud",
            "--value",
            "25000 USD",
            "--close",
            "2027-06-30",
        ],
    );
    let reg_id = registered.split_whitespace().next().unwrap().to_owned();
    assert!(reg_id.starts_with("rg_") && registered.contains("submitted"), "{registered}");
    let received = run(&vendor, &["deal", "list", "--received"]);
    assert!(
        received.contains(&reg_id) && received.contains("Partner") && received.contains("25000.00 USD"),
        "{received}"
    );
    let shown = run(&vendor, &["deal", "show", &reg_id]);
    assert!(shown.contains("name_country:US|litware"), "{shown}");
    let approved = run(&vendor, &["deal", "approve", &reg_id, "--reason", "known deal"]);
    assert!(approved.contains("approved") && approved.contains("protected until"), "{approved}");
    let heard = (0..50).find_map(|_| {
        let list = run(&partner, &["deal", "list", "--submitted", "--state", "approved"]);
        if list.contains(&reg_id) {
            Some(list)
        } else {
            std::thread::sleep(std::time::Duration::from_millis(200));
            None
        }
    });
    assert!(heard.is_some(), "the partner's node heard the approval");
    let bad = partner.run(
        &[
            "deal",
            "register",
            "--partner",
            "Vendor",
            "--domain",
            "gmail.com",
            "--product",
            "cloud",
            "--value",
            "1 USD",
            "--close",
            "2027-06-30",
        ],
        dir.path(),
    );
    assert!(!bad.status.success() && text(&bad.stderr).contains("free-mail"), "{}", text(&bad.stderr));
    let settings = run(&vendor, &["deal", "settings", "--protection-days", "30"]);
    assert!(settings.contains("\"protection_days\": 30"), "{settings}");

    let again = vendor.run(&["match", "--partner", "Partner", "--json"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(json["run"]["state"], "complete");
    assert_eq!(json["changes"]["cells"], serde_json::json!([]), "same data: nothing changed");

    assert!(run(&vendor, &["changes", "--partner", "Partner"]).contains("No changes"), "the same data twice");
    let kept = run(&vendor, &["retention", "--keep-runs", "2"]);
    assert!(kept.contains("the latest 2 complete runs") && kept.contains("365 days"), "{kept}");
    let bad = vendor.run(&["retention", "--keep-runs", "1"], dir.path());
    assert!(
        !bad.status.success() && text(&bad.stderr).contains("keep_runs must be 2 to 1000"),
        "{}",
        text(&bad.stderr)
    );

    // The partner allows one run every 6 hours against it: the vendor's schedule may not be more
    // often, a run by hand now is refused, and the partner sees the refusal.
    let limited = run(&partner, &["partner", "budget", "Vendor", "--min-interval", "360", "--max-change", "25"]);
    assert!(limited.contains("at most once every 6 hour(s)") && limited.contains("at most 25%"), "{limited}");
    let hourly = vendor.run(&["partner", "schedule", "Partner", "--every-hours", "1"], dir.path());
    let said = text(&hourly.stderr);
    assert!(!hourly.status.success() && said.contains("Partner allows one run against it every 6 hours"), "{said}");
    assert!(run(&vendor, &["partner", "schedule", "Partner"]).contains("start only by hand"));
    let daily = run(&vendor, &["partner", "schedule", "Partner", "--daily", "07:30", "--zone", "Europe/Berlin"]);
    assert!(
        daily.contains("now start every day at 07:30 (Europe/Berlin).") && daily.contains("The next is due at"),
        "{daily}"
    );
    assert!(run(&vendor, &["partner", "jobs"]).contains("No scheduled runs yet."));
    let soon = vendor.run(&["match", "--partner", "Partner"], dir.path());
    let said = format!("{}{}", text(&soon.stdout), text(&soon.stderr));
    assert!(!soon.status.success() && said.contains("Partner allows one run against it every 6 hours"), "{said}");
    let against = run(&partner, &["partner", "against"]);
    assert!(against.contains("Vendor") && against.contains("complete"), "{against}");
    assert!(against.contains("too_soon: Partner allows one run against it every 6 hours"), "{against}");
    assert!(run(&vendor, &["partner", "schedule", "Partner", "--clear"]).contains("start only by hand now"));

    for node in [vendor, partner] {
        let log = node.stop();
        for secret in ["northwindtraders", "Northwind", "118273645"] {
            assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
        }
    }
}

/// Partner attribution from the command line: touches (one after the close), the model, a close
/// with a reporting rate, the ledger whole and per partner, a re-score under another model, a
/// second close refused, and an inbound source whose secret is printed once and never logged.
#[cfg(unix)]
#[test]
fn attribution_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let node = Served::start(dir.path(), "node", "Vendor");
    let run = |args: &[&str]| {
        let out = node.run(args, dir.path());
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let history = [
        ("Acme", "influenced", "2027-01-01"),
        ("Globex", "sourced", "2027-01-11"),
        ("Acme", "co_selling", "2027-01-21"),
    ];
    for (partner, kind, at) in history.iter().chain(&[("Initech", "referral", "2027-03-01")]) {
        let args = ["attribution", "touch", "--opportunity", "OPP 7", "--partner", partner, "--kind", kind, "--at", at];
        let out = run(&args);
        assert!(out.starts_with("Recorded tc_") && out.contains(partner) && out.contains("via api"), "{out}");
    }
    let bad = node.run(&["attribution", "touch", "--opportunity", "O", "--partner", "Acme", "--kind", "x"], dir.path());
    assert!(!bad.status.success() && text(&bad.stderr).contains("co_selling"), "{}", text(&bad.stderr));
    let listed = run(&["attribution", "touches", "--opportunity", "OPP 7"]);
    let partners: Vec<&str> = listed.lines().map(|l| l.split_whitespace().nth(2).unwrap()).collect();
    assert_eq!(partners, ["Acme", "Globex", "Acme", "Initech"], "{listed}");

    assert!(run(&["attribution", "settings"]).contains("categorical (the default)"));
    assert!(run(&["attribution", "settings", "--model", "linear"]).contains("scored under linear\n"));
    let close = ["attribution", "close", "OPP 7", "--amount", "900", "--currency", "EUR", "--closed", "2027-01-31"];
    let closed = run(&[&close[..], &["--reporting", "USD", "--rate", "1.1"]].concat());
    // Linear over the three touches before the close (Initech's came after): Acme two thirds.
    assert!(closed.contains("OPP 7: 900.00 EUR closed 2027-01-31, reported in USD at 1.1; model linear"), "{closed}");
    let line = |out: &str, partner: &str| out.lines().find(|l| l.trim_start().starts_with(partner)).unwrap().to_owned();
    let acme: Vec<String> = line(&closed, "Acme").split_whitespace().map(str::to_owned).collect();
    assert_eq!(acme, ["Acme", "-", "66.6667", "%", "600.00", "EUR", "660.00", "USD"], "{closed}");
    assert!(line(&closed, "Globex").contains("33.3333 %"), "{closed}");
    let again = node.run(&close, dir.path());
    assert!(!again.status.success() && text(&again.stderr).contains("409"), "{}", text(&again.stderr));
    // The close's event is in the feed at once (it committed), with the cursor to go on from.
    let feed = node.run(&["hooks", "events"], dir.path());
    let (events, cursor) = (text(&feed.stdout), text(&feed.stderr));
    assert!(events.lines().count() == 1 && events.contains("\"attribution.recorded\""), "{events}{cursor}");
    let next = cursor.trim().strip_prefix("continue with --after ").expect("a cursor").to_owned();
    assert!(run(&["hooks", "events", "--after", &next]).is_empty(), "nothing after the last event");

    let ledger = run(&["attribution", "ledger"]);
    assert_eq!(ledger.lines().count(), 2, "{ledger}");
    assert!(ledger.lines().all(|l| l.starts_with("2027-01-31  OPP 7") && l.contains("linear")), "{ledger}");
    let globex = run(&["attribution", "ledger", "--partner", "Globex"]);
    assert!(globex.lines().count() == 1 && globex.contains("300.00 EUR") && globex.contains("330.00 USD"), "{globex}");
    let json: serde_json::Value = serde_json::from_str(&run(&["attribution", "ledger", "--json"])).unwrap();
    assert_eq!(json[0]["amount"]["minor"], 60_000);
    let scored = run(&["attribution", "score", "OPP 7", "--model", "first_touch"]);
    assert!(line(&scored, "Acme").contains("100.0000 %") && !scored.contains("Globex"), "{scored}");
    assert!(scored.contains("stays under linear"), "{scored}");
    let shown = run(&["attribution", "show", "OPP 7"]);
    assert!(
        shown.contains("model linear") && shown.contains("closed by admin") && !shown.contains("Initech"),
        "{shown}"
    );
    assert_eq!(run(&["attribution", "ledger"]), ledger, "re-scoring records nothing");

    // The pipeline: OPP 8 open with an amount; OPP 7 won (linear: credited shares).
    let args = ["attribution", "touch", "--opportunity", "OPP 8", "--partner", "Globex", "--kind", "referral"];
    run(&[&args[..], &["--at", "2027-02-10", "--amount", "5000", "--currency", "EUR"]].concat());
    let pipeline = run(&["attribution", "pipeline", "--from", "2027-01-01", "--to", "2027-03-01"]);
    let rows: Vec<&str> = pipeline.lines().skip(2).take_while(|l| l.starts_with("  ")).collect();
    assert!(rows.len() == 2 && rows[0].trim_start().starts_with("Acme"), "most won first: {pipeline}");
    assert!(rows[0].contains("600.00 EUR (1)") && !rows[0].contains("Initech"), "{pipeline}");
    assert!(rows[1].contains("5000.00 EUR (1)") && rows[1].contains("300.00 EUR (1)"), "{pipeline}");
    let json: serde_json::Value = serde_json::from_str(&run(&[
        "attribution",
        "pipeline",
        "--from",
        "2027-01-01",
        "--to",
        "2027-03-01",
        "--json",
    ]))
    .unwrap();
    assert_eq!(json["partners"][1]["sourced"]["amounts"][0]["minor"], 500_000);

    let added = run(&["attribution", "source", "add", "Acme PRM"]);
    let secret = added.split_whitespace().find(|w| w.starts_with("whsec_")).expect("the secret, once").to_owned();
    assert!(added.contains("/api/v1/attribution/inbound/src_"), "{added}");
    let sources = run(&["attribution", "source", "list"]);
    assert!(sources.contains("Acme PRM") && !sources.contains("whsec_"), "{sources}");
    let log = node.stop();
    assert!(log.contains("route=/api/v1/attribution/sources") && !log.contains(&secret), "{log}");
}

/// A partner without a node: `match --remote CODE` pairs this machine's client identity with the
/// vendor's node and matches a local export; afterwards `--remote URL` is enough. The vendor's
/// sharing policy applies (counts until it shares more), and the vendor cannot start runs itself.
#[cfg(unix)]
#[test]
fn a_partner_without_a_node_matches_with_remote() {
    let dir = tempfile::tempdir().unwrap();
    let vendor = Served::start(dir.path(), "vendor", "Vendor");
    let import = vendor.run(&["datasets", "import", repo().join(VENDOR).to_str().unwrap()], dir.path());
    assert!(import.status.success(), "{}", text(&import.stderr));
    let partner_csv = repo().join(PARTNER);
    let partner_csv = partner_csv.to_str().unwrap();

    let unpaired = blindmap(&["match", "--remote", &vendor.url, partner_csv], dir.path());
    assert!(text(&unpaired.stderr).contains("has not paired with"), "{}", text(&unpaired.stderr));
    let invite = vendor.run(&["partner", "invite"], dir.path());
    let code = text(&invite.stdout).lines().find(|l| l.starts_with("bminvite1.")).unwrap().to_owned();
    let nameless = blindmap(&["match", "--remote", &code, partner_csv], dir.path());
    assert!(text(&nameless.stderr).contains("--organisation"), "{}", text(&nameless.stderr));

    let first = blindmap(
        &[
            "match",
            "--remote",
            &code,
            "--organisation",
            "Partner Co",
            partner_csv,
            "--shares",
            "overlaps",
            "--threshold",
            "1",
            "--min-segment",
            "1",
        ],
        dir.path(),
    );
    let out = text(&first.stdout);
    assert!(first.status.success(), "{out}{}", text(&first.stderr));
    assert!(text(&first.stderr).contains("Paired with Vendor"), "{}", text(&first.stderr));
    assert!(out.contains("Your segments × Vendor's (shared with you: counts; you disclosed: overlaps)"), "{out}");
    let key = std::fs::metadata(dir.path().join("blindmap-client/identity/node.key")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o077, 0, "the key is private");
    let reused = blindmap(
        &["match", "--remote", &code, "--organisation", "Partner Co", partner_csv, "--client-dir", "other"],
        dir.path(),
    );
    let said = text(&reused.stderr);
    assert!(!reused.status.success() && said.contains("the invite code was used already or has expired"), "{said}");

    let share = vendor.run(
        &["partner", "sharing", "Partner Co", "--rule", "*:*=fields:owner", "--threshold", "1", "--min-segment", "1"],
        dir.path(),
    );
    assert!(share.status.success(), "{}", text(&share.stderr));
    let second =
        blindmap(&["match", "--remote", &vendor.url, partner_csv, "--transcript", "remote.txt", "--json"], dir.path());
    assert!(second.status.success(), "{}", text(&second.stderr));
    let json: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    let overlaps = json["overlaps"].as_array().unwrap();
    assert!(!overlaps.is_empty(), "{json}");
    assert!(overlaps.iter().any(|o| o["partner_fields"]["owner"].is_string()), "{json}");
    let transcript = std::fs::read_to_string(dir.path().join("remote.txt")).unwrap();
    assert!(transcript.starts_with("blindmap transcript v1\n") && !transcript.contains("northwind"));

    let refused = vendor.run(&["match", "--partner", "Partner Co"], dir.path());
    assert!(text(&refused.stderr).contains("has no node"), "{}", text(&refused.stderr));
    vendor.stop();
}

/// `blindmap demo`, the README's main command: two nodes on loopback, the bundled samples,
/// pairing, a match, both sides' results and a transcript.
#[test]
fn demo_runs_the_whole_product() {
    let dir = tempfile::tempdir().unwrap();
    let run = blindmap(&["demo", "--dir", "nodes", "--show", "3"], dir.path());
    let out = text(&run.stdout);
    assert!(run.status.success(), "{out}{}", text(&run.stderr));
    for expected in ["== The vendor's view ==", "== The partner's view ==", "16 customers", "lifecycle_stage=Customer"]
    {
        assert!(out.contains(expected), "{expected:?} missing:\n{out}");
    }
    let transcript = std::fs::read_to_string(dir.path().join("nodes/transcript.txt")).unwrap();
    let frames: Vec<u8> = transcript
        .lines()
        .filter(|l| l.starts_with("  "))
        .flat_map(|l| (0..l.trim().len()).step_by(2).map(move |i| u8::from_str_radix(&l.trim()[i..i + 2], 16).unwrap()))
        .collect();
    assert!(frames.len() > 10_000, "every frame's bytes");
    for secret in ["northwindtraders.com", "northwind traders", "118273645", "litware.io", "fabrikam"] {
        assert!(!transcript.to_lowercase().contains(secret), "{secret:?} in the transcript");
        assert!(
            !frames.windows(secret.len()).any(|w| w.eq_ignore_ascii_case(secret.as_bytes())),
            "{secret:?} in a frame"
        );
    }
    let busy = blindmap(&["demo", "--dir", "nodes"], dir.path());
    assert!(text(&busy.stderr).contains("is not empty"), "{}", text(&busy.stderr));
}

/// `demo --dir` leaves two nodes a user can start and use as the demo prints: each on the port
/// its configuration states (the one its partner dials), its admin's token in a file only its
/// owner reads, the transcript where the README says.
#[cfg(unix)]
#[test]
fn demo_dir_leaves_two_usable_nodes() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let run = blindmap(&["demo", "--dir", "nodes", "--show", "0"], dir.path());
    let out = text(&run.stdout);
    assert!(run.status.success(), "{out}{}", text(&run.stderr));
    assert!(dir.path().join("nodes/transcript.txt").exists(), "the README's place for the transcript");
    let mut tokens = Vec::new();
    for node in ["vendor", "partner"] {
        let folder = dir.path().join("nodes").join(node);
        let token_file = folder.join("admin-token");
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{node}'s token is readable by its owner only: {mode:o}");
        let token = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
        assert!(token.starts_with("bm_"), "{token}");
        let config: toml::Table = std::fs::read_to_string(folder.join("node.toml")).unwrap().parse().unwrap();
        let listen = config["listen"].as_str().unwrap();
        assert!(!listen.ends_with(":0"), "a fixed port: {listen}");
        let port = listen.rsplit(':').next().unwrap();
        assert_eq!(config["public_url"].as_str().unwrap(), format!("https://127.0.0.1:{port}"));
        assert!(out.contains(&format!("blindmap serve --data-dir nodes/{node}")), "{out}");
        assert!(out.contains(&format!("BLINDMAP_TOKEN=$(cat nodes/{node}/admin-token)")), "{out}");
        tokens.push(token);
    }

    // Started again as the demo says, the two still know each other and match.
    let vendor = Served::serve(dir.path(), "nodes/vendor", &tokens[0]);
    let partner = Served::serve(dir.path(), "nodes/partner", &tokens[1]);
    let as_printed = |args: &[&str], node: &str, token: &str| {
        Command::new(env!("CARGO_BIN_EXE_blindmap"))
            .args(args)
            .current_dir(dir.path())
            .env("BLINDMAP_DATA_DIR", format!("nodes/{node}"))
            .env("BLINDMAP_TOKEN", token)
            .output()
            .unwrap()
    };
    let listed = as_printed(&["partner", "list"], "vendor", &tokens[0]);
    assert!(
        text(&listed.stdout).contains("Partner") && text(&listed.stdout).contains(&partner.url),
        "{}{}",
        text(&listed.stdout),
        text(&listed.stderr)
    );
    let matched = as_printed(&["match", "--partner", "Partner", "--show", "0"], "vendor", &tokens[0]);
    assert!(matched.status.success(), "{}{}", text(&matched.stdout), text(&matched.stderr));
    let theirs = as_printed(&["datasets", "list"], "partner", &tokens[1]);
    assert!(text(&theirs.stdout).contains("partner-hubspot.csv"), "{}", text(&theirs.stderr));
    assert!(vendor.url != partner.url);
    vendor.stop();
    partner.stop();
}

/// `bench nodes` at a smoke size: two nodes match through their APIs and the result is checked
/// against the known overlap (speed targets are for full-size runs).
#[cfg(feature = "bench")]
#[test]
fn bench_nodes_checks_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let run = blindmap(&["bench", "nodes", "--n", "3000", "--json"], dir.path());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["overlapping_accounts"], 900, "{v}");
    assert!(v["node_run_seconds"].as_f64().unwrap() > 0.0 && v["in_process_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn crm_metadata_writes_the_overlap_object_as_a_project_to_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let out = blindmap(&["crm", "metadata", "--dir", "sf"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("sf project deploy start"), "{}", text(&out.stdout));
    let root = dir.path().join("sf");
    let project: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("sfdx-project.json")).unwrap()).unwrap();
    assert_eq!(project["packageDirectories"][0]["path"], "force-app");
    let object = root.join("force-app/main/default/objects/Blindmap_Overlap__c");
    let meta = std::fs::read_to_string(object.join("Blindmap_Overlap__c.object-meta.xml")).unwrap();
    assert!(
        meta.starts_with("<?xml") && meta.contains("<CustomObject") && meta.trim_end().ends_with("</CustomObject>")
    );
    let mut fields: Vec<String> = std::fs::read_dir(object.join("fields"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".field-meta.xml").to_owned())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "Account__c",
            "Blindmap_Key__c",
            "First_Seen__c",
            "Last_Seen__c",
            "Partner_Segments__c",
            "Partner__c",
            "Reason__c",
            "Shared_Fields__c",
            "Tier__c"
        ]
    );
    let key = std::fs::read_to_string(object.join("fields/Blindmap_Key__c.field-meta.xml")).unwrap();
    assert!(key.contains("<externalId>true</externalId>") && key.contains("<unique>true</unique>"), "{key}");
    // Written again over itself: the same files, no error.
    assert!(blindmap(&["crm", "metadata", "--dir", "sf"], dir.path()).status.success());
}
