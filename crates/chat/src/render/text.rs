//! Cleaning, escaping and cutting the texts and links of a message for one kind of service,
//! before it is split into parts.

use super::limits::caps;
use crate::{Kind, Message};

/// The escape of one character for a kind's markup, if it needs one.
fn escape_char(kind: Kind, c: char) -> Option<&'static str> {
    match kind {
        // Slack's three control characters.
        Kind::Slack => match c {
            '&' => Some("&amp;"),
            '<' => Some("&lt;"),
            '>' => Some("&gt;"),
            _ => None,
        },
        // Markdown emphasis, code, links and strike-through.
        Kind::Mattermost => match c {
            '\\' => Some("\\\\"),
            '*' => Some("\\*"),
            '_' => Some("\\_"),
            '`' => Some("\\`"),
            '[' => Some("\\["),
            ']' => Some("\\]"),
            '~' => Some("\\~"),
            _ => None,
        },
        Kind::Matrix => match c {
            '&' => Some("&amp;"),
            '<' => Some("&lt;"),
            '>' => Some("&gt;"),
            '"' => Some("&quot;"),
            '\'' => Some("&#39;"),
            _ => None,
        },
        Kind::Teams | Kind::Webhook => None,
    }
}

fn escaped_len(kind: Kind, s: &str) -> usize {
    s.chars()
        .map(|c| escape_char(kind, c).map_or(1, |e| e.chars().count()))
        .sum()
}

pub(super) fn escape(kind: Kind, s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match escape_char(kind, c) {
            Some(e) => out.push_str(e),
            None => out.push(c),
        }
    }
    out
}

/// Control characters (line breaks included) become spaces; ends are trimmed. A mention at the
/// start of a word (`@here`, `@channel`, `@room`, `@someone`: Mattermost and Matrix ping on
/// them in plain text) gets a word joiner after its `@`, so text from tickets never pings
/// anyone; an e-mail address (`dev@example.org`) is left alone. Slack's `<!channel>` is
/// defused by escaping `<` and `>`.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut word_start = true;
    for c in s.chars() {
        let c = if c.is_control()
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
        {
            ' '
        } else {
            c
        };
        if c == '!' && out.ends_with('<') {
            // `<!channel>`, `<!here>`: Slack-style mentions (Mattermost honours them too).
            out.push('\u{2060}');
        }
        out.push(c);
        if c == '@' && word_start {
            out.push('\u{2060}');
        }
        // A mention fires after anything but a letter, a digit or `_` (Matrix's rule).
        word_start = !(c.is_alphanumeric() || c == '_');
    }
    out.trim().to_string()
}

/// `s` cut so that its escaped form is at most `cap` characters, ending with `…` when cut.
pub(super) fn truncate(kind: Kind, s: &str, cap: usize) -> String {
    if escaped_len(kind, s) <= cap {
        return s.to_string();
    }
    let mut out = String::new();
    let mut len = 0;
    for c in s.chars() {
        let l = escape_char(kind, c).map_or(1, |e| e.chars().count());
        if len + l + 1 > cap {
            break;
        }
        out.push(c);
        len += l;
    }
    let mut out = out.trim_end().to_string();
    out.push('…');
    out
}

/// A link made safe for the kind's markup: control characters removed, spaces and characters
/// that would end the link percent-encoded (the generic webhook only loses control characters).
fn clean_link(kind: Kind, link: &str) -> String {
    let mut out = String::with_capacity(link.len());
    for c in link.trim().chars() {
        if c.is_control() {
            continue;
        }
        let encode = kind != Kind::Webhook
            && (c.is_whitespace()
                || matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '}' | '|')
                || (matches!(kind, Kind::Mattermost | Kind::Teams) && matches!(c, '(' | ')')));
        if encode {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The message cleaned and cut to the kind's caps.
pub(super) struct Prepared {
    pub(super) title: String,
    pub(super) sections: Vec<PSection>,
}

pub(super) struct PSection {
    pub(super) heading: String,
    pub(super) items: Vec<PItem>,
}

pub(super) struct PItem {
    pub(super) text: String,
    pub(super) link: Option<String>,
}

pub(super) fn prepare(kind: Kind, m: &Message) -> Prepared {
    let c = caps(kind);
    let title = clean(&m.title);
    let title = if title.is_empty() {
        "(untitled)".to_string()
    } else {
        title
    };
    let sections = m
        .sections
        .iter()
        .map(|s| PSection {
            heading: truncate(kind, &clean(&s.heading), c.heading),
            items: s
                .items
                .iter()
                .map(|i| {
                    let link = i
                        .link
                        .as_deref()
                        .map(|l| clean_link(kind, l))
                        .filter(|l| !l.is_empty() && escaped_len(kind, l) <= c.link);
                    let text = clean(&i.text);
                    let text = if text.is_empty() && link.is_some() {
                        "link".to_string()
                    } else {
                        text
                    };
                    PItem {
                        text: truncate(kind, &text, c.text),
                        link,
                    }
                })
                .collect(),
        })
        .collect();
    Prepared {
        title: truncate(kind, &title, c.title),
        sections,
    }
}

#[cfg(test)]
mod unit {
    use super::*;
    #[test]
    fn truncate_measures_escapes() {
        let t = truncate(Kind::Slack, "a&b&c", 8);
        assert!(escaped_len(Kind::Slack, &t) <= 8, "{t}");
        assert_eq!(t, "a&b…");
        assert_eq!(truncate(Kind::Slack, "abc", 3), "abc");
    }

    #[test]
    fn links_are_cleaned_for_markup() {
        assert_eq!(
            clean_link(Kind::Slack, " https://x/a b|c>\u{7}"),
            "https://x/a%20b%7Cc%3E"
        );
        assert_eq!(
            clean_link(Kind::Teams, "https://x/(a)"),
            "https://x/%28a%29"
        );
    }
}
