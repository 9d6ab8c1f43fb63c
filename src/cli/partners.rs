//! `blindmap partner …`: partnerships with other organisations' nodes, and what each shares.

use blindmap_server::api::partnerships::{
    AcceptInvite, BrowserLinkView, NewBrowserPartner, PartnershipView, RenewLink, RuleView,
};
use clap::Subcommand;

use super::{Connection, client, partnership_id, runtime};
use crate::output::escaped;

#[derive(Subcommand)]
pub(crate) enum PartnerCommand {
    /// Print a one-time invite code (valid 24 hours) to give the partner's admin.
    Invite {
        #[command(flatten)]
        connection: Connection,
    },
    /// Invite a partner without a node to match in its browser: records the partnership (sharing
    /// overlaps of every segment; change it with `partner sharing`) and prints the link to send
    /// it. The partner opens the link, drops its CRM export into the page and matches; its list
    /// never leaves its browser. The link works until it expires or is renewed.
    InviteBrowser {
        /// The partner organisation's name, as you will call it.
        partner: String,
        /// How many days the link works (1 to 365).
        #[arg(long, default_value_t = 30, value_name = "DAYS")]
        days: u32,
        #[command(flatten)]
        connection: Connection,
    },
    /// Replace a browser partner's link with a new one: the old link stops working at once.
    Link {
        /// The partner's name, or the partnership's id (`pt_…`).
        partner: String,
        /// How many days the new link works (1 to 365).
        #[arg(long, default_value_t = 30, value_name = "DAYS")]
        days: u32,
        #[command(flatten)]
        connection: Connection,
    },
    /// Accept a partner's invite code: this node calls theirs over mutual TLS, and both pin
    /// each other's certificate from then on.
    Accept {
        /// The code the partner's admin gave you.
        code: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the partnerships.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Show or set what this side shares with a partner (a run uses the policy both sides hold
    /// at its start). Without options, shows it.
    ///
    /// Rules are `OWN:PARTNER=LEVEL`: this side's segment and the partner's (either may be `*`),
    /// and one of hidden, counts, overlaps, or fields:NAME[,NAME…] (overlaps plus those fields of
    /// your matching accounts). The most specific rule applies; pairs no rule covers share counts.
    /// Example: --rule '*:*=overlaps' --rule 'prospects:*=hidden' --threshold 5
    Sharing {
        /// The partner's name, or the partnership's id (`pt_…`).
        partner: String,
        /// A rule; replaces every current rule (repeat for several).
        #[arg(long = "rule", value_name = "OWN:PARTNER=LEVEL")]
        rules: Vec<String>,
        /// Remove every rule (share counts only).
        #[arg(long, conflicts_with = "rules")]
        clear_rules: bool,
        /// Counts below this show as "< K".
        #[arg(long, value_name = "K")]
        threshold: Option<u32>,
        /// Serve no partner segment smaller than this many accounts.
        #[arg(long, value_name = "N")]
        min_segment: Option<u32>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show or set when runs with a partner start by themselves: every day at a time, every so
    /// many hours, or after each new dataset. The partner's node is asked what it allows against
    /// it: a schedule more often than that is refused. Without options, shows it.
    /// Example: --daily 07:30 --zone Europe/Berlin
    Schedule {
        /// The partner's name, or the partnership's id (`pt_…`).
        partner: String,
        #[command(flatten)]
        when: super::schedules::When,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show or set what a partner may run against this side: how often, how much its declared
    /// list may change between runs, and the smallest segment served. Runs beyond it are refused
    /// before anything is disclosed, and listed by `partner against`. Without options, shows it.
    Budget {
        /// The partner's name, or the partnership's id (`pt_…`).
        partner: String,
        #[command(flatten)]
        limits: super::schedules::Limits,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the scheduled runs (of one partner, or all) and what became of them.
    Jobs {
        /// The partner's name, or the partnership's id (`pt_…`); all partners without it.
        partner: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the runs partners started against this side, and those its budgets refused.
    Against {
        /// The partner's name, or the partnership's id (`pt_…`); all partners without it.
        partner: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// End a partnership: no data flows any more, on either side.
    End {
        /// The partnership's id (`pt_…`, from `partner list`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
}

pub(crate) fn run(command: &PartnerCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let show = |p: &PartnershipView| {
            let reached = if p.in_browser {
                "in the browser, through a link".to_owned()
            } else {
                format!("{}  {}", escaped(&p.partner_url), escaped(&p.partner_fingerprint))
            };
            println!("{}  {:<24} {:<7} {reached}", escaped(&p.id), escaped(&p.partner), escaped(&p.state));
        };
        match command {
            PartnerCommand::Invite { connection } => {
                let invite = client(connection)?.invite().await?;
                println!("Give this code to the partner's admin (valid once, for 24 hours):");
                println!("{}", escaped(&invite.code));
            }
            PartnerCommand::InviteBrowser { partner, days, connection } => {
                let body = NewBrowserPartner { partner: partner.clone(), days: Some(*days) };
                show_link(&client(connection)?.invite_browser(&body).await?);
            }
            PartnerCommand::Link { partner, days, connection } => {
                let api = client(connection)?;
                let id = partnership_id(&api, partner).await?;
                show_link(&api.renew_link(&id, &RenewLink { days: Some(*days) }).await?);
            }
            PartnerCommand::Accept { code, connection } => {
                let p = client(connection)?.accept_invite(&AcceptInvite { code: code.clone() }).await?;
                println!("Paired with {}:", escaped(&p.partner));
                show(&p);
            }
            PartnerCommand::List { connection } => {
                for p in &client(connection)?.partnerships().await? {
                    show(p);
                }
            }
            PartnerCommand::Sharing { partner, rules, clear_rules, threshold, min_segment, connection } => {
                let api = client(connection)?;
                let id = partnership_id(&api, partner).await?;
                let mut policy = api.sharing(&id).await?;
                let changing = !rules.is_empty() || *clear_rules || threshold.is_some() || min_segment.is_some();
                if changing {
                    if !rules.is_empty() || *clear_rules {
                        policy.rules = rules.iter().map(|r| parse_rule(r)).collect::<anyhow::Result<_>>()?;
                    }
                    if let Some(k) = threshold {
                        policy.threshold = *k;
                    }
                    if let Some(n) = min_segment {
                        policy.min_partner_segment = *n;
                    }
                    policy = api.set_sharing(&id, &policy).await?;
                    println!("Sharing with {} is now:", escaped(partner));
                } else {
                    println!("Sharing with {}:", escaped(partner));
                }
                for r in &policy.rules {
                    let level = if r.fields.is_empty() {
                        r.level.clone()
                    } else {
                        format!("{}:{}", r.level, r.fields.join(","))
                    };
                    println!("  {}:{}={}", escaped(&r.own_segment), escaped(&r.partner_segment), escaped(&level));
                }
                println!("  everything else: counts");
                println!(
                    "  threshold {}, smallest partner segment served {}",
                    policy.threshold, policy.min_partner_segment
                );
            }
            PartnerCommand::Schedule { partner, when, connection } => {
                super::schedules::schedule(&client(connection)?, partner, when).await?;
            }
            PartnerCommand::Budget { partner, limits, connection } => {
                super::schedules::budget(&client(connection)?, partner, limits).await?;
            }
            PartnerCommand::Jobs { partner, connection } => {
                super::schedules::jobs(&client(connection)?, partner.as_deref()).await?;
            }
            PartnerCommand::Against { partner, connection } => {
                super::schedules::against(&client(connection)?, partner.as_deref()).await?;
            }
            PartnerCommand::End { id, connection } => {
                show(&client(connection)?.end_partnership(id).await?);
            }
        }
        Ok(())
    })
}

/// A browser partner's link, with what to do with it.
fn show_link(link: &BrowserLinkView) {
    let expires = blindmap_server::rfc3339(link.expires_at);
    println!(
        "Send this link to {} over a channel you trust (it works until {expires}):",
        escaped(&link.partnership.partner)
    );
    println!("{}", escaped(&link.link));
    println!("Anyone holding it can match against your list as this partner; `blindmap partner link` replaces it.");
}

/// `OWN:PARTNER=LEVEL` as the API's rule.
fn parse_rule(text: &str) -> anyhow::Result<RuleView> {
    let usage =
        || format!("{text:?} is not a rule OWN:PARTNER=LEVEL, e.g. customers:*=overlaps or *:*=fields:owner,industry");
    let (pair, level) = text.split_once('=').ok_or_else(|| anyhow::anyhow!(usage()))?;
    let (own, partner) = pair.split_once(':').ok_or_else(|| anyhow::anyhow!(usage()))?;
    let (level, fields) = match level.trim().split_once(':') {
        Some(("fields", names)) => ("fields", names.split(',').map(|n| n.trim().to_owned()).collect()),
        None if ["hidden", "counts", "overlaps"].contains(&level.trim()) => (level.trim(), Vec::new()),
        _ => anyhow::bail!(usage()),
    };
    Ok(RuleView {
        own_segment: own.trim().to_owned(),
        partner_segment: partner.trim().to_owned(),
        level: level.to_owned(),
        fields,
    })
}
