//! `blindmap sso …`: single sign-on for an organisation's users with its OpenID provider, through
//! the node's API (admins only). The client secret is read from the environment, never from the
//! command line (where other users of the machine could see it), and never printed.

use anyhow::Context;
use blindmap_server::api::sso::{RoleMapping, SsoConfigInput, SsoConfigView};
use clap::{Args, Subcommand};

use super::{Connection, client, runtime};
use crate::output::escaped;

#[derive(Subcommand)]
pub(crate) enum SsoCommand {
    /// Set the organisation's single sign-on (replacing any). The node reads the provider's
    /// discovery document first and refuses an issuer it cannot read. Register the node at the
    /// provider as a confidential client with the redirect URI `https://<node>/signin/sso/callback`
    /// (printed here).
    Set(Box<SetArgs>),
    /// Show the organisation's single sign-on settings (never the client secret).
    Show {
        #[command(flatten)]
        connection: Connection,
    },
    /// Remove the organisation's single sign-on: users it made stay, and sign in with tokens or
    /// links.
    Remove {
        #[command(flatten)]
        connection: Connection,
    },
}

/// What `sso set` takes.
#[derive(Args)]
pub(crate) struct SetArgs {
    /// The provider's issuer URL, as its discovery document states it (https://, or http://
    /// on 127.0.0.1 or localhost only).
    #[arg(long)]
    issuer: String,
    /// The node's client id at the provider.
    #[arg(long)]
    client_id: String,
    /// The environment variable holding the client secret (kept sealed on the node, never
    /// shown again).
    #[arg(long, value_name = "VAR", default_value = "BLINDMAP_SSO_CLIENT_SECRET")]
    client_secret_env: String,
    /// A scope to ask for besides openid (repeat it; default: profile, email, groups).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// The ID token claim whose values say the role (a string or a list of strings).
    #[arg(long, default_value = "groups")]
    role_claim: String,
    /// A claim value that gives the admin role (repeat it).
    #[arg(long = "admin", value_name = "VALUE")]
    admins: Vec<String>,
    /// A claim value that gives the rep role (repeat it).
    #[arg(long = "rep", value_name = "VALUE")]
    reps: Vec<String>,
    /// The role (admin or rep) of a user none of whose values maps; without it such a user
    /// is refused.
    #[arg(long)]
    default_role: Option<String>,
    /// Only users with a verified e-mail address at this domain may sign in.
    #[arg(long)]
    email_domain: Option<String>,
    #[command(flatten)]
    connection: Connection,
}

fn print(view: &SsoConfigView) {
    println!("issuer        {}", escaped(&view.issuer));
    println!("client id     {}", escaped(&view.client_id));
    println!("redirect URI  {}", escaped(&view.redirect_uri));
    println!("scopes        openid {}", escaped(&view.scopes.join(" ")));
    println!("role claim    {}", escaped(&view.role_claim));
    for mapping in &view.role_map {
        println!("  {:<24} -> {}", escaped(&mapping.value), escaped(&mapping.role));
    }
    println!("otherwise     {}", escaped(view.default_role.as_deref().unwrap_or("refused")));
    if let Some(domain) = &view.email_domain {
        println!("e-mail domain {}", escaped(domain));
    }
    println!("set by        {} at {}", escaped(&view.updated_by), escaped(&view.updated_at));
}

pub(crate) fn run(command: &SsoCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            SsoCommand::Set(args) => {
                let SetArgs {
                    issuer,
                    client_id,
                    client_secret_env,
                    scopes,
                    role_claim,
                    admins,
                    reps,
                    default_role,
                    email_domain,
                    connection,
                } = &**args;
                let client_secret = std::env::var(client_secret_env).with_context(|| {
                    format!("set the client secret in the environment variable {client_secret_env}")
                })?;
                let mapping = |role: &str, values: &[String]| {
                    values.iter().map(|v| RoleMapping { value: v.clone(), role: role.to_owned() }).collect::<Vec<_>>()
                };
                let body = SsoConfigInput {
                    issuer: issuer.clone(),
                    client_id: client_id.clone(),
                    client_secret,
                    scopes: (!scopes.is_empty()).then(|| scopes.clone()),
                    role_claim: Some(role_claim.clone()),
                    role_map: [mapping("admin", admins), mapping("rep", reps)].concat(),
                    default_role: default_role.clone(),
                    email_domain: email_domain.clone(),
                };
                print(&client(connection)?.set_sso(&body).await?);
            }
            SsoCommand::Show { connection } => print(&client(connection)?.sso().await?),
            SsoCommand::Remove { connection } => {
                client(connection)?.remove_sso().await?;
                println!("Single sign-on removed; the users it made stay.");
            }
        }
        Ok(())
    })
}
