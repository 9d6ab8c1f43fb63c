//! Disclosure levels as command-line values: `hidden`, `counts`, `overlaps`, `fields:a,b`.

use blindmap_psi::{FieldName, Level};

pub(crate) fn parse_level(text: &str) -> Result<Level, String> {
    match text {
        "hidden" => Ok(Level::Hidden),
        "counts" => Ok(Level::Counts),
        "overlaps" => Ok(Level::Overlaps),
        _ => {
            let Some(list) = text.strip_prefix("fields:") else {
                return Err(format!("unknown level {text:?}: use hidden, counts, overlaps or fields:NAME[,NAME…]"));
            };
            let fields = list
                .split(',')
                .map(|f| FieldName::new(f.trim()).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            if fields.is_empty() {
                return Err("fields: needs at least one field name".into());
            }
            Ok(Level::Fields(fields))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse() {
        assert_eq!(parse_level("counts"), Ok(Level::Counts));
        assert_eq!(
            parse_level("fields:owner, stage"),
            Ok(Level::Fields(vec![FieldName::new("owner").unwrap(), FieldName::new("stage").unwrap()]))
        );
        assert!(parse_level("everything").is_err());
        assert!(parse_level("fields:Owner").is_err());
    }
}
