//! Rendering users, labels, issues, comments, timeline and issue events, pull requests,
//! commits and repositories as api.github.com does: complete objects with every `*_url`, in
//! the shapes of the captured bodies in `fixtures/github` (octocrab's models need them all).
//! URLs point at the server itself.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::model::{fmt_time, Commit, Entry, Issue, Kind, LabelDef, Person, Repo};

/// Where the server is, as the client addressed it.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The API root: `http://127.0.0.1:PORT` (plus `/api/v3` when the client used that prefix).
    pub api: String,
    /// The "web" root, for `html_url`s: `http://127.0.0.1:PORT`.
    pub web: String,
}

/// A legacy global node id: base64 of `0{len}:{Type}{id}` (`MDQ6VXNlcjE=` is user 1).
pub(crate) fn node_id(kind: &str, id: u64) -> String {
    node_id_str(kind, &id.to_string())
}

fn node_id_str(kind: &str, id: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("0{}:{kind}{id}", kind.len()))
}

/// A percent-encoded path segment or query value.
pub(crate) fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Ctx {
    fn repo_url(&self, repo: &Repo) -> String {
        format!("{}/repos/{}", self.api, repo.full_name())
    }

    fn issue_url(&self, repo: &Repo, number: u64) -> String {
        format!("{}/issues/{number}", self.repo_url(repo))
    }

    fn html_issue_url(&self, repo: &Repo, issue: &Issue) -> String {
        let kind = if issue.pull.is_some() {
            "pull"
        } else {
            "issues"
        };
        format!("{}/{}/{kind}/{}", self.web, repo.full_name(), issue.number)
    }
}

/// A user (the `simple-user` shape: `login`, `id`, `node_id`, every `*_url`, `type`,
/// `site_admin`).
pub(crate) fn user(ctx: &Ctx, p: &Person) -> Value {
    let u = format!("{}/users/{}", ctx.api, p.login);
    json!({
        "login": p.login,
        "id": p.id,
        "node_id": node_id("User", p.id),
        "avatar_url": format!("{}/avatars/u/{}?v=4", ctx.web, p.id),
        "gravatar_id": "",
        "url": u,
        "html_url": format!("{}/{}", ctx.web, p.login),
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": p.kind,
        "site_admin": false,
    })
}

/// The authenticated user (`GET /user`): the simple shape plus the profile fields.
pub(crate) fn private_user(ctx: &Ctx, p: &Person, name: &str, email: &str) -> Value {
    let mut v = user(ctx, p);
    if let Some(o) = v.as_object_mut() {
        let extra = json!({
            "name": name,
            "company": null,
            "blog": "",
            "location": null,
            "email": email,
            "hireable": null,
            "bio": null,
            "twitter_username": null,
            "notification_email": email,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "private_gists": 0,
            "total_private_repos": 0,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": true,
            "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
        });
        if let Value::Object(extra) = extra {
            o.extend(extra);
        }
    }
    v
}

/// A label of the catalog (`id,node_id,url,name,description,color,default`).
pub(crate) fn label(ctx: &Ctx, repo: &Repo, l: &LabelDef) -> Value {
    json!({
        "id": l.id,
        "node_id": node_id("Label", l.id),
        "url": format!("{}/labels/{}", ctx.repo_url(repo), pct(&l.name)),
        "name": l.name,
        "description": l.description,
        "color": l.color,
        "default": l.default,
    })
}

/// The labels an issue carries, full objects in the issue's order.
pub(crate) fn issue_labels(ctx: &Ctx, repo: &Repo, issue: &Issue) -> Value {
    Value::Array(
        issue
            .labels
            .iter()
            .filter_map(|n| repo.label(n))
            .map(|l| label(ctx, repo, l))
            .collect(),
    )
}

fn reactions(url: String) -> Value {
    json!({
        "url": url,
        "total_count": 0,
        "+1": 0,
        "-1": 0,
        "laugh": 0,
        "hooray": 0,
        "confused": 0,
        "heart": 0,
        "rocket": 0,
        "eyes": 0,
    })
}

fn association(repo: &Repo, p: &Person) -> &'static str {
    if p.login.eq_ignore_ascii_case(&repo.owner.login) {
        "OWNER"
    } else {
        "CONTRIBUTOR"
    }
}

/// An issue as the issues API serves it; pull requests carry a `pull_request` key.
pub(crate) fn issue(ctx: &Ctx, repo: &Repo, issue: &Issue) -> Value {
    let url = ctx.issue_url(repo, issue.number);
    let html = ctx.html_issue_url(repo, issue);
    let mut v = json!({
        "url": url,
        "repository_url": ctx.repo_url(repo),
        "labels_url": format!("{url}/labels{{/name}}"),
        "comments_url": format!("{url}/comments"),
        "events_url": format!("{url}/events"),
        "html_url": html,
        "id": issue.id,
        "node_id": node_id(if issue.pull.is_some() { "PullRequest" } else { "Issue" }, issue.id),
        "number": issue.number,
        "title": issue.title,
        "user": user(ctx, &issue.user),
        "labels": issue_labels(ctx, repo, issue),
        "state": issue.state,
        "locked": issue.locked,
        "assignee": null,
        "assignees": [],
        "milestone": null,
        "comments": issue.comments().count(),
        "created_at": fmt_time(issue.created_at),
        "updated_at": fmt_time(issue.updated_at),
        "closed_at": issue.closed_at.map(fmt_time),
        "author_association": association(repo, &issue.user),
        "active_lock_reason": null,
        "body": issue.body,
        "closed_by": null,
        "reactions": reactions(format!("{url}/reactions")),
        "timeline_url": format!("{url}/timeline"),
        "performed_via_github_app": null,
        "state_reason": issue.state_reason,
    });
    if let (Some(pull), Some(o)) = (&issue.pull, v.as_object_mut()) {
        let pr_url = format!("{}/pulls/{}", ctx.repo_url(repo), issue.number);
        o.insert("draft".into(), Value::Bool(pull.draft));
        o.insert(
            "pull_request".into(),
            json!({
                "url": pr_url,
                "html_url": html,
                "diff_url": format!("{html}.diff"),
                "patch_url": format!("{html}.patch"),
                "merged_at": pull.merged_at.map(fmt_time),
            }),
        );
    }
    v
}

/// An issue comment.
pub(crate) fn comment(ctx: &Ctx, repo: &Repo, issue: &Issue, e: &Entry) -> Value {
    let (body, updated_at) = match &e.kind {
        Kind::Comment { body, updated_at } => (body.as_str(), *updated_at),
        _ => ("", e.at),
    };
    let url = format!("{}/issues/comments/{}", ctx.repo_url(repo), e.id);
    json!({
        "url": url,
        "html_url": format!("{}#issuecomment-{}", ctx.html_issue_url(repo, issue), e.id),
        "issue_url": ctx.issue_url(repo, issue.number),
        "id": e.id,
        "node_id": node_id("IssueComment", e.id),
        "user": user(ctx, &e.actor),
        "created_at": fmt_time(e.at),
        "updated_at": fmt_time(updated_at),
        "author_association": association(repo, &e.actor),
        "body": body,
        "reactions": reactions(format!("{url}/reactions")),
        "performed_via_github_app": null,
    })
}

fn event_base(ctx: &Ctx, repo: &Repo, e: &Entry, type_name: &str) -> Map<String, Value> {
    let v = json!({
        "id": e.id,
        "node_id": node_id(type_name, e.id),
        "url": format!("{}/issues/events/{}", ctx.repo_url(repo), e.id),
        "actor": user(ctx, &e.actor),
        "event": e.event_name(),
        "commit_id": null,
        "commit_url": null,
        "created_at": fmt_time(e.at),
        "performed_via_github_app": null,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// An issue event (`GET …/issues/{n}/events`); `None` for timeline-only entries (comments,
/// seeded commits and cross-references).
pub(crate) fn issue_event(ctx: &Ctx, repo: &Repo, e: &Entry) -> Option<Value> {
    let m = match &e.kind {
        Kind::Label { name, color, added } => {
            let mut m = event_base(
                ctx,
                repo,
                e,
                if *added {
                    "LabeledEvent"
                } else {
                    "UnlabeledEvent"
                },
            );
            m.insert("label".into(), json!({"name": name, "color": color}));
            m
        }
        Kind::Merged { sha } => {
            let mut m = event_base(ctx, repo, e, "MergedEvent");
            if let Some(sha) = sha {
                m.insert("commit_id".into(), Value::String(sha.clone()));
                m.insert(
                    "commit_url".into(),
                    Value::String(format!("{}/commits/{sha}", ctx.repo_url(repo))),
                );
            }
            m
        }
        Kind::Closed => {
            let mut m = event_base(ctx, repo, e, "ClosedEvent");
            m.insert("state_reason".into(), Value::Null);
            m
        }
        Kind::Comment { .. } => return None,
        Kind::Raw(v) => {
            let event = v.get("event").and_then(Value::as_str).unwrap_or_default();
            if v.get("id").is_none()
                || matches!(
                    event,
                    "commented" | "committed" | "cross-referenced" | "reviewed" | "line-commented"
                )
            {
                return None;
            }
            return Some(v.clone());
        }
    };
    Some(Value::Object(m))
}

/// A timeline entry (`GET …/issues/{n}/timeline`): issue events, plus `commented` entries
/// (the comment with `event` and `actor`) and seeded events served verbatim.
pub(crate) fn timeline_entry(ctx: &Ctx, repo: &Repo, issue: &Issue, e: &Entry) -> Value {
    match &e.kind {
        Kind::Comment { .. } => {
            let mut v = comment(ctx, repo, issue, e);
            if let Some(o) = v.as_object_mut() {
                o.insert("event".into(), Value::String("commented".into()));
                o.insert("actor".into(), user(ctx, &e.actor));
            }
            v
        }
        Kind::Raw(v) => v.clone(),
        _ => issue_event(ctx, repo, e).unwrap_or(Value::Null),
    }
}

/// A repository (the full shape, as embedded in pull requests' `head.repo` / `base.repo`).
pub(crate) fn repository(ctx: &Ctx, repo: &Repo) -> Value {
    let url = ctx.repo_url(repo);
    let full = repo.full_name();
    let html = format!("{}/{full}", ctx.web);
    let host = ctx
        .web
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let open = repo.issues.values().filter(|i| i.state == "open").count();
    let mut m = match json!({
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": full,
        "private": false,
        "owner": user(ctx, &repo.owner),
        "html_url": html,
        "description": null,
        "fork": false,
        "url": url,
        "git_url": format!("git://{host}/{full}.git"),
        "ssh_url": format!("git@{host}:{full}.git"),
        "clone_url": format!("{html}.git"),
        "svn_url": html,
        "mirror_url": null,
        "homepage": null,
        "language": "Rust",
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let more = match json!({
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "size": 0,
        "default_branch": "main",
        "open_issues_count": open,
        "is_template": false,
        "topics": [],
        "has_issues": true,
        "has_projects": false,
        "has_wiki": false,
        "has_pages": false,
        "has_downloads": true,
        "has_discussions": false,
        "archived": false,
        "disabled": false,
        "visibility": "public",
        "pushed_at": fmt_time(repo.created_at),
        "created_at": fmt_time(repo.created_at),
        "updated_at": fmt_time(repo.created_at),
        "allow_forking": true,
        "web_commit_signoff_required": false,
        "forks": 0,
        "open_issues": open,
        "watchers": 0,
        "license": null,
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    m.extend(more);
    for (key, suffix) in [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ] {
        m.insert(key.into(), Value::String(format!("{url}{suffix}")));
    }
    Value::Object(m)
}

fn branch(ctx: &Ctx, repo: &Repo, reference: &str, sha: &str) -> Value {
    json!({
        "label": format!("{}:{reference}", repo.owner.login),
        "ref": reference,
        "sha": sha,
        "user": user(ctx, &repo.owner),
        "repo": repository(ctx, repo),
    })
}

/// A pull request (`GET …/pulls/{n}`), or `None` if the issue is not one.
pub(crate) fn pull(ctx: &Ctx, repo: &Repo, issue: &Issue) -> Option<Value> {
    let p = issue.pull.as_ref()?;
    let repo_url = ctx.repo_url(repo);
    let url = format!("{repo_url}/pulls/{}", issue.number);
    let issue_url = ctx.issue_url(repo, issue.number);
    let html = ctx.html_issue_url(repo, issue);
    let merged = p.merged_at.is_some();
    let merged_by = if merged {
        Some(p.merged_by.as_deref().unwrap_or(&issue.user))
    } else {
        None
    };
    let statuses = format!("{repo_url}/statuses/{}", p.head_sha);
    let href = |u: &str| json!({ "href": u });
    let mut v = json!({
        "url": url,
        "id": p.id,
        "node_id": node_id("PullRequest", p.id),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": issue_url,
        "commits_url": format!("{url}/commits"),
        "review_comments_url": format!("{url}/comments"),
        "review_comment_url": format!("{repo_url}/pulls/comments{{/number}}"),
        "comments_url": format!("{issue_url}/comments"),
        "statuses_url": statuses,
        "number": issue.number,
        "state": issue.state,
        "locked": issue.locked,
        "title": issue.title,
        "user": user(ctx, &issue.user),
        "body": issue.body,
        "labels": issue_labels(ctx, repo, issue),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": fmt_time(issue.created_at),
        "updated_at": fmt_time(issue.updated_at),
        "closed_at": issue.closed_at.map(fmt_time),
        "merged_at": p.merged_at.map(fmt_time),
        "merge_commit_sha": p.merge_commit_sha,
    });
    let more = json!({
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": branch(ctx, repo, &p.head_ref, &p.head_sha),
        "base": branch(ctx, repo, &p.base_ref, &p.base_sha),
        "_links": {
            "self": href(&url),
            "html": href(&html),
            "issue": href(&issue_url),
            "comments": href(&format!("{issue_url}/comments")),
            "review_comments": href(&format!("{url}/comments")),
            "review_comment": href(&format!("{repo_url}/pulls/comments{{/number}}")),
            "commits": href(&format!("{url}/commits")),
            "statuses": href(&statuses),
        },
        "author_association": association(repo, &issue.user),
        "auto_merge": null,
        "draft": p.draft,
        "merged": merged,
        "mergeable": if merged { Value::Null } else { Value::Bool(true) },
        "rebaseable": if merged { Value::Null } else { Value::Bool(true) },
        "mergeable_state": if merged { "unknown" } else { "clean" },
        "merged_by": merged_by.map(|u| user(ctx, u)),
        "comments": issue.comments().count(),
        "review_comments": 0,
        "maintainer_can_modify": false,
        "commits": p.commits.len(),
        "additions": p.commits.len() * 3,
        "deletions": p.commits.len(),
        "changed_files": p.commits.len(),
    });
    if let (Some(o), Value::Object(more)) = (v.as_object_mut(), more) {
        o.extend(more);
    }
    Some(v)
}

/// A commit as `GET …/pulls/{n}/commits` lists it.
pub(crate) fn commit(ctx: &Ctx, repo: &Repo, c: &Commit) -> Value {
    let repo_url = ctx.repo_url(repo);
    let email = format!("{}@users.noreply.example.org", c.author.login);
    let signature = json!({"name": c.author.login, "email": email, "date": fmt_time(c.date)});
    json!({
        "url": format!("{repo_url}/commits/{}", c.sha),
        "sha": c.sha,
        "node_id": node_id_str("Commit", &c.sha),
        "html_url": format!("{}/{}/commit/{}", ctx.web, repo.full_name(), c.sha),
        "comments_url": format!("{repo_url}/commits/{}/comments", c.sha),
        "commit": {
            "url": format!("{repo_url}/git/commits/{}", c.sha),
            "author": signature,
            "committer": signature,
            "message": c.message,
            "tree": {
                "url": format!("{repo_url}/git/trees/{}", super::model::fake_sha(&format!("tree:{}", c.sha))),
                "sha": super::model::fake_sha(&format!("tree:{}", c.sha)),
            },
            "comment_count": 0,
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null},
        },
        "author": user(ctx, &c.author),
        "committer": user(ctx, &c.author),
        "parents": c.parents.iter().map(|p| json!({
            "url": format!("{repo_url}/commits/{p}"),
            "sha": p,
        })).collect::<Vec<_>>(),
    })
}
