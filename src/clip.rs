//! Client-supplied text made safe to show: control characters escaped and
//! the length bounded. A Web Connector (or anyone posting to `/qbwc`) picks
//! user names, company file names, versions and messages; written raw, a
//! newline or an ANSI escape forges a log line and a 5 MB name fills the
//! disk.

/// `s` with every control character written as `\u{..}` (so `\n` and ESC
/// cannot start a new line or recolour a terminal), cut after `max_chars`
/// characters (of the original, at a character boundary) with `…` appended.
pub fn clip(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)) + 3);
    for (n, c) in s.chars().enumerate() {
        if n == max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn control_characters_are_escaped_and_long_text_is_cut() {
        assert_eq!(clip("bob\n\x1b[31mx", 100), "bob\\u{a}\\u{1b}[31mx");
        assert_eq!(clip("héllo wörld", 5), "héllo…");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("", 0), "");
        assert_eq!(clip("x", 0), "…");
    }
}
