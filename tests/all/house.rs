//! The shape of the code (issue 15): the modules inside each crate import each other in no
//! circle, and no file outside the tests and the testkit grows past 700 lines, nor a function
//! past 150. Cargo already forbids circles between crates; nothing else watches these.
//!
//! Modules are files. A file's module path follows its place under `src/` (`a/mod.rs` and
//! `a.rs` are `a`, `a/b.rs` is `a::b`), and its arrows are the `crate::…`, `super::…` and
//! `self::…` paths it names, each to the deepest module file the path reaches. Arrows between a
//! module and its own ancestors are left out: a parent declares and re-exports its children, and
//! children use what their parent defines, which is how Rust modules are meant to nest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

type Module = Vec<String>;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `file` as a failure names it: relative to the repository.
fn shown(file: &Path) -> String {
    file.strip_prefix(repo_root())
        .unwrap_or(file)
        .display()
        .to_string()
}

/// Every library crate's `src/` (the binary's too: `src/lib.rs`).
fn crate_sources() -> Vec<PathBuf> {
    let root = repo_root();
    let mut out = vec![root.join("src")];
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .map(|e| e.expect("entry").path().join("src"))
        .filter(|p| p.join("lib.rs").exists())
        .collect();
    crates.sort();
    out.extend(crates);
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of `file` in the crate whose root directory is `src`; `None` for the
/// binary's `main.rs` (a crate of its own).
fn module_of(src: &Path, file: &Path) -> Option<Module> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Module = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    match last.as_str() {
        "main.rs" if parts.is_empty() => return None,
        "lib.rs" | "mod.rs" => {}
        _ => parts.push(last.trim_end_matches(".rs").to_string()),
    }
    Some(parts)
}

/// What `path` (the segments after `crate`/`super`/`self`) names from `here`, absolute.
fn resolve(here: &Module, path: &[&str]) -> Option<Module> {
    let mut at: Module = match path.first()? {
        &"crate" => Vec::new(),
        // `self` is the module itself (a file, or a directory's `mod.rs`); `super` its parent.
        &"self" | &"super" => here.clone(),
        _ => return None,
    };
    let mut rest = &path[1..];
    if path[0] == "super" {
        at.pop()?;
    }
    while rest.first() == Some(&"super") {
        at.pop()?;
        rest = &rest[1..];
    }
    at.extend(rest.iter().map(|s| s.to_string()));
    Some(at)
}

/// The arrows of one crate: file module → the modules it names.
fn arrows(
    src: &Path,
) -> (
    BTreeMap<Module, PathBuf>,
    BTreeMap<Module, BTreeSet<Module>>,
) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<Module, PathBuf> = files
        .iter()
        .filter_map(|f| module_of(src, f).map(|m| (m, f.clone())))
        .collect();
    let path_re = Regex::new(r"\b(?:crate|super|self)(?:::(?:super|[A-Za-z_][A-Za-z0-9_]*))+")
        .expect("regex");
    let group_re =
        Regex::new(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^{}]*)\}")
            .expect("regex");
    let mut out: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, file) in &modules {
        let text = std::fs::read_to_string(file).expect("read");
        let text: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut named: Vec<Vec<String>> = path_re
            .find_iter(&text)
            .map(|p| p.as_str().split("::").map(str::to_string).collect())
            .collect();
        // `use super::{a, b::C}`: each member is a path under the prefix.
        for g in group_re.captures_iter(&text) {
            for member in g[2].split(',') {
                let member = member.trim();
                if member.is_empty() || member == "self" {
                    continue;
                }
                let mut p: Vec<String> = g[1].split("::").map(str::to_string).collect();
                p.extend(member.split("::").map(|s| s.trim().to_string()));
                named.push(p);
            }
        }
        for p in named {
            let segs: Vec<&str> = p.iter().map(String::as_str).collect();
            let Some(abs) = resolve(m, &segs) else {
                continue;
            };
            // The deepest module file the path reaches.
            let Some(target) = (0..=abs.len())
                .rev()
                .map(|n| abs[..n].to_vec())
                .find(|prefix| modules.contains_key(prefix))
            else {
                continue;
            };
            let related = target.starts_with(m) || m.starts_with(&target);
            if !related {
                out.entry(m.clone()).or_default().insert(target);
            }
        }
    }
    (modules, out)
}

/// The circles (strongly connected components of more than one module) of `graph`.
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    // Kosaraju: order by finishing time, then walk the reversed graph.
    let nodes: BTreeSet<&Module> = graph.keys().chain(graph.values().flatten()).collect();
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for n in &nodes {
        let mut stack = vec![(*n, false)];
        while let Some((v, done)) = stack.pop() {
            if done {
                order.push(v);
                continue;
            }
            if !seen.insert(v) {
                continue;
            }
            stack.push((v, true));
            for w in graph.get(v).into_iter().flatten() {
                if !seen.contains(w) {
                    stack.push((w, false));
                }
            }
        }
    }
    let mut reversed: BTreeMap<&Module, Vec<&Module>> = BTreeMap::new();
    for (v, ws) in graph {
        for w in ws {
            reversed.entry(w).or_default().push(v);
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for v in order.into_iter().rev() {
        if assigned.contains(v) {
            continue;
        }
        let mut component = Vec::new();
        let mut stack = vec![v];
        while let Some(x) = stack.pop() {
            if !assigned.insert(x) {
                continue;
            }
            component.push(x.clone());
            stack.extend(reversed.get(x).into_iter().flatten().copied());
        }
        if component.len() > 1 {
            component.sort();
            out.push(component);
        }
    }
    out
}

/// Regression (issue 15, 2026-12-08): `portcullis-ops`'s `backport::run` and the modules it
/// calls (`conflict`, `pr`, `push`, `resume`) took their shared types and `event` from `run`,
/// a circle of five files; those now live in `backport::request`.
#[test]
fn modules_inside_a_crate_import_each_other_in_no_circle() {
    let mut found = Vec::new();
    for src in crate_sources() {
        let (modules, graph) = arrows(&src);
        for c in circles(&graph) {
            let files: Vec<String> = c.iter().map(|m| shown(&modules[m])).collect();
            found.push(files.join(" ↔ "));
        }
    }
    assert!(
        found.is_empty(),
        "modules that import each other in a circle (move what they share into a module \
         both use):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_circle_finder_finds_a_circle_and_leaves_parents_and_children_alone() {
    let m = |s: &str| -> Module { s.split("::").map(str::to_string).collect() };
    let mut g: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    g.entry(m("a::run")).or_default().insert(m("a::push"));
    g.entry(m("a::push")).or_default().insert(m("a::run"));
    g.entry(m("b")).or_default().insert(m("a::run"));
    assert_eq!(circles(&g), vec![vec![m("a::push"), m("a::run")]]);
    g.get_mut(&m("a::push")).unwrap().remove(&m("a::run"));
    assert!(circles(&g).is_empty());
    // `super::x` from a file module is a sibling; `self::x` a child.
    assert_eq!(
        resolve(&m("a::run"), &["super", "push", "event"]),
        Some(m("a::push::event"))
    );
    assert_eq!(
        resolve(&m("a::run"), &["self", "inner"]),
        Some(m("a::run::inner"))
    );
}

/// Lines of `text` before an inline `#[cfg(test)] mod … {` (the unit tests a file carries).
fn code_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines
        .windows(2)
        .position(|w| {
            w[0].trim() == "#[cfg(test)]"
                && w[1].trim_start().starts_with("mod ")
                && w[1].trim_end().ends_with('{')
        })
        .unwrap_or(lines.len());
    lines[..cut].to_vec()
}

#[test]
fn no_file_over_700_lines_and_no_function_over_150_outside_tests_and_the_testkit() {
    let fn_re = Regex::new(
        r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:const\s+)?(?:unsafe\s+)?fn\s+(\w+)",
    )
    .expect("regex");
    let mut over = Vec::new();
    for src in crate_sources() {
        if src.parent().is_some_and(|c| c.ends_with("testkit")) {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        files.sort();
        for f in files {
            if f.file_name().is_some_and(|n| n == "tests.rs")
                || f.components().any(|c| c.as_os_str() == "tests")
            {
                continue;
            }
            let text = std::fs::read_to_string(&f).expect("read");
            let lines = code_lines(&text);
            let shown = shown(&f);
            if lines.len() > 700 {
                over.push(format!("{shown}: {} lines", lines.len()));
            }
            for (i, l) in lines.iter().enumerate() {
                let Some(c) = fn_re.captures(l) else { continue };
                if l.trim_end().ends_with(';') {
                    continue;
                }
                let close = format!("{}}}", &c[1]);
                let end = lines[i + 1..]
                    .iter()
                    .position(|x| x.trim_end() == close)
                    .map_or(lines.len(), |p| i + 1 + p);
                if end + 1 - i > 150 {
                    over.push(format!(
                        "{shown}:{}: fn {}: {} lines",
                        i + 1,
                        &c[2],
                        end + 1 - i
                    ));
                }
            }
        }
    }
    assert!(
        over.is_empty(),
        "split these (docs/EXTENDING.md says where things go):\n{}",
        over.join("\n")
    );
}

/// An operation the front ends wait on is compiled once, in `portcullis-ops`, only when it is
/// boxed (`OpFuture`): a public `async fn` there has its whole call tree compiled again, and
/// optimised, in the binary that polls it (docs/PERFORMANCE.md, "Building": 1.24 million lines
/// of the binary's crate for LLVM before, 0.67 after).
#[test]
fn the_operations_crate_has_no_public_async_fn() {
    let mut files = Vec::new();
    rust_files(&repo_root().join("crates/ops/src"), &mut files);
    files.sort();
    let found: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            let shown = shown(f);
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.trim_start().starts_with("pub async fn"))
                .map(|(i, l)| format!("{shown}:{}: {}", i + 1, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        found.is_empty(),
        "return an `OpFuture` (Box::pin of a private async fn) instead:\n{}",
        found.join("\n")
    );
}
