//! `blindmap users …` (an organisation's users and tokens, through the node's API) and
//! `blindmap org add` (another organisation on a hosted node, on the node's machine).

use std::path::PathBuf;

use anyhow::Context;
use blindmap_server::client::Method;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::node_cli::{Connection, all_items, client, encode, runtime};

#[derive(Subcommand)]
pub(crate) enum UsersCommand {
    /// List the organisation's users and their tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Add a user and print their first token (shown once).
    Add {
        /// The user's name.
        name: String,
        /// admin (everything), rep (reads runs, overlaps and reports) or integration (uploads
        /// datasets and starts runs, for scripts).
        #[arg(long, default_value = "rep")]
        role: String,
        /// A label for the token.
        #[arg(long, default_value = "first token")]
        label: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Issue another token to a user (shown once).
    Token {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        /// What it is for.
        #[arg(long)]
        label: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Revoke a token: it authenticates no more.
    Revoke {
        /// The token's id (`tok_…`, from `users list`).
        #[arg(value_name = "TOKEN_ID")]
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
}

pub(crate) fn run_users(command: &UsersCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let body = |v: Value| Some((serde_json::to_vec(&v).expect("JSON"), "application/json"));
        match command {
            UsersCommand::List { connection } => {
                for u in &all_items(&client(connection)?, "/api/v1/users").await? {
                    println!(
                        "{}  {:<24} {}",
                        u["id"].as_str().unwrap_or("?"),
                        u["name"].as_str().unwrap_or("?"),
                        u["role"].as_str().unwrap_or("?")
                    );
                    for t in u["tokens"].as_array().into_iter().flatten() {
                        let state = if t["revoked_at"].is_null() { "active" } else { "revoked" };
                        println!(
                            "    {}  {:<20} {state}",
                            t["id"].as_str().unwrap_or("?"),
                            t["label"].as_str().unwrap_or("?")
                        );
                    }
                }
            }
            UsersCommand::Add { name, role, label, connection } => {
                let made: Value = client(connection)?
                    .call(
                        Method::POST,
                        "/api/v1/users",
                        body(json!({ "name": name, "role": role, "token_label": label })),
                        &[],
                    )
                    .await?;
                println!(
                    "Added {} ({}) as {}.",
                    made["name"].as_str().unwrap_or("?"),
                    made["role"].as_str().unwrap_or("?"),
                    made["id"].as_str().unwrap_or("?")
                );
                println!("Token {} (shown once; only its hash is kept):", made["token"]["id"].as_str().unwrap_or("?"));
                println!("  {}", made["token"]["token"].as_str().unwrap_or("?"));
            }
            UsersCommand::Token { user, label, connection } => {
                let path = format!("/api/v1/users/{}/tokens", encode(user));
                let t: Value =
                    client(connection)?.call(Method::POST, &path, body(json!({ "label": label })), &[]).await?;
                println!("Token {} (shown once; only its hash is kept):", t["id"].as_str().unwrap_or("?"));
                println!("  {}", t["token"].as_str().unwrap_or("?"));
            }
            UsersCommand::Revoke { id, connection } => {
                let path = format!("/api/v1/tokens/{}", encode(id));
                client(connection)?.call_empty(Method::DELETE, &path).await?;
                println!("Revoked {id}.");
            }
        }
        Ok(())
    })
}

#[derive(Args)]
pub(crate) struct OrgAddArgs {
    /// The new organisation's name.
    name: String,
    /// Its first admin user.
    #[arg(long, default_value = "admin", value_name = "NAME")]
    admin: String,
    /// The node's data folder (this runs on the node's machine).
    #[arg(long, env = "BLINDMAP_DATA_DIR", default_value = "blindmap-data", value_name = "DIR")]
    data_dir: PathBuf,
}

pub(crate) fn run_org_add(args: &OrgAddArgs) -> anyhow::Result<()> {
    let token = runtime()?
        .block_on(blindmap_server::node::add_organisation(&args.data_dir, &args.name, &args.admin))
        .with_context(|| format!("cannot add {:?}", args.name))?;
    println!("Added the organisation {} to the node in {}.", args.name, args.data_dir.display());
    println!("Admin token for {} (shown once; only its hash is kept):", args.admin);
    println!("  {}", token.expose());
    Ok(())
}
