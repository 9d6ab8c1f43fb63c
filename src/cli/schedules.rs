//! `blindmap partner schedule|budget|jobs|against`: runs that start by themselves, what this side
//! allows partners to run against it, and what became of both.

use blindmap_server::api::Page;
use blindmap_server::api::runs::{RunFilter, RunRoleName};
use blindmap_server::api::schedules::{BudgetRequest, BudgetView, JobView, ListFilter, ScheduleRequest, ScheduleView};
use blindmap_server::client::ApiClient;
use blindmap_server::rfc3339;
use clap::Args;

use super::partnership_id;
use crate::output::escaped;

/// `partner schedule`'s choice of when runs start.
#[derive(Args)]
pub(crate) struct When {
    /// Every day at this time (HH:MM, 24-hour) in `--zone`.
    #[arg(long, value_name = "HH:MM", conflicts_with_all = ["every_hours", "after_dataset", "clear"])]
    daily: Option<String>,
    /// The time zone of `--daily` (an IANA name such as Europe/Berlin).
    #[arg(long, value_name = "ZONE", default_value = "UTC", requires = "daily")]
    zone: String,
    /// Every this many hours (1 to 744), the first that long from now.
    #[arg(long, value_name = "HOURS", conflicts_with_all = ["after_dataset", "clear"])]
    every_hours: Option<u32>,
    /// After each new dataset this organisation matches from (a CRM sync's or an upload's).
    #[arg(long, conflicts_with = "clear")]
    after_dataset: bool,
    /// Remove the schedule: runs start only by hand.
    #[arg(long)]
    clear: bool,
}

/// Shows or sets when runs with `partner` start by themselves.
pub(crate) async fn schedule(api: &ApiClient, partner: &str, when: &When) -> anyhow::Result<()> {
    let id = partnership_id(api, partner).await?;
    let request = match (&when.daily, when.every_hours, when.after_dataset) {
        (Some(at), _, _) => Some(ScheduleRequest::Daily { at: at.clone(), zone: when.zone.clone() }),
        (_, Some(hours), _) => Some(ScheduleRequest::Every { hours }),
        (_, _, true) => Some(ScheduleRequest::AfterDataset),
        _ => None,
    };
    if when.clear {
        api.clear_schedule(&id).await?;
        println!("Runs with {} start only by hand now.", escaped(partner));
        return Ok(());
    }
    let shown = match request {
        Some(request) => {
            let set = api.set_schedule(&id, &request).await?;
            print!("Runs with {} now start ", escaped(partner));
            set
        }
        None => match api.schedule(&id).await {
            Ok(set) => {
                print!("Runs with {} start ", escaped(partner));
                set
            }
            Err(blindmap_server::client::ClientError::Api { status, .. }) if status.as_u16() == 404 => {
                println!("Runs with {} start only by hand (no schedule).", escaped(partner));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        },
    };
    println!("{}.", schedule_words(&shown));
    if let Some(at) = shown.next_due_at {
        println!("The next is due at {}.", rfc3339(at));
    }
    Ok(())
}

/// `every day at 07:30 (Europe/Berlin)`, `every 6 hours`, `after each new dataset`.
pub(crate) fn schedule_words(view: &ScheduleView) -> String {
    match &view.schedule {
        ScheduleRequest::Daily { at, zone } => format!("every day at {} ({})", escaped(at), escaped(zone)),
        ScheduleRequest::Every { hours: 1 } => "every hour".to_owned(),
        ScheduleRequest::Every { hours } => format!("every {hours} hours"),
        ScheduleRequest::AfterDataset => "after each new dataset".to_owned(),
    }
}

/// `partner budget`'s limits.
#[derive(Args)]
pub(crate) struct Limits {
    /// At most one run against this side every this many minutes (0: no limit).
    #[arg(long, value_name = "MINUTES")]
    min_interval: Option<u32>,
    /// The partner's declared records may change by at most this percentage between runs.
    #[arg(long, value_name = "PERCENT", conflicts_with = "no_change_limit")]
    max_change: Option<u32>,
    /// Any change of the partner's declared records is allowed.
    #[arg(long)]
    no_change_limit: bool,
    /// Serve no partner segment smaller than this many accounts.
    #[arg(long, value_name = "N")]
    min_segment: Option<u32>,
}

/// Shows or sets what `partner` may run against this side.
pub(crate) async fn budget(api: &ApiClient, partner: &str, limits: &Limits) -> anyhow::Result<()> {
    let id = partnership_id(api, partner).await?;
    let mut budget = api.budget(&id).await?;
    let changing = limits.min_interval.is_some()
        || limits.max_change.is_some()
        || limits.no_change_limit
        || limits.min_segment.is_some();
    if changing {
        budget.min_interval_minutes = limits.min_interval.unwrap_or(budget.min_interval_minutes);
        if limits.no_change_limit {
            budget.max_change_percent = None;
        } else if limits.max_change.is_some() {
            budget.max_change_percent = limits.max_change;
        }
        budget.min_segment = limits.min_segment.unwrap_or(budget.min_segment);
        let request = BudgetRequest {
            min_interval_minutes: budget.min_interval_minutes,
            max_change_percent: budget.max_change_percent,
            min_segment: budget.min_segment,
        };
        budget = api.set_budget(&id, &request).await?;
        println!("{} may now run against this side:", escaped(partner));
    } else {
        println!("{} may run against this side:", escaped(partner));
    }
    show_budget(&budget);
    Ok(())
}

fn show_budget(budget: &BudgetView) {
    match budget.min_interval_minutes {
        0 => println!("  as often as it likes"),
        m if m % 60 == 0 => println!("  at most once every {} hour(s)", m / 60),
        m => println!("  at most once every {m} minutes"),
    }
    match budget.max_change_percent {
        Some(p) => println!("  with its declared records changed by at most {p}% since the previous run"),
        None => println!("  with its declared records changed by any amount"),
    }
    println!("  segments of at least {} accounts served", budget.min_segment);
}

/// Lists scheduled runs and what became of them.
pub(crate) async fn jobs(api: &ApiClient, partner: Option<&str>) -> anyhow::Result<()> {
    let partnership = match partner {
        Some(p) => Some(partnership_id(api, p).await?),
        None => None,
    };
    let list = api.jobs(&ListFilter { partnership, limit: Some(100) }).await?;
    if list.items.is_empty() {
        println!("No scheduled runs yet.");
    }
    for job in &list.items {
        println!("{}", job_line(job));
    }
    Ok(())
}

fn job_line(job: &JobView) -> String {
    let mut line = format!(
        "{}  {}  {:<24} {:<8} attempts {}",
        escaped(&job.id),
        rfc3339(job.due_at),
        escaped(&job.partner),
        escaped(&job.state),
        job.attempts
    );
    if let Some(run) = &job.run {
        line.push_str(&format!("  run {}", escaped(run)));
    }
    if let Some(message) = &job.message {
        line.push_str(&format!("\n    {}", escaped(message)));
    }
    line
}

/// Lists the runs partners started against this side, and those its budgets refused.
pub(crate) async fn against(api: &ApiClient, partner: Option<&str>) -> anyhow::Result<()> {
    let partnership = match partner {
        Some(p) => Some(partnership_id(api, p).await?),
        None => None,
    };
    let filter = RunFilter { partnership: partnership.clone(), role: Some(RunRoleName::Responder) };
    let runs = api.runs(&filter, &Page::first(50)).await?;
    println!("Runs partners started against this side:");
    if runs.items.is_empty() {
        println!("  none");
    }
    for run in &runs.items {
        let failure = run.failure.as_deref().map(|f| format!(" ({})", escaped(f))).unwrap_or_default();
        println!(
            "  {}  {}  {:<24} {}{failure}",
            escaped(&run.id),
            rfc3339(run.started_at),
            escaped(&run.partner),
            escaped(&run.state)
        );
    }
    let refused = api.refusals(&ListFilter { partnership, limit: Some(50) }).await?;
    println!("Runs refused under this side's budgets:");
    if refused.items.is_empty() {
        println!("  none");
    }
    for r in &refused.items {
        println!("  {}  {:<24} {}: {}", rfc3339(r.at), escaped(&r.partner), escaped(&r.reason), escaped(&r.detail));
    }
    Ok(())
}
