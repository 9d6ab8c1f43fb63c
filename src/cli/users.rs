//! `blindmap users …`: an organisation's users and their tokens, through the node's API.

use blindmap_server::api::users::{NewRole, NewToken, NewUser};
use clap::Subcommand;

use super::{Connection, client, runtime};
use crate::output::escaped;

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
    /// Issue a one-time sign-in link to the reports pages for a user (valid 15 minutes, once).
    Link {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Revoke a token: it authenticates no more, and the browser sessions signed in with it end.
    Revoke {
        /// The token's id (`tok_…`, from `users list`).
        #[arg(value_name = "TOKEN_ID")]
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Disable a user: its tokens stop working at once and its browser sessions end, until it is
    /// enabled again. The organisation's last active admin cannot be disabled.
    Disable {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Enable a disabled user again: its tokens that were not revoked work again.
    Enable {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Give a user another role: admin, rep or integration. Its tokens and sessions act with the
    /// new role at once; the organisation's last active admin keeps its role. (A single sign-on
    /// user gets the role its provider's groups map to again when it next signs in.)
    Role {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        /// admin, rep or integration.
        role: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Remove a user for good: its tokens are revoked and its browser sessions end. It stays
    /// listed as removed, and its name stays taken (the audit trail names it).
    Remove {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Sign a user out of the pages everywhere: every browser session it has ends (its tokens
    /// keep working).
    Signout {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        #[command(flatten)]
        connection: Connection,
    },
}

pub(crate) fn run(command: &UsersCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            UsersCommand::List { connection } => {
                for u in &client(connection)?.users().await? {
                    println!("{}  {:<24} {}", escaped(&u.id), escaped(&u.name), escaped(&u.role));
                    if u.state != "active" {
                        println!("    ({})", escaped(&u.state));
                    }
                    for t in &u.tokens {
                        let state = if t.revoked_at.is_none() { "active" } else { "revoked" };
                        println!("    {}  {:<20} {state}", escaped(&t.id), escaped(&t.label));
                    }
                }
            }
            UsersCommand::Add { name, role, label, connection } => {
                let body = NewUser { name: name.clone(), role: role.clone(), token_label: Some(label.clone()) };
                let made = client(connection)?.create_user(&body).await?;
                println!("Added {} ({}) as {}.", escaped(&made.name), escaped(&made.role), escaped(&made.id));
                println!("Token {} (shown once; only its hash is kept):", escaped(&made.token.id));
                println!("  {}", escaped(&made.token.token));
            }
            UsersCommand::Token { user, label, connection } => {
                let t = client(connection)?.issue_token(user, &NewToken { label: label.clone() }).await?;
                println!("Token {} (shown once; only its hash is kept):", escaped(&t.id));
                println!("  {}", escaped(&t.token));
            }
            UsersCommand::Link { user, connection } => {
                let link = client(connection)?.signin_link(user).await?;
                println!(
                    "Sign-in link (works once, until {}; hand it over as you would a token):",
                    escaped(&link.expires_at)
                );
                println!("  {}", escaped(&link.url));
            }
            UsersCommand::Revoke { id, connection } => {
                client(connection)?.revoke_token(id).await?;
                println!("Revoked {}.", escaped(id));
            }
            UsersCommand::Disable { user, connection } | UsersCommand::Enable { user, connection } => {
                let enable = matches!(command, UsersCommand::Enable { .. });
                let u = client(connection)?.set_user_enabled(user, enable).await?;
                println!("{user} is {}.", escaped(&u.state));
            }
            UsersCommand::Role { user, role, connection } => {
                let u = client(connection)?.set_user_role(user, &NewRole { role: role.clone() }).await?;
                println!("{} ({user}) is {} now.", escaped(&u.name), escaped(&u.role));
            }
            UsersCommand::Remove { user, connection } => {
                client(connection)?.delete_user(user).await?;
                println!("Removed {user}: its tokens are revoked and its sessions ended.");
            }
            UsersCommand::Signout { user, connection } => {
                let ended = client(connection)?.end_sessions(user).await?;
                println!("Signed {user} out everywhere: {} sessions ended.", ended.sessions_ended);
            }
        }
        Ok(())
    })
}
