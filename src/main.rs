//! `blindmap`: privacy-preserving account mapping. A thin command line over the crates.

#![forbid(unsafe_code)]

#[cfg(feature = "bench")]
mod bench;
mod cli;
mod input;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The process's allocator: mimalloc, which hands memory a match freed back to the system
/// (glibc's malloc kept most of it: a node's own memory went from 30 MiB idle to 1.67 GiB after
/// 30 runs at 200,000 accounts a side, `blindmap bench runs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use crate::cli::{
    accounts, alerts, attribution, changes, corrections, cosell, crm, datasets, deals, demo, files, hooks, inspect,
    matching, node, partners, sso, users,
};

/// Match account lists with a partner without revealing them: each side learns only what the
/// other agreed to share.
#[derive(Parser)]
#[command(name = "blindmap", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole product in one command: a vendor's node and a partner's start on loopback,
    /// import the bundled sample CRM exports, pair over mutual TLS, match, and print both
    /// sides' overlap matrices and overlapping accounts, with a transcript of every frame.
    Demo(demo::DemoArgs),
    /// Match two CRM exports through the real protocol, both parties in this process.
    ///
    /// Each file is read with a preset (Salesforce Account export, HubSpot Companies export, or
    /// blindmap's plain `id,segment,name,country,domain,duns,…` format — chosen by its header unless
    /// named) or an explicit column mapping, and normalised into `domain`, `duns` and
    /// `name_country` keys. Writes `left_id,right_id,key_type` for every matched pair with --out.
    MatchFiles(files::MatchFilesArgs),
    /// Show what the importer makes of an export: each account's keys and segment, the values it
    /// could not use and why, rows left out, and a summary.
    ///
    /// A mapping file is TOML; every key is optional, and with `preset` it changes only what it
    /// names:
    ///
    ///     preset = "salesforce"
    ///     delimiter = ";"
    ///     segments = ["customers: Type in [Customer - Direct, Customer - Channel]",
    ///                 "open_opportunities: Open Opportunities > 0",
    ///                 "prospects: everything else"]
    ///     [columns]
    ///     domain = ["Website", "Secondary Website"]
    ///     email = ["Primary Contact Email"]
    ///     [fields]
    ///     region = "Sales Region"
    ///
    /// Roles under [columns]: id, name, country, city, domain, email, duns, segment (labels taken from a
    /// column instead of rules). Segment rules test columns with in [..], not in [..], =, !=,
    /// starts with, contains, is empty, is not empty, >, >=, <, <=, joined by `and`; the first
    /// rule that holds places the account, `everything else` catches the rest.
    Inspect(inspect::InspectArgs),
    /// Set up a node: TLS identity, configuration, store, first organisation and admin token.
    Init(node::InitArgs),
    /// Run a node: serve its API over HTTPS until SIGTERM or Ctrl-C (then finish requests in flight).
    Serve(node::ServeArgs),
    /// Datasets on a node: import a CRM export, list them.
    Datasets {
        #[command(subcommand)]
        command: datasets::DatasetsCommand,
    },
    /// An organisation's users and API tokens on its node: list, add, issue, revoke.
    Users {
        #[command(subcommand)]
        command: users::UsersCommand,
    },
    /// Single sign-on for the organisation's users with its OpenID provider: set, show, remove.
    Sso {
        #[command(subcommand)]
        command: sso::SsoCommand,
    },
    /// CRM connections: read accounts straight from Salesforce or HubSpot into a new dataset, and
    /// write the overlaps back where reps work (salesforce, hubspot, authorize, update, list,
    /// sync, syncs, write-back, write-backs, metadata, remove).
    Crm {
        #[command(subcommand)]
        command: crm::CrmCommand,
    },
    /// Co-sell records on overlapping accounts, kept in step with the partner's node: list,
    /// show, create, edit.
    Cosell {
        #[command(subcommand)]
        command: cosell::CoSellCommand,
    },
    /// Your accounts across partners: those several partners have, by priority (ecosystem), and
    /// which partner to bring into a deal on one.
    Accounts {
        #[command(subcommand)]
        command: accounts::AccountsCommand,
    },
    /// What matches changed, account by account: the accounts that came into or went out of a
    /// cell of a partner's overlap matrix since the match before, with their owners (newest
    /// first; a partnership's first match is its baseline).
    Changes(changes::ChangesArgs),
    /// Show or set what the organisation keeps: the latest runs of each partnership (older runs,
    /// their overlaps and the datasets no kept run matched are deleted) and days of changes.
    Retention(changes::RetentionArgs),
    /// Corrections of matches: mark a match wrong ("not this match") or an account as never to
    /// be matched with a partner; it is hidden at once and in every later match, and the partner
    /// is not told. List and undo them.
    Corrections {
        #[command(subcommand)]
        command: corrections::CorrectionsCommand,
    },
    /// Deal registrations: pre-check and register deals with a vendor; approve, reject, extend
    /// and close those partners register with you.
    Deal {
        #[command(subcommand)]
        command: deals::DealCommand,
    },
    /// Partner attribution: record partner touches on opportunities, close them won, and see who
    /// gets credit under each model in the ledger; inbound webhook sources for partners' systems.
    Attribution {
        #[command(subcommand)]
        command: attribution::AttributionCommand,
    },
    /// Alerts to the account owner: Slack and Teams channels, the rules that send overlap changes
    /// to each account's owner or a channel (at once or in a daily digest), and their log.
    Alerts {
        #[command(subcommand)]
        command: alerts::AlertsCommand,
    },
    /// Webhooks: endpoints that receive the organisation's events signed as Standard Webhooks,
    /// their delivery log, and the events by cursor.
    Hooks {
        #[command(subcommand)]
        command: hooks::HooksCommand,
    },
    /// Organisations on a hosted node (run on the node's machine): `org add NAME`.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Partnerships with other organisations' nodes: invite, accept, list, sharing, end.
    Partner {
        #[command(subcommand)]
        command: partners::PartnerCommand,
    },
    /// Match with a partner: this organisation's node runs the protocol with the partner's node
    /// over mutual TLS, each side disclosing what its sharing policy allows, and stores the result.
    ///
    /// Prints the overlap matrix (your segments × the partner's), what changed since the last run
    /// with this partner, and the first overlapping accounts where the partner shares them. With
    /// --transcript, every frame that crossed the connection is written to a file.
    ///
    /// A partner without a node matches a local export against the vendor's node with
    /// `--remote`: the first time with the vendor's invite code,
    /// `blindmap match --remote bminvite1.… --organisation "Partner Co" accounts.csv`, then with
    /// the node's URL, `blindmap match --remote https://vendor.example:7443 accounts.csv`.
    Match(matching::MatchArgs),
    /// Benchmarks (built with `--features bench`; not in the shipped binary).
    #[cfg(feature = "bench")]
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Add an organisation, fully isolated from the others, with its first admin.
    Add(node::OrgAddArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::MatchFiles(args) => files::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Init(args) => node::run_init(&args),
        Command::Serve(args) => node::run_serve(&args),
        Command::Datasets { command } => datasets::run(&command),
        Command::Partner { command } => partners::run(&command),
        Command::Users { command } => users::run(&command),
        Command::Sso { command } => sso::run(&command),
        Command::Crm { command } => crm::run(&command),
        Command::Alerts { command } => alerts::run(&command),
        Command::Hooks { command } => hooks::run(&command),
        Command::Cosell { command } => cosell::run(&command),
        Command::Corrections { command } => corrections::run(&command),
        Command::Changes(args) => changes::run(&args),
        Command::Retention(args) => changes::retention(&args),
        Command::Accounts { command } => accounts::run(&command),
        Command::Deal { command } => deals::run(&command),
        Command::Attribution { command } => attribution::run(&command),
        Command::Org { command: OrgCommand::Add(args) } => node::run_org_add(&args),
        Command::Match(args) => matching::run(&args),
        #[cfg(feature = "bench")]
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error as one line for the terminal: each cause in turn (a cause that only repeats the
/// one before it is left out); a node's refusal with its status, except a node's 502, which
/// relays its partner's refusal in the partner's words and says so; escaped as all text from
/// elsewhere is (see [`output::escaped`]).
fn describe(e: &anyhow::Error) -> String {
    use blindmap_server::client::ClientError;
    use blindmap_server::client::remote::RemoteError;
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let client = cause.downcast_ref::<ClientError>().or(match cause.downcast_ref::<RemoteError>() {
            Some(RemoteError::Client(c)) => Some(c),
            _ => None,
        });
        let text = match client {
            Some(ClientError::Api { status, detail }) if status.as_u16() != 502 => {
                format!("the node refused ({status}): {detail}")
            }
            _ => cause.to_string(),
        };
        if !parts.last().is_some_and(|previous| previous.ends_with(&text)) {
            parts.push(text);
        }
    }
    output::escaped(&parts.join(": ")).into_owned()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
