//! What an alert says, as Slack Block Kit (api.slack.com/reference/block-kit/blocks) and as a
//! Teams Adaptive Card (adaptivecards.io, version 1.4; learn.microsoft.com "Format cards in
//! Microsoft Teams" for mentions). Both carry the same words: a title, who it is for, up to
//! [`ACCOUNTS_SHOWN`] accounts with their segments, tier and the partner's disclosed fields, how
//! many more there are, and a link to the partner's overlaps on this node.

use blindmap_store::{AlertChannel, AlertChannelKind, DueAlert};
use serde_json::{Value, json};

/// Accounts one message shows (the rest are counted, and the link lists them): Slack allows 50
/// blocks a message, and a Teams message 28 KB.
pub(crate) const ACCOUNTS_SHOWN: usize = 20;
/// Slack's longest header text (plain_text, 150 characters) and section text (3,000).
const SLACK_HEADER_MAX: usize = 150;
const SLACK_SECTION_MAX: usize = 3000;
/// The largest Teams request body (28 KB, learn.microsoft.com "Limits and specifications for
/// Microsoft Teams": a message's size), with room to spare.
const TEAMS_BODY_MAX: usize = 26 * 1024;

/// One message in both formats.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    /// Slack's `text`: the notification's words, and what screen readers and old clients show.
    pub(crate) text: String,
    /// Slack's `blocks`.
    pub(crate) blocks: Value,
    /// The Teams workflow's body: a message with one Adaptive Card.
    pub(crate) teams: Value,
}

/// Whom a message reaches.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Audience<'a> {
    /// The channel.
    Channel,
    /// An owner, by name and e-mail address: reached (a Slack DM, a Teams mention) or not
    /// (found nowhere: the message goes to the channel, saying for whom).
    Owner { name: &'a str, email: &'a str, reached: bool },
}

/// Cut to at most `max` characters, with an ellipsis if cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Slack's mrkdwn escaping: `&`, `<` and `>` (api.slack.com/reference/surfaces/formatting,
/// "Escaping text"), so that a name cannot make a link or a mention.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Teams' markdown subset: a name's own `*`, `_`, `[`, `<` and the like would format it, or
/// make a mention (`<at>`): escaped with a backslash, and angle brackets as entities.
fn teams_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '*' | '_' | '[' | ']' | '`' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// An account's name, or its id where the dataset has none.
fn account_name(item: &Value) -> &str {
    match text(item, "name") {
        "" => text(item, "account_id"),
        name => name,
    }
}

/// The partners a message is about, by name, in order of first mention.
fn partners(items: &[Value]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for item in items {
        let p = text(item, "partner");
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The title: "3 new overlaps with Northwind", "Overlap changes with Northwind and Contoso".
fn title(items: &[Value]) -> String {
    let new = items.iter().filter(|i| text(i, "change") == "new").count();
    let lost = items.len() - new;
    let names = partners(items);
    let with = match names.as_slice() {
        [one] => (*one).to_owned(),
        [a, b] => format!("{a} and {b}"),
        [a, rest @ ..] => format!("{a} and {} other partners", rest.len()),
        [] => "a partner".to_owned(),
    };
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match (new, lost) {
        (n, 0) => format!("{n} new overlap{} with {with}", plural(n)),
        (0, n) => format!("{n} lost overlap{} with {with}", plural(n)),
        (n, m) => format!("{n} new and {m} lost overlap{} with {with}", plural(n + m)),
    }
}

/// One account's line: what changed, the segments, the tier.
fn summary(item: &Value) -> String {
    let verb = if text(item, "change") == "new" { "now overlaps" } else { "no longer overlaps" };
    let mut line = format!(
        "{verb} with {}: your {} ∩ their {}",
        text(item, "partner"),
        text(item, "own_segment"),
        text(item, "partner_segment")
    );
    if let Some(tier) = item["tier"].as_str() {
        line.push_str(&format!(" · {tier}"));
    }
    line
}

/// The partner's disclosed fields, as `name: value` pairs (a field disclosed empty shows as —).
fn fields(item: &Value) -> Vec<(String, String)> {
    item["fields"]
        .as_object()
        .map(|f| f.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("—").to_owned())).collect())
        .unwrap_or_default()
}

/// The link to a partnership's overlaps on this node, if it has a public URL.
fn link(public_url: Option<&str>, items: &[Value]) -> Option<String> {
    let base = public_url?.trim_end_matches('/');
    let partnerships: Vec<&str> = items.iter().map(|i| text(i, "partnership")).collect();
    match partnerships.first() {
        Some(first) if partnerships.iter().all(|p| p == first) && !first.is_empty() => {
            Some(format!("{base}/partners/{first}/overlaps"))
        }
        _ => Some(format!("{base}/overlaps")),
    }
}

/// The message of `due` for `audience`.
pub(crate) fn render(due: &DueAlert, audience: Audience<'_>, public_url: Option<&str>) -> Outgoing {
    let items = &due.items;
    let link = link(public_url, items);
    let headline = title(items);
    let mut shown = ACCOUNTS_SHOWN.min(items.len());
    let rule = &due.rule.name;
    let who = match audience {
        Audience::Channel => String::new(),
        Audience::Owner { name, email, reached: true } => {
            format!("For {} ({email})", if name.is_empty() { email } else { name })
        }
        Audience::Owner { name, email, reached: false } => format!(
            "For {} ({email}), who was not found in {}",
            if name.is_empty() { email } else { name },
            if due.channel.kind == AlertChannelKind::Slack { "Slack" } else { "Teams" }
        ),
    };
    let names: Vec<&str> = items.iter().take(5).map(account_name).collect();
    let mut text = format!("{headline}: {}", names.join(", "));
    if items.len() > names.len() {
        text.push_str(&format!(" and {} more", items.len() - names.len()));
    }
    let blocks = slack_blocks(&headline, &who, rule, items, shown, link.as_deref());
    let mut teams = teams_body(&headline, audience, &who, rule, items, shown, link.as_deref());
    while shown > 1 && teams.to_string().len() > TEAMS_BODY_MAX {
        shown -= 1;
        teams = teams_body(&headline, audience, &who, rule, items, shown, link.as_deref());
    }
    Outgoing { text, blocks, teams }
}

fn slack_blocks(headline: &str, who: &str, rule: &str, items: &[Value], shown: usize, link: Option<&str>) -> Value {
    let mut blocks =
        vec![json!({ "type": "header", "text": { "type": "plain_text", "text": cut(headline, SLACK_HEADER_MAX) } })];
    let mut context = format!("Rule “{}”", slack_escape(rule));
    if !who.is_empty() {
        context = format!("{} · {context}", slack_escape(who));
    }
    blocks.push(
        json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": cut(&context, SLACK_SECTION_MAX) }] }),
    );
    for item in items.iter().take(shown) {
        let mut line = format!("*{}* {}", slack_escape(account_name(item)), slack_escape(&summary(item)));
        for (name, value) in fields(item) {
            line.push_str(&format!("\n{}: {}", slack_escape(&name), slack_escape(&value)));
        }
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": cut(&line, SLACK_SECTION_MAX) } }));
    }
    if items.len() > shown {
        let more = format!("…and {} more", items.len() - shown);
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": more }] }));
    }
    if let Some(url) = link {
        blocks.push(json!({ "type": "actions", "elements": [{ "type": "button", "action_id": "open_overlaps",
            "text": { "type": "plain_text", "text": "Open in blindmap" }, "url": url }] }));
    }
    Value::Array(blocks)
}

fn teams_body(
    headline: &str,
    audience: Audience<'_>,
    who: &str,
    rule: &str,
    items: &[Value],
    shown: usize,
    link: Option<&str>,
) -> Value {
    let mut body = vec![json!({ "type": "TextBlock", "text": teams_escape(headline), "size": "Large",
        "weight": "Bolder", "wrap": true })];
    let mut entities = Vec::new();
    let intro = match audience {
        Audience::Owner { name, email, reached: true } => {
            let shown_name = if name.is_empty() { email } else { name };
            let mention = format!("<at>{}</at>", teams_escape(shown_name));
            entities
                .push(json!({ "type": "mention", "text": mention, "mentioned": { "id": email, "name": shown_name } }));
            format!("{mention}: rule “{}”", teams_escape(rule))
        }
        Audience::Owner { .. } => format!("{} · rule “{}”", teams_escape(who), teams_escape(rule)),
        Audience::Channel => format!("Rule “{}”", teams_escape(rule)),
    };
    body.push(json!({ "type": "TextBlock", "text": intro, "wrap": true, "isSubtle": true }));
    for item in items.iter().take(shown) {
        let mut facts = vec![
            json!({ "title": "Your segment", "value": teams_escape(text(item, "own_segment")) }),
            json!({ "title": "Their segment", "value": teams_escape(text(item, "partner_segment")) }),
        ];
        if let Some(tier) = item["tier"].as_str() {
            facts.push(json!({ "title": "Tier", "value": tier }));
        }
        for (name, value) in fields(item) {
            facts.push(json!({ "title": teams_escape(&name), "value": teams_escape(&value) }));
        }
        let verb = if text(item, "change") == "new" { "now overlaps" } else { "no longer overlaps" };
        body.push(json!({ "type": "Container", "separator": true, "items": [
            { "type": "TextBlock", "wrap": true, "weight": "Bolder",
              "text": format!("{} {verb} with {}", teams_escape(account_name(item)), teams_escape(text(item, "partner"))) },
            { "type": "FactSet", "facts": facts },
        ] }));
    }
    if items.len() > shown {
        body.push(json!({ "type": "TextBlock", "text": format!("…and {} more", items.len() - shown), "wrap": true }));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": { "width": "Full" },
    });
    if !entities.is_empty() {
        card["msteams"]["entities"] = Value::Array(entities);
    }
    if let Some(url) = link {
        card["actions"] = json!([{ "type": "Action.OpenUrl", "title": "Open in blindmap", "url": url }]);
    }
    json!({ "type": "message", "attachments": [{ "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": null, "content": card }] })
}

/// The message a channel's test sends.
pub(crate) fn test_message(channel: &AlertChannel, sent_by: &str, public_url: Option<&str>) -> Outgoing {
    let words = format!(
        "blindmap can send alerts here: a test {sent_by} sent for the channel “{}”. Nothing happened.",
        channel.name
    );
    let mut blocks = vec![json!({ "type": "section", "text": { "type": "mrkdwn", "text": slack_escape(&words) } })];
    let mut card = json!({ "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
        "version": "1.4", "body": [{ "type": "TextBlock", "text": teams_escape(&words), "wrap": true }] });
    if let Some(url) = public_url {
        blocks.push(json!({ "type": "actions", "elements": [{ "type": "button", "action_id": "open_blindmap",
            "text": { "type": "plain_text", "text": "Open blindmap" }, "url": url }] }));
        card["actions"] = json!([{ "type": "Action.OpenUrl", "title": "Open blindmap", "url": url }]);
    }
    Outgoing {
        text: words,
        blocks: Value::Array(blocks),
        teams: json!({ "type": "message", "attachments": [{ "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null, "content": card }] }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_cut_where_the_formats_require() {
        assert_eq!(slack_escape("A&B <@U123> >x"), "A&amp;B &lt;@U123&gt; &gt;x");
        assert_eq!(teams_escape("<at>x</at> *y*"), "&lt;at&gt;x&lt;/at&gt; \\*y\\*");
        let long = "é".repeat(200);
        assert_eq!(cut(&long, 150).chars().count(), 150);
        assert!(cut(&long, 150).ends_with('…'));
    }

    #[test]
    fn titles_count_new_and_lost_and_name_the_partners() {
        let item = |p: &str, c: &str| json!({ "partner": p, "change": c });
        assert_eq!(title(&[item("Northwind", "new")]), "1 new overlap with Northwind");
        assert_eq!(
            title(&[item("Northwind", "new"), item("Contoso", "lost")]),
            "1 new and 1 lost overlaps with Northwind and Contoso"
        );
        assert_eq!(
            title(&[item("A", "lost"), item("B", "lost"), item("C", "lost")]),
            "3 lost overlaps with A and 2 other partners"
        );
    }
}
