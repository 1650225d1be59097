use chrono::Utc;

use crate::render::Table;
use portcullis_core::time::{age, now};
use portcullis_core::workflow::State;
use portcullis_ops::{LineStatus, Target};

pub fn tickets_table(st: &LineStatus, now: chrono::DateTime<Utc>) -> Table {
    let mut t = Table::new(&[
        "KEY",
        "STATE",
        "AGE",
        "REQUESTER",
        "APPROVER",
        "!",
        "SUMMARY",
    ]);
    for r in &st.tickets {
        t.row(vec![
            r.key.clone(),
            {
                let cell = with_target(
                    state_cell(r.state, r.deferred_until),
                    r.state,
                    st.targets.get(&r.key),
                );
                if r.gone {
                    format!("{cell} (gone)")
                } else {
                    cell
                }
            },
            r.since.map(|s| age(s, now)).unwrap_or_default(),
            r.requested_by.clone().unwrap_or_default(),
            r.approved_by.clone().unwrap_or_default(),
            if r.open_violations > 0 {
                r.open_violations.to_string()
            } else {
                String::new()
            },
            r.summary.clone(),
        ]);
    }
    t
}

/// A state as the table shows it: short, with the deferral's date (never cut).
pub fn state_cell(state: State, until: Option<chrono::NaiveDate>) -> String {
    match (state, until) {
        (State::Deferred, Some(u)) => format!("deferred to {u}"),
        (State::Withdrawn, _) => "withdrawn (unrecorded)".into(),
        (s, _) => s.describe().to_string(),
    }
}

/// An approval's target after its state: `approved for 23.0.3`, `approved for step coadd`.
pub fn with_target(cell: String, state: State, target: Option<&Target>) -> String {
    match target {
        Some(t) if matches!(state, State::Approved | State::Done) => match t {
            Target::Release(r) => format!("{cell} for {r}"),
            Target::Step(s) => format!("{cell} for step {s}"),
        },
        _ => cell,
    }
}

/// Machine values for spreadsheets and scripts: state names, RFC 3339 times, whole summaries.
pub fn csv_table(st: &LineStatus) -> Table {
    let mut t = Table::new(&[
        "key",
        "line",
        "state",
        "since",
        "requested_by",
        "approved_by",
        "request_count",
        "deferred_until",
        "open_violations",
        "summary",
    ]);
    for r in &st.tickets {
        t.row(vec![
            r.key.clone(),
            r.line.clone(),
            r.state.as_str().to_string(),
            r.since
                .map(portcullis_core::time::fmt_utc)
                .unwrap_or_default(),
            r.requested_by.clone().unwrap_or_default(),
            r.approved_by.clone().unwrap_or_default(),
            r.request_count.to_string(),
            r.deferred_until.map(|d| d.to_string()).unwrap_or_default(),
            r.open_violations.to_string(),
            r.summary.clone(),
        ]);
    }
    t
}

/// Open violations with their evidence (the event that caused each).
pub fn violations_table(st: &LineStatus) -> Table {
    let mut v = Table::new(&["KEY", "KIND", "WHEN", "EVIDENCE"]);
    for (key, viol) in &st.violations {
        v.row(vec![
            key.clone(),
            viol.kind.to_string(),
            viol.at.format("%Y-%m-%d").to_string(),
            format!("event {}: {}", viol.seq, viol.message),
        ]);
    }
    v
}

pub fn counts_line(st: &LineStatus) -> String {
    st.counts
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

pub fn render_table(st: &LineStatus) -> String {
    let now = now();
    let mut out = format!(
        "Release line {} (branch {})\n{}\n\n",
        st.line,
        st.branch,
        crate::render::wrap(&counts_line(st))
    );
    let t = tickets_table(st, now);
    if t.is_empty() {
        out.push_str("No tickets on this line yet. Import some with `portcullis sync --from-file EXPORT.json`.\n");
    } else {
        out.push_str(&t.render());
        if st.tickets.iter().any(|r| r.state == State::Withdrawn) {
            out.push_str("withdrawn (unrecorded): the request label vanished and no decision says why;\n  `decide reject --note …` or `decide request` settles it.\n");
        }
    }
    if !st.violations.is_empty() {
        out.push_str(&format!("\nOpen violations ({}):\n", st.violations.len()));
        out.push_str(&violations_table(st).render());
    }
    out.push_str(&provisional_lines(st));
    out
}

/// The provisional decisions: recorded below quorum, not counted until a quorate meeting
/// ratifies them (empty when there are none).
pub fn provisional_lines(st: &LineStatus) -> String {
    if st.provisional.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\nProvisional ({}; below quorum, not counted nor pushed until a quorate meeting ratifies them):\n",
        st.provisional.len()
    );
    for p in &st.provisional {
        out.push_str(&format!(
            "  {} {} by {} in {} (event {})\n",
            p.decision,
            p.key,
            p.by.as_deref().unwrap_or("?"),
            p.meeting,
            p.seq
        ));
    }
    out
}

pub fn render_md(st: &LineStatus) -> String {
    let mut out = format!(
        "## Release line {} (`{}`)\n\n{}\n\n",
        st.line,
        st.branch,
        counts_line(st)
    );
    out.push_str(&tickets_table(st, now()).render_md());
    if !st.violations.is_empty() {
        out.push_str("\n### Open violations\n\n");
        out.push_str(&violations_table(st).render_md());
    }
    out.push_str(&provisional_lines(st));
    out
}
