use crate::render::{clean, Table};
use portcullis_ops::History;

/// The timeline as a table: who, what it did to the ticket's state, and what happened with its
/// note, the free text last. The source shows where there is no actor; the line's name is left
/// out of the effects when the ticket is on one line only.
pub fn timeline(h: &History) -> Table {
    let mut t = Table::new(&["WHEN (UTC)", "ACTOR", "EFFECT", "WHAT"]);
    let one_line = h.lines.len() <= 1;
    for e in &h.timeline {
        let mut what = e.what.clone();
        if let Some(n) = e.note.as_deref().filter(|n| !n.is_empty()) {
            what.push_str(&format!(": \"{n}\""));
        }
        if let Some(m) = e.meeting {
            what.push_str(&format!(" (meeting {m})"));
        }
        let effects: Vec<String> = e
            .effects
            .iter()
            .map(|x| match x.split_once(": ") {
                Some((_, rest)) if one_line => rest.to_string(),
                _ => x.clone(),
            })
            .collect();
        t.row(vec![
            e.at.format("%Y-%m-%d %H:%M").to_string(),
            e.actor.clone().unwrap_or_else(|| format!("({})", e.source)),
            effects.join("; "),
            what,
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
        out.push_str(&format!("{}\n", super::wrap(&facts.join(" · "))));
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
