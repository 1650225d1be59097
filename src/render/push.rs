use crate::render::{clean, Format, Table};
use portcullis_trackers::push::{Outcome, PushReport};

pub fn render(r: &PushReport, format: Format, tracker: &str) -> String {
    if r.items.is_empty() {
        return format!("nothing to push: every decision is already in {tracker}\n");
    }
    let mut t = Table::new(&["TICKET", "DECISIONS", "LABELS", "COMMENTS", "RESULT"]);
    for i in &r.items {
        let mut labels: Vec<String> = i.add.iter().map(|l| format!("+{l}")).collect();
        labels.extend(i.remove.iter().map(|l| format!("-{l}")));
        let result = match i.outcome {
            Outcome::WouldPush => "would push".to_string(),
            Outcome::Pushed => "pushed".to_string(),
            Outcome::AlreadyInTracker => format!("already in {tracker}"),
            Outcome::Conflict => "CONFLICT".to_string(),
            Outcome::Missing => format!("not in {tracker}"),
        };
        t.row(vec![
            i.key.clone(),
            i.decisions.join(", "),
            if labels.is_empty() {
                "-".into()
            } else {
                labels.join(" ")
            },
            i.comments.to_string(),
            result,
        ]);
    }
    let mut out = match format {
        Format::Md => t.render_md(),
        Format::Csv => t.render_csv(),
        _ => t.render(),
    };
    for i in r.items.iter().filter(|i| i.detail.is_some()) {
        out.push_str(&format!(
            "{}: {}\n",
            i.key,
            clean(i.detail.as_deref().unwrap_or(""))
        ));
    }
    let notes = |n: usize| match n {
        0 => String::new(),
        n => format!(" and {n} note(s)"),
    };
    out.push_str(&if r.dry_run {
        format!(
            "dry run: {} pending decision(s){} on {} ticket(s) in {tracker}; nothing was written\n",
            r.pending,
            notes(r.notes_pending),
            r.items.len()
        )
    } else {
        format!(
            "pushed {} decision(s){} to {tracker}; {} conflict(s), {} ticket(s) not in {tracker}\n",
            r.pushed,
            notes(r.notes),
            r.conflicts,
            r.missing
        )
    });
    out
}
