//! `remote fetch`: the board's results into hosts/<HOST>/ here. The journal is merged record by
//! record (by each record's content hash), so fetching twice adds nothing twice; the other files
//! (embeddings, adapted predictors, run results, job logs) are replaced by the board's copies.

use std::path::Path;

use anyhow::{Context, Result};
use edgenas_profiler::merge_measurements;
use edgenas_remote::{scripts, Host};

use super::{succeeded, Remote};

const JOURNAL: &str = "measurements.journal";

pub fn fetch(r: &Remote, host: &Host) -> Result<String> {
    let out = r
        .ssh
        .run(host, &scripts::fetch(r.remote_home.as_deref()), b"")?;
    let out = succeeded(host, "reading the board's state", out)?;
    if out.stdout.is_empty() {
        return Ok("nothing on the board yet (no state directory)".into());
    }
    let dir = r.local_dir(host);
    let staging = dir.join(format!(".fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let result = unpack_and_merge(&out.stdout, &staging, &dir);
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn unpack_and_merge(tar_bytes: &[u8], staging: &Path, dir: &Path) -> Result<String> {
    // `unpack` keeps every entry inside `staging` (no absolute paths, no `..`).
    tar::Archive::new(tar_bytes)
        .unpack(staging)
        .context("unpacking what the board sent")?;
    let mut summary = Vec::new();
    let fetched_journal = staging.join(JOURNAL);
    if fetched_journal.exists() {
        let merged = merge_measurements(&dir.join(JOURNAL), &fetched_journal)
            .context("merging the board's journal")?;
        summary.push(format!(
            "{} new measurement(s), {} already here",
            merged.added, merged.already
        ));
        std::fs::remove_file(&fetched_journal)?;
    }
    let files = move_tree(staging, dir)?;
    summary.push(format!("{files} file(s) of results"));
    Ok(format!("{} into {}", summary.join(", "), dir.display()))
}

/// Moves every file under `from` to the same place under `to`, replacing; the count.
fn move_tree(from: &Path, to: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            n += move_tree(&entry.path(), &target)?;
        } else {
            std::fs::rename(entry.path(), &target)
                .with_context(|| format!("writing {}", target.display()))?;
            // Durable like every other file edgenas keeps: the data, then the name.
            std::fs::File::open(&target)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("syncing {}", target.display()))?;
            let _ = edgenas_format::sync_dir(&target);
            n += 1;
        }
    }
    Ok(n)
}
