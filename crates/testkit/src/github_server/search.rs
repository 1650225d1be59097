//! `GET /search/issues?q=…`: the issue search, for what a tracker client asks of it.
//!
//! The query is GitHub's: terms and `"quoted phrases"` separated by spaces, with the qualifiers
//! `repo:owner/name` (at least one; several are an OR), `in:title`, `in:body`, `in:comments`
//! (comma-separated or repeated; default: all three), `is:issue` / `is:pr`,
//! `is:open` / `is:closed`, `state:open` / `state:closed` and `updated:>=`, `>`, `<=`, `<` or
//! `=` a date or RFC 3339 time. Text matches by words, as GitHub's index does: punctuation
//! separates words and is not searchable, so `"portcullis-record"` finds `portcullis record` and
//! `<!-- portcullis-record … -->`, and a phrase matches its words in order. Results are sorted by
//! `sort=updated|created|comments` (`order=asc|desc`, default desc; without `sort`, by update,
//! newest first), paginated like the listings, in `{"total_count", "incomplete_results",
//! "items"}`, and only the first [`RESULT_CAP`] are reachable, as on GitHub.

use chrono::{DateTime, NaiveDate, Utc};

use super::model::{parse_time, Issue, Kind};

/// GitHub serves at most this many results of one search, whatever the paging.
pub(crate) const RESULT_CAP: usize = 1000;

/// Which text of an issue a search looks in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Fields {
    pub title: bool,
    pub body: bool,
    pub comments: bool,
}

/// A comparison on `updated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

/// A parsed search query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query {
    /// `owner/name`, lower case.
    pub repos: Vec<String>,
    pub fields: Fields,
    /// Each term or phrase as its words, lower case.
    pub phrases: Vec<Vec<String>>,
    /// `Some(true)` for pull requests only, `Some(false)` for issues only.
    pub pulls: Option<bool>,
    pub state: Option<String>,
    pub updated: Vec<(Cmp, DateTime<Utc>)>,
}

/// The words of a text, lower case: runs of letters and digits.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn split_terms(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn parse_when(s: &str) -> Option<(Cmp, DateTime<Utc>)> {
    let (cmp, rest) = [
        (">=", Cmp::Ge),
        ("<=", Cmp::Le),
        (">", Cmp::Gt),
        ("<", Cmp::Lt),
    ]
    .into_iter()
    .find_map(|(p, c)| s.strip_prefix(p).map(|r| (c, r)))
    .unwrap_or((Cmp::Eq, s));
    let at = parse_time(rest).or_else(|| {
        NaiveDate::parse_from_str(rest, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    })?;
    Some((cmp, at))
}

/// Parse `q`; `Err` names what GitHub would refuse.
pub(crate) fn parse(q: &str) -> Result<Query, String> {
    let mut out = Query::default();
    let mut fields = Fields::default();
    for term in split_terms(q) {
        let qualifier = (!term.starts_with('"'))
            .then(|| term.split_once(':'))
            .flatten();
        match qualifier {
            Some(("repo", r)) if r.contains('/') => out.repos.push(r.to_ascii_lowercase()),
            Some(("in", list)) => {
                for f in list.split(',') {
                    match f {
                        "title" => fields.title = true,
                        "body" => fields.body = true,
                        "comments" => fields.comments = true,
                        other => return Err(format!("unknown in: field `{other}`")),
                    }
                }
            }
            Some(("is" | "type", "issue")) => out.pulls = Some(false),
            Some(("is" | "type", "pr")) => out.pulls = Some(true),
            Some(("is" | "state", s @ ("open" | "closed"))) => out.state = Some(s.to_string()),
            Some(("updated", when)) => out
                .updated
                .push(parse_when(when).ok_or_else(|| format!("bad date `{when}`"))?),
            Some((q, _)) => return Err(format!("unsupported qualifier `{q}:`")),
            None => {
                let w = words(term.trim_matches('"'));
                if !w.is_empty() {
                    out.phrases.push(w);
                }
            }
        }
    }
    if out.repos.is_empty() {
        return Err("name a repository with repo:owner/name".into());
    }
    out.fields = if fields == Fields::default() {
        Fields {
            title: true,
            body: true,
            comments: true,
        }
    } else {
        fields
    };
    Ok(out)
}

fn contains(hay: &[String], phrase: &[String]) -> bool {
    hay.windows(phrase.len()).any(|w| w == phrase)
}

impl Query {
    /// Whether an issue of one of the query's repositories matches the rest of it.
    pub(crate) fn matches(&self, issue: &Issue) -> bool {
        if self.pulls.is_some_and(|p| p != issue.pull.is_some()) {
            return false;
        }
        if self.state.as_ref().is_some_and(|s| s != &issue.state) {
            return false;
        }
        let t = issue.updated_at;
        let in_range = self.updated.iter().all(|(c, at)| match c {
            Cmp::Ge => t >= *at,
            Cmp::Gt => t > *at,
            Cmp::Le => t <= *at,
            Cmp::Lt => t < *at,
            Cmp::Eq => t.date_naive() == at.date_naive(),
        });
        if !in_range {
            return false;
        }
        if self.phrases.is_empty() {
            return true;
        }
        let mut texts: Vec<Vec<String>> = Vec::new();
        if self.fields.title {
            texts.push(words(&issue.title));
        }
        if self.fields.body {
            texts.push(words(issue.body.as_deref().unwrap_or_default()));
        }
        if self.fields.comments {
            texts.extend(issue.comments().filter_map(|e| match &e.kind {
                Kind::Comment { body, .. } => Some(words(body)),
                _ => None,
            }));
        }
        // Every term must be found (GitHub ANDs them), each within one text.
        self.phrases
            .iter()
            .all(|p| texts.iter().any(|t| contains(t, p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_marker_is_its_words_and_qualifiers_are_read() {
        let q =
            parse(r#"repo:Lsst/Daf_Butler "portcullis-record" in:comments updated:>=2026-01-02"#)
                .unwrap();
        assert_eq!(q.repos, vec!["lsst/daf_butler"]);
        assert_eq!(q.phrases, vec![vec!["portcullis", "record"]]);
        assert!(q.fields.comments && !q.fields.title && !q.fields.body);
        assert_eq!(q.updated.len(), 1);
        assert_eq!(q.updated[0].0, Cmp::Ge);
    }

    #[test]
    fn a_query_without_a_repository_or_with_an_unknown_qualifier_is_refused() {
        assert!(parse(r#""portcullis-record" in:comments"#).is_err());
        assert!(parse("repo:a/b label:x").is_err());
        assert!(parse("repo:a/b in:labels").is_err());
    }

    #[test]
    fn words_ignore_punctuation() {
        assert!(contains(
            &words("<!-- portcullis-record v1 abc.def -->"),
            &words("portcullis record")
        ));
        assert!(!contains(
            &words("portcullisrecord"),
            &words("portcullis-record")
        ));
    }
}
