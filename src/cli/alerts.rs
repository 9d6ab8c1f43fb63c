//! `blindmap alerts …`: alerts to the account owner — the chat tools they go to, the rules that
//! pick which overlap changes go where, and the log of what was sent.

use anyhow::Context;
use blindmap_server::api::alerts::{
    ChangesName, ChannelKindName, ChannelView, Digest, MessageQuery, MessageStateName, MessageView, NewChannel,
    NewRule, RouteName, RuleView,
};
use blindmap_server::rfc3339;
use clap::{Args, Subcommand, ValueEnum};

use super::{Connection, client, runtime};
use crate::output::escaped;

#[derive(Subcommand)]
pub(crate) enum AlertsCommand {
    /// Add a Slack workspace to send alerts to: its app's bot token (xoxb-…, with the scopes
    /// chat:write, users:read and users:read.email) from the environment, and the channel to
    /// fall back to. The app must be in that channel.
    Slack {
        /// What to call the channel, e.g. "Sales Slack".
        name: String,
        /// The environment variable holding the bot token (never an argument: it would show
        /// in the shell's history and the process list).
        #[arg(long, value_name = "VAR", default_value = "BLINDMAP_SLACK_TOKEN")]
        token_env: String,
        /// The Slack channel id (C…) for rules that send to the channel, and for owners not in
        /// the workspace. In Slack: the channel's details, at the bottom.
        #[arg(long, value_name = "ID")]
        fallback: Option<String>,
        /// Slack's Web API.
        #[arg(long, default_value = "https://slack.com/api/")]
        api_url: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Add a Microsoft Teams workflow to send alerts to ("Post to a channel when a webhook
    /// request is received"): its URL from the environment (it carries its signature).
    Teams {
        /// What to call the channel, e.g. "Sales Teams".
        name: String,
        /// The environment variable holding the workflow's URL.
        #[arg(long, value_name = "VAR", default_value = "BLINDMAP_TEAMS_WORKFLOW_URL")]
        url_env: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the channels (never their secrets).
    Channels {
        #[command(flatten)]
        connection: Connection,
    },
    /// Send a test message to a channel now: Slack's fallback channel, or the Teams workflow.
    Test {
        /// The channel's id (ach_…).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Remove a channel that no rule sends to.
    RemoveChannel {
        /// The channel's id (ach_…).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Make a rule: which overlap changes go to which channel, to whom, and when. E.g. new
    /// overlaps of your open opportunities with a partner's customers, to each account's owner:
    /// `alerts rule "Opps ∩ customers" --channel "Sales Slack" --own-segment "open opportunities"
    /// --partner-segment customers`.
    Rule(RuleArgs),
    /// List the rules.
    Rules {
        #[command(flatten)]
        connection: Connection,
    },
    /// Delete a rule, with its messages and their log.
    RemoveRule {
        /// The rule's id (alr_…).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// The newest messages the rules made, and how each went.
    Log {
        /// One rule's (its id, alr_…).
        #[arg(long)]
        rule: Option<String>,
        /// One state's.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// How many (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        connection: Connection,
    },
}

/// What `alerts rule` takes.
#[derive(Args)]
pub(crate) struct RuleArgs {
    /// What to call the rule.
    name: String,
    /// The channel: its name or id.
    #[arg(long)]
    channel: String,
    /// One partner's changes (its name or partnership id); all partners' without.
    #[arg(long)]
    partner: Option<String>,
    /// Changes in this segment of yours only.
    #[arg(long)]
    own_segment: Option<String>,
    /// Changes in this segment of the partner's only.
    #[arg(long)]
    partner_segment: Option<String>,
    /// Which changes.
    #[arg(long, value_enum, default_value_t = ChangesArg::New)]
    changes: ChangesArg,
    /// New overlaps of this tier only.
    #[arg(long, value_parser = ["confirmed", "possible"])]
    tier: Option<String>,
    /// Send to the channel, not to each account's owner.
    #[arg(long)]
    to_channel: bool,
    /// A daily digest at this time (HH:MM) instead of each run's changes at once.
    #[arg(long, value_name = "HH:MM", requires = "zone")]
    digest: Option<String>,
    /// The digest's time zone (IANA, e.g. Europe/Berlin).
    #[arg(long)]
    zone: Option<String>,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ChangesArg {
    /// New overlaps.
    New,
    /// Lost overlaps.
    Lost,
    /// Both.
    Both,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum StateArg {
    /// Waiting (a digest's time, or a retry).
    Pending,
    /// Sent.
    Delivered,
    /// Given up.
    Failed,
}

fn show_channel(c: &ChannelView) {
    let kind = match c.kind {
        ChannelKindName::Slack => format!(
            "Slack  fallback {}  {}",
            c.fallback_channel.as_deref().map_or_else(|| "none".into(), escaped),
            escaped(c.api_url.as_deref().unwrap_or_default())
        ),
        ChannelKindName::Teams => "Teams workflow".to_owned(),
    };
    println!("{}  {}  {kind}  added by {}", escaped(&c.id), escaped(&c.name), escaped(&c.created_by));
}

fn show_rule(r: &RuleView) {
    let changes = match r.changes {
        ChangesName::New => "new",
        ChangesName::Lost => "lost",
        ChangesName::Both => "new and lost",
    };
    let to = match r.route {
        RouteName::Owner => "each account's owner",
        RouteName::Channel => "the channel",
    };
    let when = r.digest.as_ref().map_or_else(|| "at once".to_owned(), |d| format!("daily at {} {}", d.at, d.zone));
    println!(
        "{}  {}: {changes} overlaps{}{}{}{} → {to} via {}, {when}",
        escaped(&r.id),
        escaped(&r.name),
        r.partnership.as_deref().map(|p| format!(" with {}", escaped(p))).unwrap_or_default(),
        r.own_segment.as_deref().map(|s| format!(" in your {}", escaped(s))).unwrap_or_default(),
        r.partner_segment.as_deref().map(|s| format!(" ∩ their {}", escaped(s))).unwrap_or_default(),
        r.tier.map(|t| format!(" ({})", t.as_str())).unwrap_or_default(),
        escaped(&r.channel_name),
    );
}

fn show_message(m: &MessageView) {
    let to = match (&m.recipient, &m.recipient_name) {
        (Some(email), Some(name)) => format!("{} <{}>", escaped(name), escaped(email)),
        (Some(email), None) => escaped(email).into_owned(),
        _ => "the channel".to_owned(),
    };
    let state = match m.state {
        MessageStateName::Pending => match m.next_attempt_at {
            Some(at) => format!("pending until {}", rfc3339(at)),
            None => "pending".to_owned(),
        },
        MessageStateName::Delivered => format!("delivered to {}", escaped(m.delivered_to.as_deref().unwrap_or("?"))),
        MessageStateName::Failed => "failed".to_owned(),
    };
    println!(
        "{}  {}  {}  to {to}: {} account{}  {state}  attempts {}{}",
        escaped(&m.id),
        rfc3339(m.created_at),
        escaped(&m.rule_name),
        m.accounts,
        if m.accounts == 1 { "" } else { "s" },
        m.attempts,
        m.last_error.as_deref().map(|e| format!("  ({})", escaped(e))).unwrap_or_default()
    );
}

pub(crate) fn run(command: &AlertsCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            AlertsCommand::Slack { name, token_env, fallback, api_url, connection } => {
                let token = std::env::var(token_env).with_context(|| {
                    format!("set the Slack app's bot token in the environment variable {token_env}")
                })?;
                let body = NewChannel::Slack {
                    name: name.clone(),
                    token,
                    fallback_channel: fallback.clone(),
                    api_url: Some(api_url.clone()),
                };
                show_channel(&client(connection)?.create_alert_channel(&body).await?);
            }
            AlertsCommand::Teams { name, url_env, connection } => {
                let url = std::env::var(url_env)
                    .with_context(|| format!("set the workflow's URL in the environment variable {url_env}"))?;
                let body = NewChannel::Teams { name: name.clone(), workflow_url: url };
                show_channel(&client(connection)?.create_alert_channel(&body).await?);
            }
            AlertsCommand::Channels { connection } => {
                for c in &client(connection)?.alert_channels().await?.items {
                    show_channel(c);
                }
            }
            AlertsCommand::Test { id, connection } => {
                let sent = client(connection)?.test_alert_channel(id).await?;
                match (&sent.delivered_to, &sent.error) {
                    (Some(to), _) if sent.delivered => println!("Sent a test message to {}.", escaped(to)),
                    (_, error) => anyhow::bail!(
                        "the test message did not go: {}",
                        escaped(error.as_deref().unwrap_or("no reason given"))
                    ),
                }
            }
            AlertsCommand::RemoveChannel { id, connection } => {
                client(connection)?.delete_alert_channel(id).await?;
                println!("Removed {}.", escaped(id));
            }
            AlertsCommand::Rule(args) => {
                let api = client(&args.connection)?;
                let partnership = match &args.partner {
                    Some(p) => Some(super::partnership_id(&api, p).await?),
                    None => None,
                };
                let body = NewRule {
                    name: args.name.clone(),
                    channel: args.channel.clone(),
                    partnership,
                    own_segment: args.own_segment.clone(),
                    partner_segment: args.partner_segment.clone(),
                    changes: match args.changes {
                        ChangesArg::New => ChangesName::New,
                        ChangesArg::Lost => ChangesName::Lost,
                        ChangesArg::Both => ChangesName::Both,
                    },
                    tier: args.tier.as_deref().and_then(blindmap_records::Tier::parse),
                    route: if args.to_channel { RouteName::Channel } else { RouteName::Owner },
                    digest: args
                        .digest
                        .as_ref()
                        .map(|at| Digest { at: at.clone(), zone: args.zone.clone().unwrap_or_default() }),
                };
                show_rule(&api.create_alert_rule(&body).await?);
            }
            AlertsCommand::Rules { connection } => {
                for r in &client(connection)?.alert_rules().await?.items {
                    show_rule(r);
                }
            }
            AlertsCommand::RemoveRule { id, connection } => {
                client(connection)?.delete_alert_rule(id).await?;
                println!("Deleted {} and its messages.", escaped(id));
            }
            AlertsCommand::Log { rule, state, limit, connection } => {
                let query = MessageQuery {
                    rule: rule.clone(),
                    state: state.map(|s| match s {
                        StateArg::Pending => MessageStateName::Pending,
                        StateArg::Delivered => MessageStateName::Delivered,
                        StateArg::Failed => MessageStateName::Failed,
                    }),
                    limit: Some(*limit),
                };
                let list = client(connection)?.alert_messages(&query).await?;
                if list.items.is_empty() {
                    println!("No messages yet.");
                }
                for m in &list.items {
                    show_message(m);
                }
            }
        }
        Ok(())
    })
}
