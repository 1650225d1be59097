//! Rendering a [`Message`] for each [`Kind`]: pure and deterministic.
//!
//! Texts are cleaned first (control characters and line breaks become spaces), then cut to
//! per-kind caps measured *after* the kind's escaping (so that one item always fits in a part on
//! its own): a cut text ends with `…`; a link longer than its cap is dropped (the text stays).
//! When the whole message does not fit, items are packed greedily into parts (the largest prefix
//! that fits, found by galloping and bisection on the real rendered size), and every part's title
//! gets `(part i of n)`. A section cut between parts is repeated with `(continued)`.

use serde_json::{json, Value};

use super::{Kind, Message};

/// Slack: characters in a section block's text.
pub(crate) const SLACK_SECTION_CHARS: usize = 3000;
/// Slack: blocks per message.
pub(crate) const SLACK_MAX_BLOCKS: usize = 50;
/// Slack: characters in a header block.
pub(crate) const SLACK_HEADER_CHARS: usize = 150;
/// Mattermost: characters of the whole JSON body (the post limit is 16383 characters).
pub(crate) const MATTERMOST_CHARS: usize = 16_000;
/// Teams: bytes of the whole JSON body (the card limit is about 28 KB).
pub(crate) const TEAMS_BYTES: usize = 28_000;
/// Matrix: bytes of the event content (an event is at most 65536 bytes with its envelope).
pub(crate) const MATRIX_BYTES: usize = 60_000;
/// Generic webhook: bytes of one part.
pub(crate) const WEBHOOK_BYTES: usize = 64_000;

/// The longest label a part can get, used while packing (real labels are shorter).
const PLACEHOLDER_LABEL: &str = "(part 99999 of 99999)";
const PLACEHOLDER_N: usize = 99_999;
const CONTINUED: &str = " (continued)";

/// Caps in characters, measured after the kind's escaping.
struct Caps {
    title: usize,
    heading: usize,
    text: usize,
    link: usize,
}

fn caps(kind: Kind) -> Caps {
    match kind {
        Kind::Slack => Caps {
            title: 300,
            heading: 200,
            text: 1200,
            link: 1500,
        },
        Kind::Mattermost => Caps {
            title: 300,
            heading: 300,
            text: 2000,
            link: 2000,
        },
        Kind::Teams => Caps {
            title: 300,
            heading: 300,
            text: 1000,
            link: 2000,
        },
        Kind::Matrix => Caps {
            title: 300,
            heading: 300,
            text: 2000,
            link: 2000,
        },
        Kind::Webhook => Caps {
            title: 300,
            heading: 300,
            text: 8000,
            link: 4000,
        },
    }
}

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

fn escape(kind: Kind, s: &str) -> String {
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
fn truncate(kind: Kind, s: &str, cap: usize) -> String {
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
struct Prepared {
    title: String,
    sections: Vec<PSection>,
}

struct PSection {
    heading: String,
    items: Vec<PItem>,
}

struct PItem {
    text: String,
    link: Option<String>,
}

fn prepare(kind: Kind, m: &Message) -> Prepared {
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

/// One entry per item, and one for each section without items (its heading).
#[derive(Debug, Clone, Copy)]
struct Entry {
    section: usize,
    item: Option<usize>,
}

fn entries(p: &Prepared) -> Vec<Entry> {
    let mut out = Vec::new();
    for (s, sec) in p.sections.iter().enumerate() {
        if sec.items.is_empty() {
            out.push(Entry {
                section: s,
                item: None,
            });
        }
        for i in 0..sec.items.len() {
            out.push(Entry {
                section: s,
                item: Some(i),
            });
        }
    }
    out
}

/// A section, or the piece of it that falls in one part.
struct Frag<'a> {
    heading: &'a str,
    continued: bool,
    items: &'a [PItem],
}

/// What one body shows.
struct Part<'a> {
    id: &'a str,
    title: &'a str,
    /// `(part i of n)`, when split.
    label: Option<&'a str>,
    part: usize,
    parts: usize,
    frags: Vec<Frag<'a>>,
}

impl Part<'_> {
    fn full_title(&self) -> String {
        match self.label {
            Some(l) => format!("{} {l}", self.title),
            None => self.title.to_string(),
        }
    }
}

fn frags<'a>(p: &'a Prepared, entries: &[Entry]) -> Vec<Frag<'a>> {
    let mut out: Vec<Frag<'a>> = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let s = entries[i].section;
        let mut j = i;
        while j < entries.len() && entries[j].section == s {
            j += 1;
        }
        let sec = &p.sections[s];
        let items: &'a [PItem] = match (entries[i].item, entries[j - 1].item) {
            (Some(a), Some(b)) => &sec.items[a..=b],
            _ => &[],
        };
        out.push(Frag {
            heading: &sec.heading,
            continued: entries[i].item.is_some_and(|a| a > 0),
            items,
        });
        i = j;
    }
    out
}

/// The JSON body (or bodies) to send for `m` to a service of this kind, in order: one unless
/// the message exceeds the service's limits (Slack: 50 blocks and 3000 characters a section;
/// Mattermost: 16383 characters; Teams: about 28 KB; Matrix: 60 KB; webhook: 64 KB), in which
/// case each part's title ends with `(part i of n)`. Deterministic: the same message gives the
/// same bytes.
///
/// For Matrix the value is the `m.room.message` event content; for the others, the POST body.
pub fn render(kind: Kind, m: &Message) -> Vec<Value> {
    let p = prepare(kind, m);
    let all = entries(&p);
    let one = |range: std::ops::Range<usize>, label: Option<&str>, part: usize, parts: usize| {
        render_part(
            kind,
            &Part {
                id: &m.id,
                title: &p.title,
                label,
                part,
                parts,
                frags: frags(&p, &all[range]),
            },
        )
    };
    let whole = one(0..all.len(), None, 1, 1);
    if all.len() <= 1 || fits(kind, &whole) {
        return vec![whole];
    }

    // Pack with the longest label, so that the real labels can only make parts smaller.
    let ok = |a: usize, b: usize| {
        fits(
            kind,
            &one(a..b, Some(PLACEHOLDER_LABEL), PLACEHOLDER_N, PLACEHOLDER_N),
        )
    };
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < all.len() {
        // At least one entry per part (the caps make a lone entry fit).
        let mut good = start + 1;
        if ok(start, good) {
            let mut step = 1;
            let mut bad = None;
            while good < all.len() {
                step *= 2;
                let next = (start + step).min(all.len());
                if ok(start, next) {
                    good = next;
                } else {
                    bad = Some(next);
                    break;
                }
            }
            if let Some(mut bad) = bad {
                while bad - good > 1 {
                    let mid = good + (bad - good) / 2;
                    if ok(start, mid) {
                        good = mid;
                    } else {
                        bad = mid;
                    }
                }
            }
        }
        ranges.push(start..good);
        start = good;
    }
    let n = ranges.len();
    ranges
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let label = format!("(part {} of {n})", i + 1);
            one(r, Some(&label), i + 1, n)
        })
        .collect()
}

/// Whether a rendered body respects the kind's limits.
pub(crate) fn fits(kind: Kind, v: &Value) -> bool {
    match kind {
        Kind::Slack => {
            let blocks = v["blocks"].as_array().map_or(&[][..], |b| b.as_slice());
            blocks.len() <= SLACK_MAX_BLOCKS
                && blocks.iter().all(|b| {
                    let n = b["text"]["text"].as_str().map_or(0, |t| t.chars().count());
                    match b["type"].as_str() {
                        Some("header") => n <= SLACK_HEADER_CHARS,
                        _ => n <= SLACK_SECTION_CHARS,
                    }
                })
        }
        Kind::Mattermost => v.to_string().chars().count() <= MATTERMOST_CHARS,
        Kind::Teams => v.to_string().len() <= TEAMS_BYTES,
        Kind::Matrix => v.to_string().len() <= MATRIX_BYTES,
        Kind::Webhook => v.to_string().len() <= WEBHOOK_BYTES,
    }
}

fn render_part(kind: Kind, p: &Part<'_>) -> Value {
    match kind {
        Kind::Slack => slack(p),
        Kind::Mattermost => mattermost(p),
        Kind::Teams => teams(p),
        Kind::Matrix => matrix(p),
        Kind::Webhook => webhook(p),
    }
}

fn continued(f: &Frag<'_>) -> &'static str {
    if f.continued {
        CONTINUED
    } else {
        ""
    }
}

/// Lines joined by `\n` into chunks of at most `max` characters (a longer line stays alone).
fn chunk_lines(lines: &[String], max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0;
    for line in lines {
        let len = line.chars().count();
        if !cur.is_empty() && cur_len + 1 + len > max {
            out.push(std::mem::take(&mut cur));
            cur_len = 0;
        }
        if !cur.is_empty() {
            cur.push('\n');
            cur_len += 1;
        }
        cur.push_str(line);
        cur_len += len;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The header text: the title cut so that title and label fit in a header block.
fn slack_header(p: &Part<'_>) -> String {
    let label_len = p.label.map_or(0, |l| l.chars().count() + 1);
    let title = truncate(Kind::Webhook, p.title, SLACK_HEADER_CHARS - label_len);
    match p.label {
        Some(l) => format!("{title} {l}"),
        None => title,
    }
}

fn slack(p: &Part<'_>) -> Value {
    let k = Kind::Slack;
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": slack_header(p), "emoji": true},
    })];
    for f in &p.frags {
        let mut lines = Vec::with_capacity(f.items.len() + 1);
        if !f.heading.is_empty() {
            lines.push(format!("*{}*{}", escape(k, f.heading), continued(f)));
        }
        for it in f.items {
            lines.push(match &it.link {
                Some(l) => format!("• <{}|{}>", escape(k, l), escape(k, &it.text)),
                None => format!("• {}", escape(k, &it.text)),
            });
        }
        for chunk in chunk_lines(&lines, SLACK_SECTION_CHARS) {
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": chunk}}));
        }
    }
    json!({"text": escape(k, &p.full_title()), "blocks": blocks})
}

/// A Markdown link (Mattermost, Teams); the link is already cleaned for Markdown.
fn md_item(text: &str, link: Option<&str>) -> String {
    match link {
        Some(l) => format!("- [{text}]({l})"),
        None => format!("- {text}"),
    }
}

fn mattermost(p: &Part<'_>) -> Value {
    let k = Kind::Mattermost;
    let text = match p.label {
        Some(l) => format!("**{}** {l}", escape(k, p.title)),
        None => format!("**{}**", escape(k, p.title)),
    };
    let attachments: Vec<Value> = p
        .frags
        .iter()
        .map(|f| {
            let mut lines = Vec::with_capacity(f.items.len() + 1);
            if !f.heading.is_empty() {
                lines.push(format!("**{}**{}", escape(k, f.heading), continued(f)));
            }
            for it in f.items {
                lines.push(md_item(&escape(k, &it.text), it.link.as_deref()));
            }
            json!({
                "fallback": format!(
                    "{}{} ({} item{})",
                    f.heading,
                    continued(f),
                    f.items.len(),
                    if f.items.len() == 1 { "" } else { "s" }
                ),
                "text": lines.join("\n"),
            })
        })
        .collect();
    if attachments.is_empty() {
        json!({ "text": text })
    } else {
        json!({ "text": text, "attachments": attachments })
    }
}

fn teams(p: &Part<'_>) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": p.full_title(),
        "size": "Large",
        "weight": "Bolder",
        "wrap": true,
    })];
    for f in &p.frags {
        if !f.heading.is_empty() {
            body.push(json!({
                "type": "TextBlock",
                "text": format!("{}{}", f.heading, continued(f)),
                "weight": "Bolder",
                "spacing": "Medium",
                "wrap": true,
            }));
        }
        if !f.items.is_empty() {
            let lines: Vec<String> = f
                .items
                .iter()
                .map(|it| {
                    // Brackets would end the link text.
                    let text = if it.link.is_some() {
                        it.text.replace('[', "(").replace(']', ")")
                    } else {
                        it.text.clone()
                    };
                    md_item(&text, it.link.as_deref())
                })
                .collect();
            body.push(json!({
                "type": "TextBlock",
                "text": lines.join("\r"),
                "spacing": "Small",
                "wrap": true,
            }));
        }
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
            },
        }],
    })
}

fn matrix(p: &Part<'_>) -> Value {
    let k = Kind::Matrix;
    let title = p.full_title();
    let mut plain = title.clone();
    let mut html = format!("<h3>{}</h3>", escape(k, &title));
    for f in &p.frags {
        plain.push_str("\n\n");
        if !f.heading.is_empty() {
            plain.push_str(&format!("{}{}", f.heading, continued(f)));
            html.push_str(&format!(
                "<p><strong>{}{}</strong></p>",
                escape(k, f.heading),
                continued(f)
            ));
        }
        if !f.items.is_empty() {
            html.push_str("<ul>");
            for it in f.items {
                let text = escape(k, &it.text);
                match &it.link {
                    Some(l) => {
                        plain.push_str(&format!("\n- {}: {l}", it.text));
                        html.push_str(&format!("<li><a href=\"{}\">{text}</a></li>", escape(k, l)));
                    }
                    None => {
                        plain.push_str(&format!("\n- {}", it.text));
                        html.push_str(&format!("<li>{text}</li>"));
                    }
                }
            }
            html.push_str("</ul>");
        }
    }
    json!({
        "msgtype": "m.text",
        "body": plain.trim_start(),
        "format": "org.matrix.custom.html",
        "formatted_body": html,
        // Nobody is pinged by a digest, whatever names it contains.
        "m.mentions": {},
    })
}

fn webhook(p: &Part<'_>) -> Value {
    let sections: Vec<Value> = p
        .frags
        .iter()
        .map(|f| {
            let items: Vec<Value> = f
                .items
                .iter()
                .map(|it| match &it.link {
                    Some(l) => json!({"text": it.text, "link": l}),
                    None => json!({"text": it.text}),
                })
                .collect();
            json!({"heading": f.heading, "continued": f.continued, "items": items})
        })
        .collect();
    json!({
        "id": p.id,
        "part": p.part,
        "parts": p.parts,
        "title": p.full_title(),
        "sections": sections,
    })
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

    #[test]
    fn chunks_respect_the_maximum() {
        let lines: Vec<String> = (0..10).map(|i| format!("{i}{}", "x".repeat(9))).collect();
        let chunks = chunk_lines(&lines, 32);
        assert!(chunks.iter().all(|c| c.chars().count() <= 32));
        assert_eq!(chunks.join("\n"), lines.join("\n"));
    }
}
