//! `blindmap`: privacy-preserving account mapping. A thin command line over the crates.

#![forbid(unsafe_code)]

mod bench;
mod input;
mod match_files;
mod policy_arg;
mod progress;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

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
    /// Match two CSV files through the real protocol, both parties in this process.
    ///
    /// Each file needs an `id` and a `segment` column and at least one key column (`domain`,
    /// `duns`, `name_country`; several values in one cell separated by `;`). Other columns are
    /// fields that a `fields` level can disclose.
    MatchFiles(match_files::MatchFilesArgs),
    /// Benchmarks.
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    #[command(subcommand)]
    which: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// A full mutual-overlaps session on two synthetic sets, checked against the plaintext
    /// intersection, with the cost floor measured in the same run.
    Psi(bench::PsiArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::MatchFiles(args) => match_files::run(&args),
        Command::Bench(BenchArgs { which: BenchCommand::Psi(args) }) => bench::psi(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Where output files go: written next to their destination and renamed into place, so that a
/// failed run never leaves a half-written file.
pub(crate) fn write_atomically(path: &PathBuf, contents: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = path.file_name().context("the output path names no file")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, contents).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot move the output into {}", path.display())
    })
}
