//! The README's promises: its demo commands run as written, and every ticket it names is in the
//! demo (a key from another campaign, like `history DM-33360`, once failed for every new user).

use crate::harness::{repo_root, TestEnv};

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).unwrap()
}

/// Words of a shell line, with double-quoted words kept whole (all the README uses).
fn words(line: &str) -> Vec<String> {
    let line = line.split("  #").next().unwrap_or(line).trim();
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The `sh` block after the `demo-commands` marker.
fn demo_block(text: &str) -> Vec<String> {
    let at = text
        .find("<!-- demo-commands")
        .expect("README marks its demo commands");
    let block = &text[at..];
    let start = block.find("```sh\n").unwrap() + 6;
    let end = start + block[start..].find("```").unwrap();
    block[start..end].lines().map(str::to_string).collect()
}

#[test]
fn readme_demo_commands_run_on_the_demo() {
    let env = TestEnv::new();
    env.run(&["demo", "--no-triage"]).ok();
    let mut dir = ".".to_string();
    let lines = demo_block(&readme());
    assert!(lines.len() >= 5, "{lines:?}");
    for line in lines {
        let w = words(&line);
        match w.first().map(String::as_str) {
            Some("cd") => dir = w[1].clone(),
            Some("portcullis") => {
                let args: Vec<&str> = w[1..].iter().map(String::as_str).collect();
                let run = env.run_in(&dir, &args);
                // 1 is a check that did not pass: the demo's drift and blocked cut are on
                // purpose. 2 would be an error.
                assert!(
                    run.code == 0 || (run.code == 1 && ["cut", "verify"].contains(&args[0])),
                    "`{line}` exited {}\nstdout:\n{}\nstderr:\n{}",
                    run.code,
                    run.stdout,
                    run.stderr
                );
            }
            _ => panic!("unexpected line in the README's demo block: {line}"),
        }
    }
}

#[test]
fn readme_names_only_tickets_of_the_demo() {
    let env = TestEnv::new();
    env.run(&["demo", "--no-triage"]).ok();
    let run = env.run_in("portcullis-demo", &["status", "--format", "csv"]);
    run.ok();
    let known: std::collections::BTreeSet<&str> = run
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    let text = readme();
    let re = regex::Regex::new(r"\bDM-[0-9]+\b").unwrap();
    let missing: Vec<&str> = re
        .find_iter(&text)
        .map(|m| m.as_str())
        .filter(|k| !known.contains(k))
        .collect();
    assert!(known.len() > 50, "demo status listed {}", known.len());
    assert!(
        missing.is_empty(),
        "README names tickets the demo lacks: {missing:?}"
    );
}
