//! The checks every text a caller gives takes, whichever way it came (a JSON body, a form, an
//! inbound delivery): names of bounded length without surrounding blanks or control characters,
//! and no NUL character anywhere, which no store keeps (PostgreSQL cannot).

use serde_json::Value;

/// Why a text holding the NUL character is refused.
pub(crate) const NUL_IN_TEXT: &str = "no text takes the NUL character (U+0000)";

/// The longest name, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 200;

/// Why a text cannot be taken (422, mapped in `http/error.rs`). `what` names the field as the
/// caller wrote it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TextError {
    /// Text holding NUL.
    #[error("{NUL_IN_TEXT}")]
    Nul,
    /// An empty or over-long name.
    #[error("{what} must be 1 to {MAX_NAME_CHARS} characters")]
    Length {
        /// The field.
        what: &'static str,
    },
    /// A name with surrounding blanks or control characters.
    #[error("{what} must not start or end with blanks or hold control characters")]
    Shape {
        /// The field.
        what: &'static str,
    },
}

/// Checks a name: 1 to [`MAX_NAME_CHARS`] characters, no surrounding blanks, no control
/// characters (NUL among them).
pub(crate) fn check_name(what: &'static str, text: &str) -> Result<(), TextError> {
    let n = text.chars().count();
    if n == 0 || n > MAX_NAME_CHARS {
        return Err(TextError::Length { what });
    }
    if text.trim() != text || text.chars().any(char::is_control) {
        return Err(TextError::Shape { what });
    }
    Ok(())
}

/// Whether a string or a key anywhere in `value` holds the NUL character.
pub(crate) fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields.iter().any(|(key, field)| key.contains('\0') || holds_nul(field)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_plain() {
        assert!(check_name("name", "Acme GmbH").is_ok());
        assert!(check_name("name", &"é".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(matches!(check_name("name", &"é".repeat(MAX_NAME_CHARS + 1)), Err(TextError::Length { what: "name" })));
        assert!(matches!(check_name("label", ""), Err(TextError::Length { what: "label" })));
        for shaped in [" Acme", "Acme ", "Ac\nme", "Ac\u{0}me", "Acme\t"] {
            assert!(matches!(check_name("name", shaped), Err(TextError::Shape { .. })), "{shaped:?}");
        }
    }

    #[test]
    fn nul_is_found_in_keys_and_nested_values() {
        assert!(!holds_nul(&serde_json::json!({"a": ["b", {"c": 1}], "d": null})));
        // The escape written out is six characters, not NUL.
        assert!(!holds_nul(&serde_json::json!({"a": ["\\u0000"]})));
        assert!(holds_nul(&serde_json::json!({"a": ["b", {"c": "x\u{0}"}]})));
        assert!(holds_nul(&serde_json::json!({"a\u{0}": 1})));
        assert!(holds_nul(&serde_json::json!("\u{0}")));
    }
}
