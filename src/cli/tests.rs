//! The command-line definition: consistent, every command documented, its help tree.

use clap::CommandFactory;

#[test]
fn the_command_line_definition_is_consistent() {
    super::Cli::command().debug_assert();
}

/// Every command and argument says what it is for (a misplaced doc comment once gave
/// `triage` the demo's description and `demo` none).
#[test]
fn every_command_and_argument_has_help() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id != "help" && id != "version" && a.get_help().is_none() {
                missing.push(format!("{path} {id}"));
            }
        }
        for sc in cmd.get_subcommands() {
            let p = format!("{path} {}", sc.get_name());
            if sc.get_name() != "help" && sc.get_about().is_none() {
                missing.push(p.clone());
            }
            walk(sc, &p, missing);
        }
    }
    let mut cmd = super::Cli::command();
    cmd.build();
    let mut missing = Vec::new();
    walk(&cmd, "portcullis", &mut missing);
    assert!(missing.is_empty(), "without help: {missing:?}");
}

/// The whole `--help` tree at 80 columns: a slip in any command's help shows in review.
#[test]
fn help_tree() {
    fn walk(cmd: &mut clap::Command, path: &str, out: &mut String) {
        out.push_str(&format!("==== {path} --help\n"));
        out.push_str(&cmd.render_long_help().to_string());
        out.push('\n');
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .filter(|n| n != "help")
            .collect();
        for n in names {
            if let Some(sc) = cmd.find_subcommand_mut(&n) {
                walk(sc, &format!("{path} {n}"), out);
            }
        }
    }
    let mut cmd = super::Cli::command().term_width(80);
    cmd.build();
    let mut out = String::new();
    walk(&mut cmd, "portcullis", &mut out);
    assert!(
        out.lines().all(|l| l.chars().count() <= 80),
        "help wider than 80 columns"
    );
    help_shows_no_escaped_quote_and_no_repeated_sentence(&out);
    insta::assert_snapshot!(out);
}

/// `--line`'s help read "the policy\'s only line", and three commands said it twice: a doc
/// comment written with an escaped quote, and one doubled while moving it.
fn help_shows_no_escaped_quote_and_no_repeated_sentence(help: &str) {
    assert!(!help.contains("\\'"), "an escaped quote in --help");
    let joined = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let line = "The release line (default: the policy's only line).";
    assert!(
        !joined.contains(&format!("{line} The release line")),
        "a sentence repeated in --help"
    );
}

/// `minutes --format csv` once printed Markdown; a format a command cannot produce is refused.
#[test]
fn minutes_format_csv_is_refused() {
    use clap::Parser;
    let err = super::Cli::try_parse_from(["portcullis", "minutes", "--format", "csv"])
        .expect_err("csv refused for minutes");
    assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
    assert!(err.to_string().contains("md"), "{err}");
    assert!(super::Cli::try_parse_from(["portcullis", "status", "--format", "csv"]).is_ok());
}

/// `cut V --dry-run` is what users type; it is the default and must be accepted.
#[test]
fn cut_dry_run_is_accepted() {
    use clap::Parser;
    assert!(super::Cli::try_parse_from(["portcullis", "cut", "23.0.3", "--dry-run"]).is_ok());
    assert!(
        super::Cli::try_parse_from(["portcullis", "cut", "23.0.3", "--dry-run", "--apply"])
            .is_err()
    );
}
