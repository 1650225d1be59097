//! `demo --jira` and `demo --notify`: the demo over the testkit's Jira-compatible server and chat
//! receiver. Test doubles are not part of the default build: this module exists with the
//! `test-servers` feature (`cargo run --release --features test-servers -- demo --jira`).

use std::path::Path;

use serde_json::Value;

use portcullis_core::event::NewEvent;
use portcullis_core::time::now;
use portcullis_core::Problem;
use portcullis_ledger::Ledger;
use portcullis_ops::workspace::Workspace;
use portcullis_ops::{Error, Result};

use super::campaign::DemoData;
use super::JiraDemo;

/// Both rounds over HTTP: start the test server with the tickets as they stood at the first
/// cut, sync, record and push the decisions, cut; then replay Jira's later history on the
/// server (new tickets, label edits at their times), sync again, record and push the rest.
/// The server lives as long as this call.
pub(super) fn over_http(
    ledger_path: &Path,
    ws: &Workspace,
    data: &DemoData,
    early: Vec<NewEvent>,
    late: Vec<NewEvent>,
    cut: impl FnOnce() -> Result<portcullis_ops::release::CutReport>,
) -> Result<(portcullis_ops::release::CutReport, JiraDemo)> {
    use portcullis_ops::config::JiraConfig;
    use portcullis_ops::credentials::{JiraCredentials, Secret};
    use portcullis_ops::tracker::Trackers;
    use portcullis_testkit::jira_server::{Config, Flavor, JiraServer, User};
    let token = "demo-token";
    let issues_of = |v: Value| {
        v.get("issues")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let server = JiraServer::start(
        Config {
            flavor: Flavor::DataCenter,
            users: vec![User {
                name: "portcullis-bot".into(),
                account_id: "557058:portcullis-bot".into(),
                display_name: "portcullis bot".into(),
                email: "bot@example.org".into(),
                token: token.into(),
            }],
            ..Config::data_center()
        },
        issues_of(data.export(Some(data.first_cut))),
        0,
    )
    .map_err(|e| {
        Error::Problem(Problem::internal("cannot start the demo Jira server").because(e))
    })?;
    let url = server.url();
    let keys: Vec<String> = data.issues.iter().map(|i| i.key.clone()).collect();
    let rt = portcullis_ops::tracker::runtime()?;
    let trackers = Trackers {
        jira: Some(JiraConfig::new(url.clone())),
        github: None,
        jira_credentials: Some(JiraCredentials {
            email: None,
            token: Secret::new(token),
            origin: "the demo".into(),
        }),
    };
    let round = |decisions: Vec<NewEvent>, full: bool, report: &mut JiraDemo| {
        rt.block_on(async {
            let mut ledger = Ledger::open(ledger_path)?;
            let synced = portcullis_ops::tracker::sync(
                ws,
                &mut ledger,
                &trackers,
                full,
                &keys,
                &portcullis_trackers::sync::Quiet,
            )
            .await?;
            ledger.append_all(&ws.policy, decisions)?;
            let pushed =
                portcullis_ops::tracker::push(ws, &mut ledger, &trackers, &[], false).await?;
            for sync in &synced {
                report.fetched += sync.fetched;
                report.pages += sync.pages;
                report.new_events += sync.new_events;
            }
            for (_, push) in &pushed.reports {
                report.new_events += push.new_events;
                report.pushed += push.pushed;
                report.conflicts += push.conflicts;
            }
            Ok::<_, Error>(())
        })
    };
    let mut report = JiraDemo {
        url: url.clone(),
        ..Default::default()
    };
    round(early, false, &mut report)?;
    let first = cut()?;
    let (created, edits) = data.replay_after(data.first_cut);
    server.add_issues(created);
    for e in &edits {
        server.set_now(Some(e.at));
        let add: Vec<&str> = e.add.iter().map(String::as_str).collect();
        let remove: Vec<&str> = e.remove.iter().map(String::as_str).collect();
        server.edit_labels(&e.key, e.user, &add, &remove);
    }
    server.set_now(None);
    // Round two: decisions recorded since the first cut (including the cut's own `done`
    // decisions) are pushed with the rest.
    round(late, true, &mut report)?;
    server.shutdown();
    Ok((first, report))
}

/// `demo --notify`: start a local chat receiver, post the digest to it as a generic JSON
/// webhook, and say what it received.
pub(super) fn post_digest(ws: &Workspace) -> Result<String> {
    use portcullis_chat::{Kind, Poster, PosterConfig, Secret, Target};
    let server = portcullis_testkit::chat_server::ChatServer::start();
    let target = Target {
        name: "demo-receiver".into(),
        kind: Kind::Webhook,
        url: Secret::new(format!("{}/hooks/demo", server.url())),
        room: None,
        token: None,
        min_interval: None,
    };
    let poster = Poster::new(PosterConfig::default())?;
    let rt = portcullis_ops::tracker::runtime()?;
    let report = rt.block_on(portcullis_ops::notify::notify(
        ws,
        &poster,
        std::slice::from_ref(&target),
        &portcullis_ops::notify::NotifyOptions {
            line: Some("v23".into()),
            digest_only: true,
            force: true,
            ..Default::default()
        },
        now(),
    ))?;
    let got = server.messages();
    server.shutdown();
    let mut s =
        String::from("\nChat: the digest, posted to a local receiver (`portcullis notify`):\n\n");
    if let Some(m) = &report.digest {
        s.push_str(&portcullis_ops::digest::to_text(m));
    }
    let bytes: usize = got.iter().map(|r| r.body.to_string().len()).sum();
    s.push_str(&format!(
        "\nThe receiver got {} message(s) ({bytes} bytes of JSON); the post is recorded in the ledger, so `notify` will not send it again.\n",
        got.len()
    ));
    Ok(s)
}
