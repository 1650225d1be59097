//! Rendering a [`Message`] for each [`Kind`]: pure and deterministic.
//!
//! Texts are cleaned first (control characters and line breaks become spaces), then cut to
//! per-kind caps measured *after* the kind's escaping (so that one item always fits in a part on
//! its own): a cut text ends with `…`; a link longer than its cap is dropped (the text stays).
//! When the whole message does not fit, items are packed greedily into parts (the largest prefix
//! that fits, found by galloping and bisection on the real rendered size), and every part's title
//! gets `(part i of n)`. A section cut between parts is repeated with `(continued)`.
//!
//! The steps, one module each: [`text`] cleans and cuts the message, [`parts`] says what one
//! part shows, [`bodies`] writes a part as each service's JSON and [`limits`] holds the
//! services' limits; this module packs the parts.

mod bodies;
mod limits;
mod parts;
mod text;

use serde_json::Value;

use crate::{Kind, Message};
use bodies::render_part;
use limits::fits;
#[cfg(test)]
pub(crate) use limits::{
    MATRIX_BYTES, MATTERMOST_CHARS, SLACK_HEADER_CHARS, SLACK_MAX_BLOCKS, SLACK_SECTION_CHARS,
    TEAMS_BYTES, WEBHOOK_BYTES,
};
use parts::{entries, frags, Part};
use text::prepare;

/// The longest label a part can get, used while packing (real labels are shorter).
const PLACEHOLDER_LABEL: &str = "(part 99999 of 99999)";
const PLACEHOLDER_N: usize = 99_999;

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
