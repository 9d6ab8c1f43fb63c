//! Text from elsewhere — a partner's node, a file, another user — as it may reach a terminal.
//!
//! A partner names its organisation, segments and fields; users name datasets, hooks and notes;
//! exports carry whatever their CRM holds. Printed raw, a control character in any of them can
//! clear the screen, move the cursor, set the window title or draw a fake row, and a bidi
//! override can make text read differently from what it is. Everything the command line prints
//! that it did not write itself goes through [`escaped`].
//! `--json` output is left to serde, which escapes control characters as JSON does.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal as it is: C0 controls (newline and tab included), DEL,
/// C1 controls, and the bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
fn unsafe_on_a_terminal(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character that could act on a terminal written out as an escape instead:
/// `\n`, `\r`, `\t`, `\x1b` for the other C0 controls and DEL, `\u{202e}` for C1 controls and
/// bidi controls. Text without any comes back borrowed.
pub(crate) fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_on_a_terminal) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x80 && unsafe_on_a_terminal(c) => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if unsafe_on_a_terminal(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_written_out() {
        assert_eq!(escaped("Evil\x1b[2J\nCo"), "Evil\\x1b[2J\\nCo");
        assert_eq!(escaped("a\tb\rc\x07d\x7fe"), "a\\tb\\rc\\x07d\\x7fe");
        assert_eq!(escaped("\u{9b}31m"), "\\u{9b}31m", "C1 CSI");
        assert_eq!(escaped("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        assert_eq!(escaped("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in ["Vendor", "Zürich GmbH & Co. KG", "O'Reilly \"Media\"", "東京", "C:\\exports", "a ↔ b ×"] {
            assert!(matches!(escaped(text), Cow::Borrowed(t) if t == text), "{text}");
        }
    }
}
