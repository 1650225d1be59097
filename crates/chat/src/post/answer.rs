//! What a service's answer means: delivered, refused (with what to do about Slack's codes,
//! Matrix's `errcode`s and HTTP statuses), rate limited, or trouble worth another attempt.
//! Excerpts of answers are scrubbed of the target's secrets.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::scrub;
use crate::{Kind, Target};

/// What one request came to.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Accepted; the Matrix event id.
    Delivered(Option<String>),
    /// 429 (or 503 with `Retry-After`): wait as asked (`None`: not said).
    RateLimited { wait: Option<Duration>, why: String },
    /// Worth retrying: 5xx, 408, connection failures, timeouts.
    Transient(Trouble),
    /// Refused; retrying would not help.
    Refused {
        status: u16,
        code: Option<String>,
        reason: String,
        hint: String,
    },
}

/// What went wrong on an attempt worth another: what the error says (never a secret), and the
/// transport error behind it, stripped of its URL.
#[derive(Debug)]
pub(super) struct Trouble {
    pub(super) text: String,
    pub(super) cause: Option<reqwest::Error>,
}

impl Trouble {
    pub(super) fn new(text: String) -> Trouble {
        Trouble { text, cause: None }
    }
}

/// For the log line of a retry.
impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The first line of an answer, at most 200 characters, scrubbed.
fn excerpt(body: &str, target: &Target) -> String {
    let line = body.trim().lines().next().unwrap_or("").trim();
    let mut short: String = line.chars().take(200).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    scrub(&short, target)
}

/// Slack's plain-text error codes and what to do about them.
fn slack_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "invalid_payload" => {
            "Slack could not read the message: this is a bug in portcullis's rendering, please \
             report it (the message was not posted)"
        }
        "action_prohibited" => {
            "an admin has restricted posting to this channel: ask a Slack admin to allow the \
             app, or create a webhook for another channel and update the target's URL"
        }
        "channel_not_found" => {
            "the webhook's channel no longer exists: create a new incoming webhook for an \
             existing channel and update the target's URL"
        }
        "channel_is_archived" => {
            "the webhook's channel is archived: unarchive it, or create a webhook for another \
             channel and update the target's URL"
        }
        "no_service" | "no_service_id" | "no_team" | "team_disabled" | "invalid_token"
        | "token_revoked" => {
            "the webhook was revoked or its app removed: create a new incoming webhook and \
             update the target's URL"
        }
        "posting_to_general_channel_denied" => {
            "only admins may post to this channel: use a webhook for another channel"
        }
        _ => return None,
    })
}

/// Matrix `errcode`s and what to do about them.
fn matrix_hint(code: &str) -> &'static str {
    match code {
        "M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN" => {
            "the homeserver does not accept the access token: log the bot in again and update \
             the target's token"
        }
        "M_FORBIDDEN" => {
            "the bot may not post in this room: invite it and have it join, or give it the power \
             level to send messages"
        }
        "M_NOT_FOUND" => "no such room: check the target's room id",
        "M_TOO_LARGE" => "the message is too large: this is a bug in portcullis's rendering",
        "M_BAD_JSON" | "M_NOT_JSON" => {
            "the homeserver could not read the message: this is a bug in portcullis's rendering"
        }
        _ => "check the bot account, the room and the homeserver URL",
    }
}

fn status_hint(kind: Kind, status: u16) -> String {
    let what = match kind {
        Kind::Matrix => "the homeserver URL",
        _ => "the webhook URL",
    };
    match status {
        300..=399 => format!("the service answered with a redirect: check {what}"),
        401 | 403 => format!(
            "the service refused the request: the {} may have been disabled or revoked; create \
             a new one and update the target",
            match kind {
                Kind::Matrix => "access token",
                _ => "webhook",
            }
        ),
        404 | 410 => format!("nothing answers at {what}: it was deleted or mistyped"),
        413 => "the message is too large: this is a bug in portcullis's rendering".to_string(),
        _ => format!("check {what} and the service's status"),
    }
}

/// Classify an answer (status, `Retry-After`, body) for the target's kind.
pub(super) fn classify(
    target: &Target,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &str,
) -> Outcome {
    let kind = target.kind;
    let code = status.as_u16();
    let json: Option<Value> = serde_json::from_str(body).ok();
    let matrix_errcode = json
        .as_ref()
        .and_then(|j| j["errcode"].as_str())
        .map(str::to_string);

    if status.is_success() {
        return match kind {
            Kind::Slack | Kind::Mattermost if code == 200 && body.trim() == "ok" => {
                Outcome::Delivered(None)
            }
            Kind::Teams | Kind::Webhook => Outcome::Delivered(None),
            Kind::Matrix => match json.as_ref().and_then(|j| j["event_id"].as_str()) {
                Some(id) if code == 200 => Outcome::Delivered(Some(id.to_string())),
                _ => Outcome::Refused {
                    status: code,
                    code: None,
                    reason: format!("HTTP {code} without an event_id"),
                    hint: "check that the URL is the homeserver's (client API) base URL"
                        .to_string(),
                },
            },
            Kind::Slack | Kind::Mattermost => Outcome::Refused {
                status: code,
                code: None,
                reason: format!(
                    "HTTP {code} with `{}` instead of `ok`",
                    excerpt(body, target)
                ),
                hint: format!("check that the URL is a {} incoming webhook", kind.name()),
            },
        };
    }

    if code == 429 || (code == 503 && retry_after.is_some()) {
        let wait = match kind {
            Kind::Matrix => json
                .as_ref()
                .and_then(|j| j["retry_after_ms"].as_u64())
                .map(Duration::from_millis)
                .or(retry_after),
            _ => retry_after,
        };
        return Outcome::RateLimited {
            wait,
            why: format!("HTTP {code} (rate limited)"),
        };
    }
    if status.is_server_error() || code == 408 {
        let ex = excerpt(body, target);
        return Outcome::Transient(Trouble::new(if ex.is_empty() {
            format!("HTTP {code}")
        } else {
            format!("HTTP {code}: {ex}")
        }));
    }

    // Refusals.
    let text = body.trim();
    if kind == Kind::Slack {
        if let Some(hint) = slack_hint(text) {
            return Outcome::Refused {
                status: code,
                code: Some(text.to_string()),
                reason: format!("`{text}` (HTTP {code})"),
                hint: hint.to_string(),
            };
        }
    }
    if kind == Kind::Matrix {
        if let Some(errcode) = matrix_errcode {
            let msg = json
                .as_ref()
                .and_then(|j| j["error"].as_str())
                .map(|m| format!(" {}", excerpt(m, target)))
                .unwrap_or_default();
            return Outcome::Refused {
                status: code,
                reason: format!("`{errcode}`{msg} (HTTP {code})"),
                hint: matrix_hint(&errcode).to_string(),
                code: Some(errcode),
            };
        }
    }
    // Mattermost answers `{"id": "…", "message": "…"}`; Slack may answer an unknown code.
    let detail = json
        .as_ref()
        .and_then(|j| j["message"].as_str().or(j["error"].as_str()))
        .map(|m| excerpt(m, target))
        .unwrap_or_else(|| excerpt(text, target));
    let is_code = !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    Outcome::Refused {
        status: code,
        code: is_code.then(|| text.to_string()),
        reason: if detail.is_empty() {
            format!("HTTP {code}")
        } else {
            format!("HTTP {code}: {detail}")
        },
        hint: status_hint(kind, code),
    }
}
