//! Text that reaches a person: tracker text made safe for a terminal, and shortened.

/// Replace control characters (including ESC, so no escape sequence survives) with `�`, and
/// newlines and tabs with spaces.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            // Bidirectional overrides can reorder what a reader sees.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Shorten to at most `max` characters, marking the cut with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_neutralises_escape_sequences() {
        assert_eq!(clean("ok\u{1b}[2Jgone\u{7}"), "ok\u{fffd}[2Jgone\u{fffd}");
        assert_eq!(clean("a\nb\tc"), "a b c");
        assert_eq!(clean("abc\u{202e}def"), "abc\u{fffd}def");
    }
}
