//! One part of a message written as the JSON body of each kind of service (Slack blocks, a
//! Mattermost post, a Teams adaptive card, a Matrix event, the generic webhook's JSON).

use serde_json::{json, Value};

use super::limits::{SLACK_HEADER_CHARS, SLACK_SECTION_CHARS};
use super::parts::{Frag, Part};
use super::text::{escape, truncate};
use crate::Kind;

const CONTINUED: &str = " (continued)";

pub(super) fn render_part(kind: Kind, p: &Part<'_>) -> Value {
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
    fn chunks_respect_the_maximum() {
        let lines: Vec<String> = (0..10).map(|i| format!("{i}{}", "x".repeat(9))).collect();
        let chunks = chunk_lines(&lines, 32);
        assert!(chunks.iter().all(|c| c.chars().count() <= 32));
        assert_eq!(chunks.join("\n"), lines.join("\n"));
    }
}
