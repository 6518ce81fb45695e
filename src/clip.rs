//! Clipping client-supplied text before it is stored or logged.
//!
//! Anything a Web Connector (or someone pretending to be one) sends may be
//! megabytes long or carry control characters that forge log lines or
//! break a terminal. Events and logs keep a bounded, printable excerpt.

/// The longest client-supplied string kept in an event or a log line, in
/// characters: enough for any real user name or QuickBooks message.
pub const CLIENT_TEXT_MAX: usize = 1024;

/// `s` made printable and at most `max_chars` characters long (plus `…`
/// when it was cut). Control characters (newline, ESC, …) become
/// `\u{..}` escapes, which count towards the limit; the cut falls on a
/// character boundary, never inside an escape.
pub fn clip(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)) + 3);
    let mut used = 0usize;
    for c in s.chars() {
        let piece_len = if c.is_control() { escaped_len(c) } else { 1 };
        if used + piece_len > max_chars {
            out.push('…');
            return out;
        }
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
        used += piece_len;
    }
    out
}

/// Characters of `\u{hex}` for `c`.
fn escaped_len(c: char) -> usize {
    let hex_digits = format!("{:x}", u32::from(c)).len();
    hex_digits + 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_printable_text_is_unchanged() {
        assert_eq!(clip("alice", 10), "alice");
        assert_eq!(clip("", 10), "");
        assert_eq!(clip("Grüße", 5), "Grüße");
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary_with_an_ellipsis() {
        assert_eq!(clip("abcdef", 3), "abc…");
        // Multi-byte characters are counted as characters, never split.
        assert_eq!(clip("ééééé", 2), "éé…");
        let huge = "x".repeat(5 * 1024 * 1024);
        let c = clip(&huge, CLIENT_TEXT_MAX);
        assert_eq!(c.chars().count(), CLIENT_TEXT_MAX + 1);
        assert!(c.ends_with('…'));
    }

    #[test]
    fn control_characters_are_escaped_and_count_towards_the_limit() {
        assert_eq!(clip("a\nb\u{1b}[31m", 100), "a\\u{a}b\\u{1b}[31m");
        // The escape of the newline (6 characters) does not fit in 4: cut before it.
        assert_eq!(clip("ab\ncd", 4), "ab…");
        assert!(!clip("line\r\nforged", 100).contains('\n'));
    }
}
