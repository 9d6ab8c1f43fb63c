//! `blindmap hooks …`: webhook endpoints, their delivery log, and the events by cursor.

use blindmap_server::api::Page;
use blindmap_server::api::hooks::{HookView, NewHook};
use clap::Subcommand;

use super::{Connection, client, runtime};
use crate::output::escaped;

#[derive(Subcommand)]
pub(crate) enum HooksCommand {
    /// Add a webhook endpoint and print its signing secret (shown once). Receivers verify
    /// deliveries with any Standard Webhooks library and that secret.
    Add {
        /// Where to post: https:// to a public address. Plain http://, and loopback, private or
        /// link-local addresses, only where the node's operator allows them (webhook_allow_http,
        /// webhook_allow in node.toml).
        url: String,
        /// An event kind to send (repeatable; default: all).
        #[arg(long = "event", value_name = "KIND",
            value_parser = clap::builder::PossibleValuesParser::new(blindmap_cosell::webhook::EVENT_KINDS.iter().copied()))]
        events: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the endpoints.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Enable an endpoint (its pending deliveries resume).
    Enable {
        /// The endpoint's id (`whe_…`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Disable an endpoint.
    Disable {
        /// The endpoint's id (`whe_…`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Send a test event (`webhook.test`) to an endpoint alone, signed and logged like any
    /// delivery: to check that its receiver gets and verifies deliveries (`hooks log` shows the
    /// attempt).
    Test {
        /// The endpoint's id (`whe_…`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show an endpoint's delivery log, newest first.
    Log {
        /// The endpoint's id (`whe_…`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Print the events after a cursor (all from the start without one) as JSON lines, and the
    /// cursor to continue from: what a receiver missed. Every event is there as soon as it is
    /// recorded, and continuing from the last cursor never skips one.
    Events {
        /// The cursor printed last time.
        #[arg(long)]
        after: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
}

fn show_hook(h: &HookView) {
    println!(
        "{}  {:<8} {}  events: {}  failures in a row: {}",
        escaped(&h.id),
        escaped(&h.state),
        escaped(&h.url),
        if h.events.is_empty() { "all".to_owned() } else { escaped(&h.events.join(", ")).into_owned() },
        h.consecutive_failures
    );
}

pub(crate) fn run(command: &HooksCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            HooksCommand::Add { url, events, connection } => {
                let h = client(connection)?.create_hook(&NewHook { url: url.clone(), events: events.clone() }).await?;
                show_hook(&h);
                println!("Signing secret (shown once; verify deliveries with it):");
                println!("  {}", escaped(h.secret.as_deref().unwrap_or("?")));
            }
            HooksCommand::List { connection } => {
                for h in &client(connection)?.hooks().await?.items {
                    show_hook(h);
                }
            }
            HooksCommand::Enable { id, connection } | HooksCommand::Disable { id, connection } => {
                let enable = matches!(command, HooksCommand::Enable { .. });
                show_hook(&client(connection)?.set_hook_enabled(id, enable).await?);
            }
            HooksCommand::Test { id, connection } => {
                let sent = client(connection)?.test_hook(id).await?;
                println!(
                    "Sent test event {} to {id}; `blindmap hooks log {id}` shows its delivery.",
                    escaped(&sent.event)
                );
            }
            HooksCommand::Log { id, connection } => {
                for a in &client(connection)?.deliveries(id, &Page::first(100)).await?.items {
                    let outcome = match (a.status, &a.error) {
                        (s, None) => format!("delivered ({})", s.map_or_else(|| "-".to_owned(), |s| s.to_string())),
                        (_, Some(e)) => format!("failed: {}", escaped(e)),
                    };
                    println!("{}  attempt {}  {}  {} ms", escaped(&a.event), a.attempt, outcome, a.duration_ms);
                }
            }
            HooksCommand::Events { after, connection } => {
                let page = Page { limit: Some(1000), cursor: after.clone() };
                let page = client(connection)?.events(&page).await?;
                for e in &page.items {
                    println!("{}", serde_json::to_string(e)?);
                }
                if let Some(next) = &page.next {
                    eprintln!("continue with --after {}", escaped(next));
                }
            }
        }
        Ok(())
    })
}
