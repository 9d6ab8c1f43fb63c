//! Segments ("populations"): named rules over columns, tried in order; the first that holds
//! places the account. An account no rule places is reported as unsegmented.
//!
//! ```text
//! customers:          Type in [Customer - Direct, Customer - Channel]
//! open_opportunities: Open Opportunities > 0 and Type != Partner
//! prospects:          everything else
//! ```
//!
//! Tests: `in [a, b]`, `not in [a, b]`, `= v`, `!= v`, `starts with v`, `contains v`, `is empty`,
//! `is not empty`, `> n`, `>= n`, `< n`, `<= n`, joined by `and`. Values compare without regard
//! to case or surrounding space; a value holding a comma or bracket goes in double quotes; a
//! column whose name holds an operator word goes in backticks.

use blindmap_psi::SegmentLabel;

use crate::error::ErrorKind;

/// One named rule, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRule {
    /// The segment it places accounts in.
    pub label: SegmentLabel,
    /// Tests that must all hold; none means "everything else".
    tests: Vec<Test>,
    /// The rule's text, for messages.
    text: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Test {
    column: String,
    op: Op,
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    StartsWith(String),
    Contains(String),
    Empty,
    NotEmpty,
    Compare(Ordering, f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ordering {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl SegmentRule {
    /// Parses `label: rule`.
    pub fn parse(text: &str) -> Result<Self, ErrorKind> {
        let fail = |problem: &str| ErrorKind::SegmentRule { rule: text.to_owned(), problem: problem.to_owned() };
        let (label, rule) = text.split_once(':').ok_or_else(|| fail("write it as `label: rule`"))?;
        let label = segment_label(label).ok_or_else(|| {
            fail("the label must be letters, digits, spaces, _ or - (it becomes lower case with _ for spaces)")
        })?;
        let rule = rule.trim();
        let tests = if matches!(rule.to_lowercase().as_str(), "everything else" | "else" | "*" | "all") {
            Vec::new()
        } else {
            split_and(rule)
                .map_err(|p| fail(&p))?
                .into_iter()
                .map(|t| parse_test(t).map_err(|p| fail(&p)))
                .collect::<Result<_, _>>()?
        };
        Ok(Self { label, tests, text: text.trim().to_owned() })
    }

    /// The columns the rule reads.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.tests.iter().map(|t| t.column.as_str())
    }

    /// The rule as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the rule holds, given a way to read a column's value.
    pub(crate) fn holds<'a>(&self, value_of: impl Fn(&str) -> &'a str) -> bool {
        self.tests.iter().all(|t| t.holds(value_of(&t.column)))
    }
}

/// A label as users write it ("Open Opportunities") made a segment label (`open_opportunities`).
pub fn segment_label(raw: &str) -> Option<SegmentLabel> {
    let label = crate::fold(raw).replace(' ', "_");
    SegmentLabel::new(&label).ok()
}

impl Test {
    fn holds(&self, value: &str) -> bool {
        let value = value.trim();
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase();
        match &self.op {
            Op::In(list) => list.iter().any(|v| eq(v, value)),
            Op::NotIn(list) => !list.iter().any(|v| eq(v, value)),
            Op::StartsWith(prefix) => value.to_lowercase().starts_with(&prefix.to_lowercase()),
            Op::Contains(part) => value.to_lowercase().contains(&part.to_lowercase()),
            Op::Empty => value.is_empty(),
            Op::NotEmpty => !value.is_empty(),
            Op::Compare(ordering, bound) => number(value).is_some_and(|n| match ordering {
                Ordering::Greater => n > *bound,
                Ordering::GreaterOrEqual => n >= *bound,
                Ordering::Less => n < *bound,
                Ordering::LessOrEqual => n <= *bound,
            }),
        }
    }
}

/// A cell's number as exports write it: `1,250`, `$ 3 000.50`, `12%`. Anything else (`1.500.000`,
/// `10k`, text) is not a number, and no comparison holds for it.
fn number(value: &str) -> Option<f64> {
    let cleaned: String =
        value.chars().filter(|c| !matches!(c, ',' | ' ' | '\u{a0}' | '_' | '$' | '€' | '£' | '¥' | '%')).collect();
    cleaned.parse().ok().filter(|n: &f64| n.is_finite())
}

/// Splits on ` and ` outside quotes, brackets and backticks.
fn split_and(rule: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut ticked, mut start) = (0i32, false, false, 0);
    let bytes = rule.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' if !ticked => quoted = !quoted,
            b'`' if !quoted => ticked = !ticked,
            b'[' if !quoted && !ticked => depth += 1,
            b']' if !quoted && !ticked => {
                depth -= 1;
                if depth < 0 {
                    return Err("a `]` closes no list".into());
                }
            }
            b' ' if depth == 0
                && !quoted
                && !ticked
                && bytes[i..].len() > 5
                && bytes[i..i + 5].eq_ignore_ascii_case(b" and ") =>
            {
                parts.push(&rule[start..i]);
                start = i + 5;
                i += 5;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&rule[start..]);
    Ok(parts)
}

fn parse_test(text: &str) -> Result<Test, String> {
    let text = text.trim();
    let (column, rest) = if let Some(after) = text.strip_prefix('`') {
        let (column, rest) = after.split_once('`').ok_or("a backtick-quoted column is not closed")?;
        (column.to_owned(), rest.trim_start())
    } else {
        let at = OPERATORS
            .iter()
            .filter_map(|op| find_ascii_ci(text, op).map(|i| (i, op)))
            .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())))
            .ok_or(
                "no operator: use in [..], not in [..], =, !=, starts with, contains, is empty, is not empty, >, >=, \
                 <, <= (a value containing ` and ` goes in double quotes)",
            )?
            .0;
        (text[..at].trim().to_owned(), text[at..].trim_start())
    };
    if column.is_empty() {
        return Err("a test names no column".into());
    }
    let op = if let Some(v) = strip_op(rest, "not in") {
        Op::NotIn(list(v)?)
    } else if let Some(v) = strip_op(rest, "in") {
        Op::In(list(v)?)
    } else if strip_op(rest, "is not empty").is_some_and(str::is_empty) {
        Op::NotEmpty
    } else if strip_op(rest, "is empty").is_some_and(str::is_empty) {
        Op::Empty
    } else if let Some(v) = strip_op(rest, "starts with") {
        Op::StartsWith(scalar(v)?)
    } else if let Some(v) = strip_op(rest, "contains") {
        Op::Contains(scalar(v)?)
    } else if let Some(v) = strip_op(rest, "!=") {
        Op::NotIn(vec![scalar(v)?])
    } else if let Some((ordering, v)) = [
        (">=", Ordering::GreaterOrEqual),
        ("<=", Ordering::LessOrEqual),
        (">", Ordering::Greater),
        ("<", Ordering::Less),
    ]
    .into_iter()
    .find_map(|(op, o)| strip_op(rest, op).map(|v| (o, v)))
    {
        let bound = v.replace([',', '_', ' '], "");
        let bound =
            bound.parse::<f64>().ok().filter(|b| b.is_finite()).ok_or_else(|| format!("{v:?} is not a number"))?;
        Op::Compare(ordering, bound)
    } else if let Some(v) = strip_op(rest, "=") {
        Op::In(vec![scalar(v)?])
    } else {
        return Err(format!("cannot read {rest:?} as a test (a value containing ` and ` goes in double quotes)"));
    };
    Ok(Test { column, op })
}

/// Where an ASCII needle first occurs in `text`, ignoring ASCII case. ASCII bytes never occur
/// inside a multi-byte character, so the position is a character boundary.
fn find_ascii_ci(text: &str, needle: &str) -> Option<usize> {
    text.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// What follows the ASCII operator `op` at the start of `text`, ignoring ASCII case.
fn strip_op<'a>(text: &'a str, op: &str) -> Option<&'a str> {
    let head = text.get(..op.len())?;
    head.eq_ignore_ascii_case(op).then(|| text[op.len()..].trim())
}

const OPERATORS: [&str; 11] =
    [" not in ", " in ", " in[", " is not empty", " is empty", " starts with ", " contains ", "!=", ">", "<", "="];

fn scalar(text: &str) -> Result<String, String> {
    let text = text.trim();
    match text.strip_prefix('"') {
        Some(inner) => inner.strip_suffix('"').map(str::to_owned).ok_or_else(|| format!("unclosed quote in {text:?}")),
        None if text.is_empty() => Err("a test is missing its value".into()),
        None => Ok(text.to_owned()),
    }
}

fn list(text: &str) -> Result<Vec<String>, String> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("a list is written [a, b, c], not {text:?}"))?;
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in inner.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => items.push(std::mem::take(&mut current).trim().to_owned()),
            c => current.push(c),
        }
    }
    if quoted {
        return Err(format!("unclosed quote in {text:?}"));
    }
    items.push(current.trim().to_owned());
    if items.iter().all(String::is_empty) {
        return Err("an empty list matches nothing".into());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(rule: &str, row: &[(&str, &str)]) -> bool {
        let rule = SegmentRule::parse(rule).unwrap();
        rule.holds(|c| row.iter().find(|(k, _)| *k == c).map_or("", |(_, v)| v))
    }

    #[test]
    fn rules_read_as_written() {
        let row = [("Type", "Customer - Direct"), ("Lifecycle Stage", "opportunity"), ("Open Opps", "1,200")];
        assert!(holds("customers: Type in [Customer - Direct, Customer - Channel]", &row));
        assert!(!holds("customers: Type not in [customer - direct]", &row));
        assert!(holds("c: Type starts with customer", &row));
        assert!(holds("c: Type contains \"- dir\"", &row));
        assert!(holds("o: Lifecycle Stage = Opportunity and Open Opps > 1000", &row));
        assert!(!holds("o: Lifecycle Stage = Opportunity and Open Opps > 5000", &row));
        assert!(holds("o: Open Opps >= 1200 and Type != Partner", &row));
        assert!(holds("p: Missing is empty", &row));
        assert!(!holds("p: Type is empty", &row));
        assert!(holds("Everything Else: everything else", &row));
        assert!(holds("x: `Lifecycle Stage` in [\"opportunity\", \"a, b\"]", &row));
        assert_eq!(SegmentRule::parse("Open Opportunities: *").unwrap().label.as_str(), "open_opportunities");
        assert_eq!(SegmentRule::parse("Müşteri: *").unwrap().label.as_str(), "musteri");
        assert!(holds("c: İş Türü = Müşteri", &[("İş Türü", "müşteri")]));
        assert!(holds("c: ẞ=ü", &[("ẞ", "Ü")]));
        assert!(!holds("c: Revenue > 1000", &[("Revenue", "1.500.000")]));
        assert!(holds("c: Revenue >= 1,000,000", &[("Revenue", "$1,500,000")]));
    }

    /// Comparisons at their bounds, and the tests that read emptiness.
    #[test]
    fn comparisons_hold_exactly_at_their_bounds() {
        for (rule, below, at, above) in [
            ("c: n > 1000", false, false, true),
            ("c: n >= 1000", false, true, true),
            ("c: n < 1000", true, false, false),
            ("c: n <= 1000", true, true, false),
        ] {
            let got: Vec<bool> = ["999", "1000", "1001"].iter().map(|v| holds(rule, &[("n", v)])).collect();
            assert_eq!(got, [below, at, above], "{rule}");
        }
        // Not a number: no comparison holds.
        assert!(!holds("c: n < 1000", &[("n", "ten")]) && !holds("c: n >= 0", &[("n", "")]));
        assert!(holds("c: n is not empty", &[("n", " 0 ")]));
        assert!(!holds("c: n is not empty", &[("n", "  ")]));
        assert!(holds("c: n is empty", &[("n", "  ")]));
        assert!(holds("c: n not in [a, b]", &[("n", "c")]));
    }

    /// ` and ` splits a rule only outside quotes, backticks and lists; a quote inside backticks
    /// (or a backtick inside quotes) is text, and so are brackets inside either.
    #[test]
    fn and_splits_only_outside_quotes_backticks_and_lists() {
        let columns = |rule: &str| {
            let rule = SegmentRule::parse(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
            rule.columns().map(str::to_owned).collect::<Vec<_>>()
        };
        assert_eq!(columns("c: a = \"x and y\" and b = 2"), ["a", "b"]);
        assert_eq!(columns("c: `say \"hi` = 1 and b = 2"), ["say \"hi", "b"]);
        assert_eq!(columns("c: a = \"x`y\" and b = 2"), ["a", "b"]);
        assert_eq!(columns("c: a in [\"x[y\", z] and b = 2"), ["a", "b"]);
        assert_eq!(columns("c: a in [\"x]y\"] and b = 2"), ["a", "b"]);
        assert_eq!(columns("c: `x[y` = 1 and b = 2"), ["x[y", "b"]);
        assert_eq!(columns("c: `x]y` = 1 and b = 2"), ["x]y", "b"]);
        assert_eq!(columns("c: `p and q` = 1 and b = 2"), ["p and q", "b"]);
        assert_eq!(columns("c: a in [x and y, z] and b = 2"), ["a", "b"]);
        assert_eq!(columns("c: a = 1 and b = 2 and c = 3 AND d = 4"), ["a", "b", "c", "d"]);
        assert!(holds("c: a = \"x and y\" and b = 2", &[("a", "x and y"), ("b", "2")]));
        assert!(holds("c: a in [\"x]y\", z] and b = 2", &[("a", "x]y"), ("b", "2")]));
        assert!(holds("c: `say \"hi` = 1", &[("say \"hi", "1")]));
        // A comma inside quotes is part of the list's item.
        assert!(holds("c: n in [\"Acme, Inc\", x]", &[("n", "acme, inc")]));
        assert!(!holds("c: n in [\"Acme, Inc\", x]", &[("n", "Acme")]));
        assert!(holds("c: n not in [\"Acme, Inc\"]", &[("n", "Inc")]));
    }

    #[test]
    fn a_rule_keeps_its_text_and_columns() {
        let rule = SegmentRule::parse("  Open Opps : Stage = Open and `a and b` > 2 ").unwrap();
        assert_eq!(rule.text(), "Open Opps : Stage = Open and `a and b` > 2");
        assert_eq!(rule.label.as_str(), "open_opps");
        assert_eq!(rule.columns().collect::<Vec<_>>(), ["Stage", "a and b"]);
    }

    #[test]
    fn bad_rules_say_why() {
        for (rule, needle) in [
            ("no colon", "label: rule"),
            ("x: Type", "no operator"),
            ("x: Type in Customer", "[a, b, c]"),
            ("x: Type > many", "not a number"),
            ("x: Type = ", "missing its value"),
            ("!!: *", "label"),
            ("x: = a", "no column"),
            ("x: Employees > 10k", "not a number"),
            ("x: Type = a] and Employees > 5", "closes no list"),
            ("x: Type = Research and Development", "double quotes"),
        ] {
            let e = SegmentRule::parse(rule).unwrap_err().to_string();
            assert!(e.contains(needle), "{rule}: {e}");
        }
    }
}
