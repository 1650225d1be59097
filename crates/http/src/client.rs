//! The `reqwest::Client` every portcullis HTTP client uses.

use std::time::Duration;

use crate::Error;

/// How to build a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Time allowed for one request, from connecting to the end of the answer.
    pub timeout: Duration,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Follow redirects (reqwest's default policy) or hand them to the caller as answers.
    pub follow_redirects: bool,
}

impl ClientConfig {
    /// `timeout` for the whole request and for connecting; redirects followed.
    pub fn new(timeout: Duration) -> ClientConfig {
        ClientConfig {
            timeout,
            connect_timeout: timeout,
            follow_redirects: true,
        }
    }
}

/// A client with rustls (ring is the only crypto provider built in, so none needs choosing),
/// the timeouts and portcullis's user agent.
pub fn client(config: &ClientConfig) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout)
        .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")));
    if !config.follow_redirects {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    builder.build().map_err(Error::Client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_builds_with_and_without_redirects() {
        let mut config = ClientConfig::new(Duration::from_secs(5));
        assert!(client(&config).is_ok());
        config.follow_redirects = false;
        config.connect_timeout = Duration::from_secs(1);
        assert!(client(&config).is_ok());
    }
}
