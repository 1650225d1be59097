//! The services' limits: the caps on each text of a message, the size a whole body may have,
//! and whether a rendered body respects them.

use serde_json::Value;

use crate::Kind;

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

/// Caps in characters, measured after the kind's escaping.
pub(super) struct Caps {
    pub(super) title: usize,
    pub(super) heading: usize,
    pub(super) text: usize,
    pub(super) link: usize,
}

pub(super) fn caps(kind: Kind) -> Caps {
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

/// Whether a rendered body respects the kind's limits.
pub(super) fn fits(kind: Kind, v: &Value) -> bool {
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
