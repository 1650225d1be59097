//! Policy files: the built-in ones pass, every invalid one fails with its precise message, and the
//! published JSON schema is fresh.

use crate::harness::{repo_root, TestEnv};

#[test]
fn builtin_policies_check_ok() {
    let env = TestEnv::new();
    for name in ["default", "v23"] {
        let path = repo_root().join(format!("policy/{name}.toml"));
        let run = env.run(&["policy", "check", path.to_str().unwrap()]);
        run.ok();
        assert!(run.stdout.contains(": ok ("), "{}", run.stdout);
    }
}

/// Each file in tests/invalid_policies/ starts with `# expect: MESSAGE`; checking it must exit 2
/// and print MESSAGE with the file name and the line of the offending key.
#[test]
fn invalid_policies_fail_with_located_messages() {
    let env = TestEnv::new();
    let dir = repo_root().join("tests/invalid_policies");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .unwrap()
            .strip_prefix("# expect: ")
            .expect("first line is `# expect: …`");
        let run = env.run(&["policy", "check", path.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{}: {}", path.display(), run.stderr);
        assert!(
            run.stderr.contains(expect),
            "{}:\nexpected `{expect}` in:\n{}",
            path.display(),
            run.stderr
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        let located = run.stderr.lines().any(|l| {
            l.contains(name)
                && l.split(':')
                    .nth(1)
                    .is_some_and(|x| x.parse::<usize>().is_ok())
        });
        assert!(located, "{name}: no `file:line:` in\n{}", run.stderr);
        n += 1;
    }
    assert!(n >= 10, "only {n} invalid policies found");
}

#[test]
fn error_names_the_line_of_the_key() {
    let env = TestEnv::new();
    let path = repo_root().join("tests/invalid_policies/unknown_line_key.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.lines().position(|l| l.starts_with("brnach")).unwrap() + 1;
    let run = env.run(&["policy", "check", path.to_str().unwrap()]);
    assert!(
        run.stderr
            .contains(&format!("unknown_line_key.toml:{line}:")),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_policy_file_is_a_clear_error() {
    let env = TestEnv::new();
    let run = env.run(&["policy", "check", "nope.toml"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read nope.toml"),
        "{}",
        run.stderr
    );
}

/// The read error was once formatted into the message; it is kept as the cause, shown on a
/// line of its own under the message.
#[test]
fn missing_policy_file_keeps_the_read_error_as_its_cause() {
    let env = TestEnv::new();
    let run = env.run(&["policy", "check", "nope.toml"]);
    assert_eq!(run.code, 2);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines.contains(&"error: cannot read nope.toml"),
        "{}",
        run.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  caused by: ") && l.contains("os error")),
        "{}",
        run.stderr
    );
}

/// docs/policy.schema.json is generated from the policy types (feature `schema` of
/// portcullis-core) and is what `portcullis policy schema` prints. Regenerate with
/// `UPDATE_SCHEMA=1 cargo test schema_is_up_to_date`.
#[test]
fn schema_is_up_to_date() {
    let generated = portcullis_core::policy::schema_json();
    let path = repo_root().join("docs/policy.schema.json");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    assert!(
        generated.contains("\"ticket_key\""),
        "schema lacks ticket_key"
    );
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        published, generated,
        "docs/policy.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test schema_is_up_to_date`"
    );
    let env = TestEnv::new();
    let run = env.run(&["policy", "schema"]);
    run.ok();
    assert_eq!(
        run.stdout, published,
        "`policy schema` prints the published file"
    );
}
