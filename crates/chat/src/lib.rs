//! # portcullis-chat
//!
//! Chat notifications: a transport-neutral [`Message`] (a digest or an alert), rendered for
//! Slack, Mattermost, Microsoft Teams, Matrix or a generic JSON webhook ([`render`]), and sent by
//! a [`Poster`] that paces, retries and keeps secrets out of errors and logs.
//!
//! - [`render`] (pure, deterministic): one JSON body per part, each within the service's limits
//!   (see `docs/tracker-apis.md`, "Chat webhooks"). A message too big for one post is split
//!   between items; every part's title then ends with `(part i of n)`, and a section cut in two
//!   goes on under its heading marked `(continued)`.
//! - [`Poster::post`]: sends the parts in order, at most one request per second per target,
//!   honouring `Retry-After` and Matrix's `retry_after_ms`, retrying transient failures with
//!   exponential backoff, and turning refusals into a [`NotifyError`] that says what to do.
//!
//! Webhook URLs and Matrix tokens are [`Secret`]s: the URL of a Slack or Teams webhook *is* the
//! credential. No [`NotifyError`] message and no `tracing` event carries them; errors coming
//! from the HTTP client are stripped of their URL and kept as causes, never formatted into a
//! message.

mod post;
mod render;

#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use portcullis_core::secret::Secret;
pub use post::{PostReport, Poster, PosterConfig};
pub use render::render;

/// A notification, independent of where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The headline, e.g. `v23.0.4: 3 backports waiting for a decision`.
    pub title: String,
    /// The body, in order.
    pub sections: Vec<Section>,
    /// Stable id of this digest/alert, used for idempotency: Matrix transaction ids and the
    /// generic webhook's `Idempotency-Key` are `{id}-{part}`. Send the same message again with
    /// the same id and those services will not show it twice.
    pub id: String,
}

/// A titled group of items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Shown in bold above the items.
    pub heading: String,
    /// One line each.
    pub items: Vec<Item>,
}

/// One line of a section, optionally a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Plain text (no markup: it is escaped for each service; line breaks become spaces).
    pub text: String,
    /// Where the text links to (`http(s)://…`).
    pub link: Option<String>,
}

impl Item {
    /// An item without a link.
    pub fn text(text: impl Into<String>) -> Item {
        Item {
            text: text.into(),
            link: None,
        }
    }

    /// An item linking to `link`.
    pub fn link(text: impl Into<String>, link: impl Into<String>) -> Item {
        Item {
            text: text.into(),
            link: Some(link.into()),
        }
    }
}

/// The kind of chat service a [`Target`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Slack incoming webhook (`blocks` with a `text` fallback; success is 200 `ok`).
    Slack,
    /// Mattermost incoming webhook (`text` and `attachments`; success is 200 `ok`).
    Mattermost,
    /// Microsoft Teams Workflows webhook (an Adaptive Card; success is any 2xx, usually 202).
    Teams,
    /// Matrix client-server API (`m.room.message` sent with `PUT …/send/…/{txnId}`).
    Matrix,
    /// Any HTTP endpoint taking portcullis's own JSON (success is any 2xx).
    Webhook,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 5] = [
        Kind::Slack,
        Kind::Mattermost,
        Kind::Teams,
        Kind::Matrix,
        Kind::Webhook,
    ];

    /// The service's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Slack => "Slack",
            Kind::Mattermost => "Mattermost",
            Kind::Teams => "Teams",
            Kind::Matrix => "Matrix",
            Kind::Webhook => "webhook",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where to send: a named chat destination. `Debug` hides the URL and the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A name for messages and logs (e.g. `release-channel`); never secret.
    pub name: String,
    /// The kind of service.
    pub kind: Kind,
    /// The webhook URL (Slack, Mattermost, Teams, webhook), or the Matrix homeserver's base URL
    /// (`https://matrix.example.org`).
    pub url: Secret,
    /// Matrix only: the room id (`!abc:example.org`) or alias the bot has joined.
    pub room: Option<String>,
    /// Matrix only: the bot's access token (sent as `Authorization: Bearer`).
    pub token: Option<Secret>,
    /// The pause between two messages to this target; `None`: the poster's
    /// [`PosterConfig::min_interval`](crate::PosterConfig) (one second).
    pub min_interval: Option<std::time::Duration>,
}

/// An underlying error kept as a [`NotifyError`]'s cause.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a notification was not (entirely) delivered. Parts before `part` were delivered.
///
/// The messages never contain the webhook URL or the token: they name the target instead; a
/// cause kept from the HTTP client is stripped of its URL.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The target cannot be used as configured.
    #[error("chat target `{target}`: {problem}")]
    Config {
        /// The target's name.
        target: String,
        /// What is wrong and what to do.
        problem: String,
        /// The underlying error (a URL that does not parse), which never quotes the secret.
        #[source]
        cause: Option<Cause>,
    },
    /// The HTTP client could not be built.
    #[error("could not set up the HTTP client for chat notifications")]
    Client(#[source] portcullis_http::Error),
    /// The service refused a part; sending it again would not help.
    #[error(
        "chat target `{target}` ({kind}) refused part {part} of {parts}: {reason}. {hint}{}",
        delivered_note(*.part)
    )]
    Rejected {
        /// The target's name.
        target: String,
        /// Its kind.
        kind: Kind,
        /// The part refused (1-based).
        part: usize,
        /// How many parts the message has.
        parts: usize,
        /// The HTTP status.
        status: u16,
        /// The service's error code (Slack's plain-text code, Matrix's `errcode`), if any.
        code: Option<String>,
        /// The code or status, with a short excerpt of the answer.
        reason: String,
        /// What to do about it.
        hint: String,
    },
    /// A part still failed after the allowed number of attempts.
    #[error(
        "chat target `{target}` ({kind}): part {part} of {parts} not delivered after {attempts} attempt(s); last error: {last_error}{}",
        delivered_note(*.part)
    )]
    GaveUp {
        /// The target's name.
        target: String,
        /// Its kind.
        kind: Kind,
        /// The part that failed (1-based).
        part: usize,
        /// How many parts the message has.
        parts: usize,
        /// Attempts made for that part.
        attempts: usize,
        /// The last failure (the status, or what went wrong with the connection).
        last_error: String,
        /// The transport error behind `last_error`, stripped of its URL.
        #[source]
        cause: Option<Cause>,
    },
    /// The service asked to wait longer than [`PosterConfig::max_retry_after`].
    #[error(
        "chat target `{target}` ({kind}) is rate limited on part {part} of {parts}: it asks to wait {}s, more than the {}s allowed; send it later{}",
        .wait.as_secs_f64(), .max.as_secs_f64(), delivered_note(*.part)
    )]
    RateLimited {
        /// The target's name.
        target: String,
        /// Its kind.
        kind: Kind,
        /// The part refused (1-based).
        part: usize,
        /// How many parts the message has.
        parts: usize,
        /// The wait asked for.
        wait: std::time::Duration,
        /// The longest wait allowed.
        max: std::time::Duration,
    },
}

fn delivered_note(part: usize) -> String {
    match part {
        0 | 1 => String::new(),
        2 => " (part 1 was delivered)".to_string(),
        p => format!(" (parts 1 to {} were delivered)", p - 1),
    }
}

impl NotifyError {
    /// The service's error code, when it gave one (`channel_not_found`, `M_FORBIDDEN`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            NotifyError::Rejected { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether sending again later might succeed (rate limits and transient failures), as
    /// opposed to a refusal or a configuration error that needs a fix first.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            NotifyError::GaveUp { .. } | NotifyError::RateLimited { .. }
        )
    }
}
