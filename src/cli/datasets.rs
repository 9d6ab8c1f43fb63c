//! `blindmap datasets …`: the organisation's CRM exports on its node.

use std::path::{Path, PathBuf};

use anyhow::Context;
use blindmap_server::api::datasets::{DeleteParams, PresetName, UploadParams};
use clap::Subcommand;

use super::{Connection, client, named, runtime};
use crate::output::escaped;

#[derive(Subcommand)]
pub(crate) enum DatasetsCommand {
    /// Upload a CRM export to the node as a new dataset (all or nothing).
    Import {
        /// The CSV export.
        file: PathBuf,
        /// salesforce, hubspot or generic (default: chosen by the header).
        #[arg(long)]
        preset: Option<String>,
        /// The dataset's name (default: the file name).
        #[arg(long)]
        name: Option<String>,
        /// Makes a retried upload safe: the node answers a repeat with the first result.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Make it the active dataset (the one matches use) once imported. The first dataset
        /// becomes active anyway; later ones wait for `datasets use` unless this is given.
        #[arg(long)]
        activate: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the organisation's datasets; the active one (what matches use) is marked `*`.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Make a dataset the active one: what matches use from now on.
    Use {
        /// The dataset (`ds_…`, from `datasets list`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Delete a dataset that is not the active one.
    Delete {
        /// The dataset (`ds_…`).
        id: String,
        /// Also delete the runs that matched it (their results; the audit trail keeps what they
        /// revealed). Without it, a dataset that runs matched is kept.
        #[arg(long)]
        with_runs: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

pub(crate) fn run(command: &DatasetsCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            DatasetsCommand::Import { file, preset, name, idempotency_key, activate, connection } => {
                let api = client(connection)?;
                let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
                if preset.is_none() {
                    recognised(file, &bytes)?;
                }
                let name = name.clone().unwrap_or_else(|| {
                    file.file_name().map_or_else(|| "dataset".to_owned(), |n| n.to_string_lossy().into_owned())
                });
                let preset = preset.as_deref().map(preset_name).transpose()?;
                let params = UploadParams { name: name.clone(), preset, activate: *activate };
                let d = api.import_dataset(&params, bytes, idempotency_key.as_deref()).await?;
                println!(
                    "Imported {} as {} ({}): {} rows, {} accounts",
                    escaped(&name),
                    escaped(&d.id),
                    escaped(&d.read_as),
                    d.rows,
                    d.accounts
                );
                if d.active {
                    println!("It is the active dataset: matches use it.");
                } else {
                    println!(
                        "Matches still use the active dataset; to use this one: blindmap datasets use {}",
                        escaped(&d.id)
                    );
                }
            }
            DatasetsCommand::List { connection } => {
                let items = client(connection)?.datasets().await?;
                for d in &items {
                    println!(
                        "{} {}  {:<32} {:>9} accounts  {}",
                        if d.active { "*" } else { " " },
                        escaped(&d.id),
                        escaped(&d.name),
                        d.accounts,
                        escaped(&d.read_as)
                    );
                }
                if !items.is_empty() {
                    println!("(* the active dataset: matches use it; change it with `blindmap datasets use ID`)");
                }
            }
            DatasetsCommand::Use { id, connection } => {
                let d = client(connection)?.activate_dataset(id).await?;
                println!("{} ({}) is now the active dataset: matches use it", escaped(&d.name), escaped(&d.id));
            }
            DatasetsCommand::Delete { id, with_runs, connection } => {
                let d = client(connection)?.delete_dataset(id, &DeleteParams { with_runs: *with_runs }).await?;
                println!("Deleted {} and {} run(s) made with it", escaped(&d.dataset), d.runs);
            }
        }
        Ok(())
    })
}

/// Checks that a preset recognises the export's header before it is sent (the node would refuse
/// it, in the API's terms); the command's own flag names the way out.
fn recognised(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let shown = file.display().to_string();
    let header = blindmap_records::read_header(&shown, bytes, None)?;
    if blindmap_records::Preset::detect(&header).is_none() {
        let columns: Vec<String> = header.iter().map(|h| format!("{h:?}")).collect();
        anyhow::bail!(
            "{shown}: cannot tell which export this is from its header ({}); name it with --preset salesforce, \
             hubspot or generic",
            columns.join(", ")
        );
    }
    Ok(())
}

/// A preset's name as the API takes it.
fn preset_name(name: &str) -> anyhow::Result<PresetName> {
    named(name).ok_or_else(|| anyhow::anyhow!("{name:?} is not a preset: salesforce, hubspot or generic"))
}
