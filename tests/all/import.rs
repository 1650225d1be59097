//! Import from Jira exports: every real fixture, idempotence, label history, and bad input that
//! must leave the ledger unchanged.

use crate::harness::{fixtures, ExportBuilder, TestEnv};

/// Every search response or issue among the shared fixtures imports under the default policy.
#[test]
fn every_real_fixture_imports() {
    let cases = [
        ("server_v2_search_startAt_11_issues.json", 11),
        ("cloud_agile_search_with_changelog.json", 1),
        ("cloud_v3_legacy_search_5_issues_atlascode.json", 5),
        ("cloud_v3_issue_GET_BTS-1_atlascode.json", 1),
        (
            "atlassian_openapi_examples/cloud_v3_search_jql_GET_200.json",
            1,
        ),
        (
            "atlassian_openapi_examples/cloud_v3_search_legacy_GET_200_deprecated.json",
            1,
        ),
        ("atlassian_openapi_examples/cloud_v3_issue_GET_200.json", 1),
    ];
    for (file, tickets) in cases {
        let env = TestEnv::with_workspace("default");
        let path = fixtures().join("jira").join(file);
        let run = env.run(&[
            "sync",
            "--from-file",
            path.to_str().unwrap(),
            "--format",
            "json",
        ]);
        run.ok();
        let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(summary["tickets"], tickets, "{file}: {}", run.stdout);
        assert!(
            summary["new_events"].as_u64().unwrap() >= tickets,
            "{file}: {}",
            run.stdout
        );
        // Importing the same file again adds nothing.
        let before = env.ledger_fingerprint();
        let again = env.run(&[
            "sync",
            "--from-file",
            path.to_str().unwrap(),
            "--format",
            "json",
        ]);
        again.ok();
        let summary: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
        assert_eq!(
            summary["new_events"], 0,
            "{file}: second import added events"
        );
        assert_eq!(env.ledger_fingerprint(), before, "{file}");
        env.run(&["audit"]).ok();
    }
}

/// The fixtures that are not search results give clear errors and change nothing.
#[test]
fn non_search_fixtures_are_refused_clearly() {
    let cases = [
        (
            "server_v2_error_400_error_messages.json",
            "Jira error response, not search results: one of 'fields' or 'update' required",
        ),
        (
            "server_v2_error_400_field_errors.json",
            "invalid: Field 'invalid' is not valid for this operation",
        ),
        (
            "atlassian_openapi_examples/cloud_v3_issue_changelog_GET_200_labels.json",
            "is a changelog page",
        ),
        (
            "atlassian_openapi_examples/cloud_v3_issue_remotelink_GET_200.json",
            "not a Jira search response",
        ),
        (
            "atlassian_openapi_examples/cloud_v3_search_approximate_count_POST_200.json",
            "no `issues` key",
        ),
    ];
    for (file, expect) in cases {
        let env = TestEnv::with_workspace("default");
        let before = env.ledger_fingerprint();
        let path = fixtures().join("jira").join(file);
        let run = env.run(&["sync", "--from-file", path.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{file}");
        assert!(run.stderr.contains(expect), "{file}: {}", run.stderr);
        assert!(
            run.stderr.contains("hint:"),
            "{file}: no hint in {}",
            run.stderr
        );
        assert_eq!(env.ledger_fingerprint(), before, "{file}");
    }
}

/// The one real capture with an embedded changelog keeps its history and actor.
#[test]
fn agile_capture_keeps_its_changelog() {
    let env = TestEnv::with_workspace("default");
    let path = fixtures().join("jira/cloud_agile_search_with_changelog.json");
    env.run(&["sync", "--from-file", path.to_str().unwrap()])
        .ok();
    let h = env.run(&["history", "AR-86", "--format", "json"]);
    h.ok();
    let v: serde_json::Value = serde_json::from_str(&h.stdout).unwrap();
    assert_eq!(
        v["info"]["updated"], "2016-02-01T16:17:04Z",
        "-0800 offset converted to UTC"
    );
}

fn v23_export() -> String {
    ExportBuilder::new()
        .ticket(
            "DM-100",
            "Clean path",
            &[
                ("2022-01-04T09:00:00.000-0700", "dev", "backport-v23"),
                (
                    "2022-01-11T10:00:00.000-0700",
                    "mlindqvist",
                    "backport-v23 backport-approved",
                ),
                (
                    "2022-01-13T10:00:00.000-0700",
                    "dev",
                    "backport-v23 backport-approved backport-done",
                ),
            ],
        )
        .ticket(
            "DM-200",
            "Rejected by removing the label",
            &[
                (
                    "2022-01-04T09:00:00.000-0700",
                    "dev",
                    "backport-v23 pipelines",
                ),
                ("2022-01-11T10:00:00.000-0700", "tokafor", "pipelines"),
            ],
        )
        .ticket(
            "DM-300",
            "Approved by someone not on the committee",
            &[
                ("2022-01-04T09:00:00.000-0700", "dev", "backport-v23"),
                (
                    "2022-01-05T09:00:00.000-0700",
                    "rgarcia",
                    "backport-v23 backport-approved",
                ),
            ],
        )
        .ticket(
            "DM-400",
            "Waiting",
            &[("2022-01-18T09:00:00.000+0100", "dev", "backport-v23")],
        )
        .build()
}

#[test]
fn label_history_becomes_workflow_state() {
    let env = TestEnv::with_workspace("v23");
    env.write("export.json", &v23_export());
    env.run(&["sync", "--from-file", "export.json"]).ok();
    let run = env.run(&["status", "--format", "json"]);
    run.ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let state = |key: &str| {
        v["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == key)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("DM-100"), "done");
    assert_eq!(state("DM-200"), "withdrawn");
    assert_eq!(state("DM-300"), "approved");
    assert_eq!(state("DM-400"), "requested");
    let kinds: Vec<String> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| format!("{} {}", x[0], x[1]["kind"]))
        .collect();
    assert_eq!(
        kinds,
        vec![
            "\"DM-200\" \"unrecorded_removal\"",
            "\"DM-300\" \"approved_by_non_member\""
        ]
    );
}

#[test]
fn import_is_idempotent_and_incremental() {
    let env = TestEnv::with_workspace("v23");
    env.write("export.json", &v23_export());
    env.run(&["sync", "--from-file", "export.json"]).ok();
    let first = env.ledger_fingerprint();
    // A different file with the same issues (pretty-printed differently) adds nothing either.
    let compact: serde_json::Value = serde_json::from_str(&v23_export()).unwrap();
    env.write("compact.json", &compact.to_string());
    let run = env.run(&["sync", "--from-file", "compact.json", "--format", "json"]);
    run.ok();
    assert!(run.stdout.contains("\"new_events\": 0"), "{}", run.stdout);
    assert_eq!(env.ledger_fingerprint(), first);
    // A later export with one more change adds exactly that change (and the new field snapshot).
    // Jira history ids are stable: DM-400's first change was history 1008 in the first export.
    let later = ExportBuilder::starting_at(1007)
        .ticket(
            "DM-400",
            "Waiting",
            &[
                ("2022-01-18T09:00:00.000+0100", "dev", "backport-v23"),
                (
                    "2022-01-25T17:00:00.000+0100",
                    "praman",
                    "backport-v23 backport-approved",
                ),
            ],
        )
        .build();
    env.write("later.json", &later);
    let run = env.run(&["sync", "--from-file", "later.json", "--format", "json"]);
    run.ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["new_events"], 2, "{}", run.stdout);
    let h = env.run(&["history", "DM-400"]);
    assert!(h.stdout.contains("v23: approved"), "{}", h.stdout);
}

#[test]
fn bad_input_leaves_the_ledger_unchanged() {
    let env = TestEnv::with_workspace("v23");
    env.write("export.json", &v23_export());
    env.run(&["sync", "--from-file", "export.json"]).ok();
    let before = env.ledger_fingerprint();
    let full = v23_export();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "truncated.json",
            full[..full.len() / 2].to_string(),
            "is truncated",
        ),
        (
            "garbage.json",
            "{\"issues\": [}".into(),
            "is not valid JSON",
        ),
        (
            "login.html",
            "<!DOCTYPE html><html><body>Log in</body></html>".into(),
            "HTML or XML page",
        ),
        ("empty.json", "".into(), "is empty"),
        ("array.json", "[1,2]".into(), "not a Jira search response"),
        (
            "wrongshape.json",
            "{\"issues\": [{\"key\": 5}]}".into(),
            "unexpected shape at `issues[0].key`",
        ),
        (
            "otherproject.json",
            ExportBuilder::new()
                .ticket("DM-500", "fine", &[])
                .ticket("SP-1", "other project", &[])
                .build(),
            "do not match the policy's pattern `DM-\\d+`: SP-1",
        ),
    ];
    for (name, content, expect) in cases {
        env.write(name, &content);
        // Together with a good file: all or nothing.
        let run = env.run(&["sync", "--from-file", "export.json", "--from-file", name]);
        assert_eq!(run.code, 2, "{name}: {}", run.stdout);
        assert!(
            run.stderr.contains(expect),
            "{name}: expected `{expect}` in {}",
            run.stderr
        );
        assert_eq!(
            env.ledger_fingerprint(),
            before,
            "{name} changed the ledger"
        );
    }
    let run = env.run(&["sync", "--from-file", "missing.json"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read missing.json"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_backport_labels_are_reported() {
    let env = TestEnv::with_workspace("v23");
    let export = ExportBuilder::new()
        .ticket(
            "DM-9",
            "x",
            &[(
                "2022-01-04T09:00:00.000-0700",
                "dev",
                "backport-v23 backport-v24",
            )],
        )
        .build();
    env.write("e.json", &export);
    let run = env.run(&["sync", "--from-file", "e.json"]);
    run.ok();
    assert!(run.stderr.contains("label `backport-v24` looks like a backport label but no release line of the policy uses it"), "{}", run.stderr);
}

#[test]
fn truncated_changelog_is_reconciled_from_current_labels() {
    let env = TestEnv::with_workspace("v23");
    // The history only has the approval; the request happened in a change that was cut off.
    let mut v: serde_json::Value = serde_json::from_str(
        &ExportBuilder::new()
            .ticket(
                "DM-77",
                "x",
                &[
                    ("2022-01-04T09:00:00.000-0700", "dev", "backport-v23"),
                    (
                        "2022-01-11T09:00:00.000-0700",
                        "mlindqvist",
                        "backport-v23 backport-approved",
                    ),
                ],
            )
            .build(),
    )
    .unwrap();
    let cl = &mut v["issues"][0]["changelog"];
    cl["histories"].as_array_mut().unwrap().truncate(1); // newest first: keep the approval
    cl["total"] = 2.into();
    env.write("e.json", &v.to_string());
    let run = env.run(&["sync", "--from-file", "e.json"]);
    run.ok();
    assert!(
        run.stderr
            .contains("DM-77: the exported changelog is truncated (1 of 2 entries)"),
        "{}",
        run.stderr
    );
    let h = env.run(&["history", "DM-77"]);
    assert!(h.stdout.contains("v23: approved"), "{}", h.stdout);
    assert!(
        !h.stdout.contains("violation"),
        "the request is known from the snapshot:\n{}",
        h.stdout
    );
}

/// An import plans its tickets in batches (label facts read at once, one append per batch). The
/// events and derived state must be those of one ticket at a time (here: one file per ticket),
/// on both backends: with facts already in the ledger, more tickets than a batch, and a key that
/// appears twice in the same batch and across batches (its second copy, a later export with a
/// truncated changelog, planned against the first copy's events: without them it would record
/// its earlier labels again as "present before the first recorded change").
#[test]
fn batched_import_with_a_repeated_key_and_known_facts_matches_one_ticket_at_a_time() {
    use portcullis_core::policy::{Policy, BUILTIN_V23};
    use portcullis_ledger::Ledger;
    let policy = Policy::from_toml("v23.toml", BUILTIN_V23).unwrap();
    let first = |key: &str| {
        let one = ("2022-02-01T09:00:00.000+0000", "dev", "backport-v23");
        let two = (
            "2022-02-02T09:00:00.000+0000",
            "praman",
            "backport-v23 backport-approved",
        );
        let b = ExportBuilder::new().ticket(key, "First", &[one, two]);
        serde_json::from_str::<serde_json::Value>(&b.build()).unwrap()["issues"][0].clone()
    };
    // A later copy: one more change, and only that change in its (truncated) changelog.
    let later = |key: &str| {
        let done = (
            "2022-02-03T09:00:00.000+0000",
            "dev",
            "backport-v23 backport-approved backport-done",
        );
        let b = ExportBuilder::starting_at(5000).ticket(key, "Later", &[done]);
        let mut issue =
            serde_json::from_str::<serde_json::Value>(&b.build()).unwrap()["issues"][0].clone();
        issue["changelog"]["histories"][0]["items"][0]["fromString"] =
            "backport-v23 backport-approved".into();
        issue["changelog"]["total"] = 7.into();
        issue
    };
    let page = |issues: Vec<serde_json::Value>| {
        serde_json::to_vec(
            &serde_json::json!({ "startAt": 0, "maxResults": issues.len(),
            "total": issues.len(), "issues": issues }),
        )
        .unwrap()
    };
    // Known before: DM-1 … DM-40 (so their later copies below are planned against the ledger).
    let known: Vec<_> = (1..=40).map(|n| first(&format!("DM-{n}"))).collect();
    // The file: 1,200 tickets, DM-5 twice in one batch, DM-7 in the first batch and the last,
    // DM-3000 (new) twice; DM-20 and DM-3001 later copies of tickets earlier in the file.
    let mut issues: Vec<_> = (1..=1_200).map(|n| first(&format!("DM-{n}"))).collect();
    issues[2] = later("DM-3");
    issues.insert(10, later("DM-5"));
    issues.insert(11, first("DM-3000"));
    issues.insert(12, later("DM-3000"));
    issues.push(later("DM-7"));
    issues.push(later("DM-20"));
    issues.insert(700, first("DM-3001"));
    issues.push(later("DM-3001"));

    let dir = tempfile::tempdir().unwrap();
    let number = regex::Regex::new(r"Integer\((\d+)\)").unwrap();
    let mut results = Vec::new();
    for backend in ["sqlite", "postgres"] {
        for batched in [true, false] {
            let mut ledger = match backend {
                "sqlite" => Ledger::create(&dir.path().join(format!("{batched}.db"))).unwrap(),
                _ => {
                    let server = portcullis_testkit::postgres::server();
                    let url = server.url(&server.fresh_database());
                    Ledger::open_postgres(&url, None, &dir.path().join("cache.db")).unwrap()
                }
            };
            let before = [("known.json".to_string(), page(known.clone()))];
            portcullis_trackers::file::import_files(&mut ledger, &policy, &before).unwrap();
            let files: Vec<(String, Vec<u8>)> = match batched {
                true => vec![("export.json".into(), page(issues.clone()))],
                false => (issues.iter().enumerate())
                    .map(|(i, issue)| (format!("{i}.json"), page(vec![issue.clone()])))
                    .collect(),
            };
            let s = portcullis_trackers::file::import_files(&mut ledger, &policy, &files).unwrap();
            let twice = s.warnings.iter().filter(|w| w.contains("appears twice"));
            assert_eq!(twice.count(), if batched { 5 } else { 0 }, "{backend}");
            let report = ledger.verify_chain().unwrap();
            assert!(
                report.problems.is_empty(),
                "{backend}: {:?}",
                report.problems
            );
            // The tickets' events in order, without what differs by file or transaction.
            let (mut events, mut rank) = (Vec::new(), std::collections::HashMap::new());
            ledger
                .for_each_event(|e| {
                    if let Some(t) = e.ticket {
                        rank.insert(e.seq, events.len());
                        events.push((t, e.kind, e.source, e.at, e.payload, e.dedup_key));
                    }
                    Ok(())
                })
                .unwrap();
            let dump = ledger.derived_dump().unwrap();
            assert_eq!(dump, ledger.recompute_dump(&policy).unwrap(), "{backend}");
            // The derived rows name events by sequence number: by their place among the
            // tickets' events instead (the same events, as checked below).
            let dump: Vec<String> = (dump.iter())
                .map(|row| {
                    number
                        .replace_all(row, |c: &regex::Captures| {
                            let n: i64 = c[1].parse().unwrap();
                            rank.get(&n)
                                .map_or(c[0].to_string(), |r| format!("event#{r}"))
                        })
                        .into_owned()
                })
                .collect();
            results.push((backend, batched, s.new_events, events, dump));
        }
    }
    let (_, _, new, events, dump) = &results[0];
    // DM-3's and DM-5's later copies add only their new change: no label re-recorded.
    let initial = events
        .iter()
        .filter(|e| e.5.as_deref() == Some("initial:DM-5:+backport-v23"));
    assert_eq!(
        initial.count(),
        0,
        "DM-5's second copy re-recorded its labels"
    );
    assert!(*new > 1_160 * 3, "{new}");
    for (backend, batched, n, e, d) in &results[1..] {
        // One file per ticket adds one import event per file: compare the tickets' events.
        assert_eq!(e, events, "{backend}, batched {batched}: the events differ");
        let diff: Vec<_> = d.iter().zip(dump).filter(|(a, b)| a != b).take(3).collect();
        assert!(
            diff.is_empty() && d.len() == dump.len(),
            "{backend}, batched {batched}: the derived state differs: {diff:?}"
        );
        if *batched {
            assert_eq!(n, new, "{backend}");
        }
    }
}
