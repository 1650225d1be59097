use crate::render::{clean, Table};
use portcullis_ops::History;

pub fn timeline(h: &History) -> Table {
    let mut t = Table::new(&["WHEN (UTC)", "SOURCE", "ACTOR", "WHAT", "EFFECT", "NOTE"]);
    for e in &h.timeline {
        let mut note = e.note.clone().unwrap_or_default();
        if let Some(m) = e.meeting {
            note = if note.is_empty() {
                format!("meeting {m}")
            } else {
                format!("{note} (meeting {m})")
            };
        }
        t.row(vec![
            e.at.format("%Y-%m-%d %H:%M").to_string(),
            e.source.clone(),
            e.actor.clone().unwrap_or_else(|| "-".into()),
            e.what.clone(),
            e.effects.join("; "),
            note,
        ]);
    }
    t
}

pub fn render(h: &History) -> String {
    let mut out = format!("{} {}\n", h.key, clean(&h.info.summary));
    let mut facts = Vec::new();
    if let Some(s) = &h.info.status {
        facts.push(format!("status {}", clean(s)));
    }
    if let Some(a) = &h.info.assignee {
        facts.push(format!("assignee {}", clean(a)));
    }
    if !h.info.labels.is_empty() {
        facts.push(format!("labels {}", clean(&h.info.labels.join(" "))));
    }
    if !h.info.components.is_empty() {
        facts.push(format!(
            "components {}",
            clean(&h.info.components.join(", "))
        ));
    }
    if !facts.is_empty() {
        out.push_str(&format!("{}\n", facts.join(" · ")));
    }
    for (line, st) in &h.lines {
        out.push_str(&format!("{line}: {}", st.state.describe()));
        if st.request_count > 1 {
            out.push_str(&format!(" (requested {} times)", st.request_count));
        }
        if let Some(u) = st.deferred_until {
            out.push_str(&format!(" until {u}"));
        }
        let open = st.open_violations().count();
        if open > 0 {
            out.push_str(&format!(", {open} open violation(s)"));
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&timeline(h).render());
    let violations: Vec<_> = h
        .lines
        .iter()
        .flat_map(|(l, s)| s.violations.iter().map(move |v| (l, v)))
        .collect();
    if !violations.is_empty() {
        out.push_str("\nViolations:\n");
        for (line, v) in violations {
            let status = match v.resolved_by {
                Some(seq) => format!("settled by event {seq}"),
                None => "open".into(),
            };
            out.push_str(&format!(
                "  {line} {} (event {}, {status}): {}\n",
                v.kind,
                v.seq,
                clean(&v.message)
            ));
        }
    }
    out
}
