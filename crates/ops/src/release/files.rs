//! The files of a cut release: TOML and JSON manifests, the versiondb text, notes and a
//! changelog section, all derived from the manifest.

use std::path::Path;

use serde_json::json;

use super::options::CutOptions;
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::release::{render_changelog, render_notes, render_versiondb, Manifest};
use portcullis_core::Problem;

/// With `[releases]` in portcullis.toml, the manifests' directory in the releases repository:
/// the release manager commits what the cut writes there, and other workspaces learn it.
fn published_dir(ws: &Workspace) -> Option<std::path::PathBuf> {
    let cfg = ws.config.as_ref()?.releases.as_ref()?;
    let base = ws.config_path.as_ref()?.parent()?;
    Some(portcullis_git::scan::resolve_repo_path(base, &cfg.repo).join(&cfg.dir))
}

/// The release's files, derived from its manifest (so a rerun of the cut writes them again):
/// TOML and JSON manifests, the versiondb text, notes and a changelog section. Each is written
/// to a temporary file and renamed, so a crash never leaves half a file.
pub(super) fn write_files(
    ws: &Workspace,
    opts: &CutOptions,
    m: &Manifest,
    hash: &str,
    cut_at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<String>> {
    let dir = opts
        .out_dir
        .clone()
        .or_else(|| published_dir(ws))
        .unwrap_or_else(|| {
            ws.ledger_path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
                .join("releases")
        })
        .join(portcullis_core::release::file_component(&m.tag));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create the directory", &dir, e))?;
    let toml_text = toml::to_string(m).map_err(|e| {
        Error::Problem(Problem::internal("cannot write the manifest as TOML").because(e))
    })?;
    let files: Vec<(String, String)> = vec![
        (
            "manifest.toml".into(),
            format!(
                "# portcullis manifest {}, sha256 {hash}\n{toml_text}",
                m.tag
            ),
        ),
        (
            "manifest.json".into(),
            serde_json::to_string_pretty(&json!({ "hash": hash, "manifest": m }))
                .unwrap_or_default(),
        ),
        (format!("{}.txt", m.build), render_versiondb(m)),
        ("notes.md".into(), render_notes(m)),
        (
            "CHANGELOG-section.md".into(),
            render_changelog(m, &cut_at.date_naive().to_string()),
        ),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let p = dir.join(&name);
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| Error::io("replace", &p, e))?;
        written.push(p.display().to_string());
    }
    Ok(written)
}
