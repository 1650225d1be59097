use crate::cli::output::{print, print_json};
use crate::render::{clean, Format, Table};
use portcullis_ops::digest::{parse_since, to_text};
use portcullis_ops::notify::{notify, targets, FailPoint, NotifyOptions};
use portcullis_ops::workspace::Workspace;
use portcullis_ops::Result;

/// `notify`: post the digest and alerts to the configured chat targets (exit 1 if a post
/// failed), or show the digest with `--dry-run` or when no target is configured.
pub fn run(
    ws: &Workspace,
    line: Option<String>,
    since: Option<String>,
    dry_run: bool,
    only: Vec<String>,
    force: bool,
    format: Format,
) -> Result<u8> {
    let since = since.as_deref().map(parse_since).transpose()?;
    let targets = targets(ws)?;
    let poster = portcullis_chat::Poster::new(portcullis_chat::PosterConfig::default())?;
    let opts = NotifyOptions {
        line,
        since,
        dry_run,
        only,
        force,
        fail_at: FailPoint::from_env(),
        ..Default::default()
    };
    let rt = portcullis_ops::tracker::runtime()?;
    let report = rt.block_on(notify(
        ws,
        &poster,
        &targets,
        &opts,
        portcullis_core::time::now(),
    ))?;
    if format == Format::Json {
        print_json(&report)?;
    } else {
        let mut s = String::new();
        if let Some(m) = &report.digest {
            if dry_run || report.outcomes.is_empty() {
                s.push_str(&to_text(m));
            }
        }
        if report.outcomes.is_empty() {
            s.push_str("\nNo chat target is configured ([[notify]] in portcullis.toml): nothing was posted.\n");
        } else {
            let mut t = Table::new(&["TARGET", "MESSAGE", "RESULT", "PARTS", "ERROR"]);
            for o in &report.outcomes {
                t.row(vec![
                    o.target.clone(),
                    o.id.clone(),
                    o.result.clone(),
                    o.parts.to_string(),
                    o.error.as_deref().map(clean).unwrap_or_default(),
                ]);
            }
            s.push('\n');
            s.push_str(&t.render());
        }
        print(&s)?;
    }
    Ok(if report.failed() { 1 } else { 0 })
}
