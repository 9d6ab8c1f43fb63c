//! `blindmap corrections add|list|remove` against two served nodes that matched: a correction
//! made from the command line is listed with names, hides the match from the node's listings,
//! is not made twice, is refused clearly for an account the node does not have, and is undone;
//! the partner's node learns exactly what it learned before.

#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Output};

pub(crate) fn blindmap(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blindmap")).args(args).current_dir(dir).output().expect("runs")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A node served by the binary from its data folder; killed on drop.
pub(crate) struct Served {
    server: std::process::Child,
    url: String,
    fingerprint: String,
    token: String,
}

impl Served {
    pub(crate) fn start(dir: &Path, data_dir: &str, organisation: &str) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;

        let init =
            blindmap(&["init", "--data-dir", data_dir, "--organisation", organisation, "--listen", "127.0.0.1:0"], dir);
        assert!(init.status.success(), "{}", text(&init.stderr));
        let out = text(&init.stdout);
        let token = out.lines().skip_while(|l| !l.contains("Admin token")).nth(1).unwrap().trim().to_owned();
        let mut server = Command::new(env!("CARGO_BIN_EXE_blindmap"))
            .args(["serve", "--data-dir", data_dir])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let listening = BufReader::new(server.stdout.take().unwrap()).lines().next().unwrap().unwrap();
        let url = listening.split_whitespace().nth(2).unwrap().to_owned();
        let fingerprint = listening.split("(fingerprint ").nth(1).unwrap().trim_end_matches(')').to_owned();
        Self { server, url, fingerprint, token }
    }

    /// Runs a command against this node; its stdout, failing the test with stderr if it failed.
    pub(crate) fn ok(&self, args: &[&str], dir: &Path) -> String {
        let out = self.run(args, dir);
        assert!(out.status.success(), "{args:?}: {}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    pub(crate) fn run(&self, args: &[&str], dir: &Path) -> Output {
        let connect = ["--node", &self.url, "--fingerprint", &self.fingerprint, "--token", &self.token];
        blindmap(&[args, &connect[..]].concat(), dir)
    }
}

/// Imports `v.csv` into the vendor's node and `p.csv` into the partner's (files in `dir`), pairs
/// them (the vendor invites, the partner accepts), and has each share overlapping accounts of
/// every segment with the other (threshold and smallest segment 1).
pub(crate) fn pair_sharing_overlaps(vendor: &Served, partner: &Served, dir: &Path) {
    vendor.ok(&["datasets", "import", "v.csv"], dir);
    partner.ok(&["datasets", "import", "p.csv"], dir);
    let invite = vendor.ok(&["partner", "invite"], dir);
    let code = invite.lines().find(|l| l.starts_with("bminvite1.")).unwrap().to_owned();
    partner.ok(&["partner", "accept", &code], dir);
    let overlaps = ["--rule", "*:*=overlaps", "--threshold", "1", "--min-segment", "1"];
    partner.ok(&[&["partner", "sharing", "Vendor"][..], &overlaps].concat(), dir);
    vendor.ok(&[&["partner", "sharing", "Partner"][..], &overlaps].concat(), dir);
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

#[test]
fn corrections_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let vendor = Served::start(dir, "vendor", "Vendor");
    let partner = Served::start(dir, "partner", "Partner");
    let header = "id,segment,name,country,domain\n";
    std::fs::write(
        dir.join("v.csv"),
        format!("{header}v1,customers,Acme,US,acme.com\nv2,customers,Globex,US,globex.com\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("p.csv"),
        format!("{header}p1,customers,Acme Corp,US,acme.com\np2,customers,Globex,US,globex.com\n"),
    )
    .unwrap();
    pair_sharing_overlaps(&vendor, &partner, dir);
    let learned = |node: &Served, partner_name: &str| -> serde_json::Value {
        let out = node.ok(&["match", "--partner", partner_name, "--json"], dir);
        let run: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(run["run"]["state"], "complete", "{run}");
        run["run"]["result"]["pairs"].clone()
    };
    assert_eq!(learned(&vendor, "Partner"), 2);
    assert_eq!(learned(&partner, "Vendor"), 2, "the partner learns both pairs");

    let help = vendor.ok(&["corrections", "add", "--help"], dir);
    assert!(help.contains("not told") && help.contains("--never") && help.contains("--key-types"), "{help}");

    // Not this match: Globex (its key types found from the listing), with names in the output.
    let made =
        vendor.ok(&["corrections", "add", "--partner", "Partner", "--account", "v2", "--note", "a namesake"], dir);
    assert!(made.starts_with("mc_") && made.contains("Globex (v2) × Partner: not this match"), "{made}");
    assert!(made.contains("note: a namesake") && made.contains("Undo: blindmap corrections remove mc_"), "{made}");
    let id = made.split_whitespace().next().unwrap().to_owned();
    let again = vendor.ok(&["corrections", "add", "--partner", "Partner", "--account", "v2"], dir);
    assert!(again.starts_with(&id) && again.contains("Corrected already"), "the one already made: {again}");
    let as_json = vendor.ok(&["corrections", "list", "--json"], dir);
    let types: serde_json::Value = serde_json::from_str(&as_json).unwrap();
    let types: Vec<&str> = types[0]["key_types"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(types.contains(&"domain"), "{types:?}");
    let args = ["corrections", "add", "--partner", "Partner", "--account", "v2", "--key-types", &types.join(",")];
    assert!(vendor.ok(&args, dir).starts_with(&id), "the same key types: the same correction");
    let listed = vendor.ok(&["corrections", "list"], dir);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("Globex (v2) × Partner") && listed.contains("by admin at "), "{listed}");

    // Never match Acme, as JSON.
    let never = vendor.ok(&["corrections", "add", "--partner", "Partner", "--account", "v1", "--never", "--json"], dir);
    let never: serde_json::Value = serde_json::from_str(&never).unwrap();
    assert_eq!(
        (&never["kind"], &never["account"], &never["partner"]),
        (&"never_match".into(), &"Acme".into(), &"Partner".into())
    );
    let listed: serde_json::Value = serde_json::from_str(&vendor.ok(&["corrections", "list", "--json"], dir)).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let by_partner = vendor.ok(&["corrections", "list", "--partner", "Partner"], dir);
    assert_eq!(by_partner.lines().count(), 2, "{by_partner}");

    // Refused clearly: an account the node does not have; an account with nothing listed.
    let refused = vendor.run(&["corrections", "add", "--partner", "Partner", "--account", "nobody", "--never"], dir);
    let said = text(&refused.stderr);
    assert!(!refused.status.success() && said.contains("422") && said.contains("active dataset"), "{said}");
    let wrong =
        vendor.run(&["corrections", "add", "--partner", "Partner", "--account", "v1", "--key-types", "duns"], dir);
    let said = text(&wrong.stderr);
    assert!(!wrong.status.success() && said.contains("404") && said.contains("those key types"), "{said}");

    // A new match: the vendor's listings leave both out; the partner learns what it did before.
    assert_eq!(learned(&vendor, "Partner"), 2, "the session still finds both");
    assert_eq!(learned(&partner, "Vendor"), 2, "nothing of the corrections reached the partner");

    // Removed: listed no more, and said so with names.
    let removed = vendor.ok(&["corrections", "remove", &id], dir);
    assert!(
        removed.contains("removed by admin") && removed.contains("Its matches with Partner show again."),
        "{removed}"
    );
    let listed = vendor.ok(&["corrections", "list"], dir);
    assert!(listed.contains("Acme (v1)") && !listed.contains("Globex"), "{listed}");
    let unknown = vendor.run(&["corrections", "remove", "mc_00000000000000000000000000000000"], dir);
    assert!(text(&unknown.stderr).contains("404"), "{}", text(&unknown.stderr));
}
