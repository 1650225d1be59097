//! Git over HTTP for the repositories the server hosts ([`super::GithubServer::host_git`]):
//! git's smart HTTP protocol at `/{owner}/{name}.git/…` (`info/refs?service=…`,
//! `git-upload-pack`, `git-receive-pack`), served by running `git http-backend` as a CGI
//! subprocess (arguments, no shell). As on GitHub, a push needs HTTP basic auth whose password is
//! a known token (401 with `WWW-Authenticate: Basic realm="GitHub"` otherwise); fetching needs
//! none, but wrong credentials are refused. Git traffic is outside the API's rate limit.
//!
//! Also here: the real merge of a hosted repository's pull request (a merge commit made with
//! git2 in memory, as GitHub's merge button makes it).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use axum::http::{HeaderMap, Method};

use super::Auth;

/// A git request: the hosted repository (`owner/name`) and what follows `.git/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GitPath {
    pub repo: String,
    pub rest: String,
}

/// `/{owner}/{name}.git/{info/refs|git-upload-pack|git-receive-pack}` → its parts.
pub(crate) fn parse(path: &str) -> Option<GitPath> {
    let mut segs = path.trim_start_matches('/').splitn(3, '/');
    let (owner, name, rest) = (segs.next()?, segs.next()?, segs.next()?);
    let name = name.strip_suffix(".git")?;
    if owner.is_empty() || name.is_empty() {
        return None;
    }
    matches!(rest, "info/refs" | "git-upload-pack" | "git-receive-pack").then(|| GitPath {
        repo: format!("{owner}/{name}"),
        rest: rest.to_string(),
    })
}

/// The answer to a git request: status, headers, body.
#[derive(Debug)]
pub(crate) struct GitReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl GitReply {
    fn text(status: u16, text: &str) -> GitReply {
        GitReply {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: text.as_bytes().to_vec(),
        }
    }

    fn unauthorized() -> GitReply {
        let mut r = GitReply::text(401, "Authentication required\n");
        r.headers
            .push(("www-authenticate".into(), "Basic realm=\"GitHub\"".into()));
        r
    }
}

/// One git request, as the handler hands it over.
pub(crate) struct GitRequest<'a> {
    pub path: &'a GitPath,
    pub method: &'a Method,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub auth: Auth,
    /// The authenticated login, if any.
    pub login: Option<String>,
}

/// Serve one git request against the bare repository at `bare` (blocking: run it off the
/// async workers).
pub(crate) fn serve(bare: &Path, req: &GitRequest) -> GitReply {
    let push = req.path.rest == "git-receive-pack"
        || req
            .query
            .split('&')
            .any(|kv| kv == "service=git-receive-pack");
    match req.auth {
        Auth::Failed => return GitReply::unauthorized(),
        Auth::Anonymous if push => return GitReply::unauthorized(),
        _ => {}
    }
    let allowed = match req.path.rest.as_str() {
        "info/refs" => *req.method == Method::GET,
        _ => *req.method == Method::POST,
    };
    if !allowed {
        return GitReply::text(405, "Method Not Allowed\n");
    }
    match backend(bare, req) {
        Ok(reply) => reply,
        Err(e) => GitReply::text(500, &format!("git http-backend: {e}\n")),
    }
}

/// Run `git http-backend` with the request as CGI and parse its answer.
fn backend(bare: &Path, req: &GitRequest) -> std::io::Result<GitReply> {
    let (root, dir) = match (bare.parent(), bare.file_name()) {
        (Some(root), Some(dir)) => (root, dir.to_string_lossy().into_owned()),
        _ => return Ok(GitReply::text(404, "Repository not found.\n")),
    };
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{dir}/{}", req.path.rest))
        .env("QUERY_STRING", req.query)
        .env("REQUEST_METHOD", req.method.as_str())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("HTTP_GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REMOTE_USER", req.login.as_deref().unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take();
    let body = req.body.to_vec();
    // Written on its own thread: the backend may answer before it has read everything.
    let writer = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(&body);
        }
    });
    let mut stderr = child.stderr.take();
    let errors = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let mut out = Vec::new();
    if let Some(s) = child.stdout.as_mut() {
        s.read_to_end(&mut out)?;
    }
    let status = child.wait()?;
    let _ = writer.join();
    let said = errors.join().unwrap_or_default();
    if !status.success() && out.is_empty() {
        return Ok(GitReply::text(
            500,
            &format!(
                "git http-backend failed: {}\n",
                String::from_utf8_lossy(&said)
            ),
        ));
    }
    Ok(parse_cgi(&out))
}

/// A CGI answer: header lines (`Status: 404 Not Found` sets the status), a blank line, the
/// body.
pub(crate) fn parse_cgi(out: &[u8]) -> GitReply {
    let (head, body) = match find(out, b"\r\n\r\n") {
        Some(i) => (&out[..i], &out[i + 4..]),
        None => match find(out, b"\n\n") {
            Some(i) => (&out[..i], &out[i + 2..]),
            None => (&out[..0], out),
        },
    };
    let mut reply = GitReply {
        status: 200,
        headers: Vec::new(),
        body: body.to_vec(),
    };
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("status") {
            reply.status = value
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(500);
        } else {
            reply
                .headers
                .push((name.to_ascii_lowercase(), value.to_string()));
        }
    }
    reply
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Make `bare` servable: a bare repository (created when missing, its default branch `main`)
/// that accepts pushes over HTTP.
pub(crate) fn prepare(bare: &Path) -> Result<PathBuf, String> {
    let repo = match git2::Repository::open_bare(bare) {
        Ok(r) => r,
        Err(_) if !bare.exists() => git2::Repository::init_opts(
            bare,
            git2::RepositoryInitOptions::new()
                .bare(true)
                .initial_head("main"),
        )
        .map_err(|e| format!("cannot create {}: {e}", bare.display()))?,
        Err(e) => return Err(format!("{} is not a bare repository: {e}", bare.display())),
    };
    let mut cfg = repo
        .config()
        .map_err(|e| format!("config of {}: {e}", bare.display()))?;
    cfg.set_bool("http.receivepack", true)
        .map_err(|e| format!("config of {}: {e}", bare.display()))?;
    Ok(repo.path().to_path_buf())
}

/// The tip of `branch` in `bare`.
pub(crate) fn branch_tip(bare: &Path, branch: &str) -> Option<String> {
    let repo = git2::Repository::open_bare(bare).ok()?;
    let id = repo.refname_to_id(&format!("refs/heads/{branch}")).ok()?;
    Some(id.to_string())
}

/// The commits of `head` not on `base`, oldest first: (sha, message, parents, author time).
pub(crate) fn commits_between(
    bare: &Path,
    base: &str,
    head: &str,
) -> Vec<(String, String, Vec<String>, i64)> {
    let Ok(repo) = git2::Repository::open_bare(bare) else {
        return Vec::new();
    };
    let Ok(mut walk) = repo.revwalk() else {
        return Vec::new();
    };
    let pushed = walk
        .push_ref(&format!("refs/heads/{head}"))
        .and_then(|()| walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE));
    if pushed.is_err() {
        return Vec::new();
    }
    let _ = walk.hide_ref(&format!("refs/heads/{base}"));
    walk.flatten()
        .filter_map(|id| repo.find_commit(id).ok())
        .map(|c| {
            (
                c.id().to_string(),
                c.message().unwrap_or_default().to_string(),
                c.parent_ids().map(|p| p.to_string()).collect(),
                c.author().when().seconds(),
            )
        })
        .collect()
}

/// Why a hosted merge did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MergeError {
    /// The branches conflict, or one is gone: nothing changed.
    NotMergeable,
    /// Something else went wrong (the message).
    Failed(String),
}

/// What GitHub's merge button does: a merge commit of `head` into `base` (message `Merge pull
/// request #N from owner/branch`, a blank line, the title; authored by the merger, committed
/// by GitHub), and `base` moved to it. Conflicts change nothing.
pub(crate) fn merge(
    bare: &Path,
    base: &str,
    head: &str,
    message: &str,
    author: (&str, &str),
    when: chrono::DateTime<chrono::Utc>,
) -> Result<String, MergeError> {
    let failed = |e: git2::Error| MergeError::Failed(e.message().to_string());
    let repo = git2::Repository::open_bare(bare).map_err(failed)?;
    let base_ref = format!("refs/heads/{base}");
    let tip = |name: &str| {
        repo.refname_to_id(name)
            .and_then(|id| repo.find_commit(id))
            .map_err(|_| MergeError::NotMergeable)
    };
    let ours = tip(&base_ref)?;
    let theirs = tip(&format!("refs/heads/{head}"))?;
    let mut index = repo.merge_commits(&ours, &theirs, None).map_err(failed)?;
    if index.has_conflicts() {
        return Err(MergeError::NotMergeable);
    }
    let tree_id = index.write_tree_to(&repo).map_err(failed)?;
    let tree = repo.find_tree(tree_id).map_err(failed)?;
    let time = git2::Time::new(when.timestamp(), 0);
    let author = git2::Signature::new(author.0, author.1, &time).map_err(failed)?;
    let committer = git2::Signature::new("GitHub", "noreply@github.com", &time).map_err(failed)?;
    let id = repo
        .commit(None, &author, &committer, message, &tree, &[&ours, &theirs])
        .map_err(failed)?;
    repo.reference(&base_ref, id, true, &format!("merge {head}"))
        .map_err(failed)?;
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_paths_are_recognised_and_others_are_not() {
        assert_eq!(
            parse("/lsst/pkg.git/info/refs"),
            Some(GitPath {
                repo: "lsst/pkg".into(),
                rest: "info/refs".into()
            })
        );
        assert!(parse("/lsst/pkg.git/git-receive-pack").is_some());
        assert!(parse("/repos/lsst/pkg").is_none());
        assert!(parse("/lsst/pkg/info/refs").is_none());
        assert!(parse("/lsst/pkg.git/objects/info/packs").is_none());
    }

    #[test]
    fn cgi_status_and_headers_are_parsed() {
        let r = parse_cgi(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope");
        assert_eq!(r.status, 404);
        assert_eq!(
            r.headers,
            vec![("content-type".to_string(), "text/plain".to_string())]
        );
        assert_eq!(r.body, b"nope");
        let r = parse_cgi(b"Content-Type: x\n\nbody");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"body"[..]));
    }
}
