//! Where edgenas keeps its state.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// `--home`, else `$EDGENAS_HOME`, else `$XDG_DATA_HOME/edgenas`, else `~/.local/share/edgenas`.
pub fn home(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_owned());
    }
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = var("EDGENAS_HOME") {
        return Ok(p);
    }
    if let Some(p) = var("XDG_DATA_HOME") {
        return Ok(p.join("edgenas"));
    }
    if let Some(p) = var("HOME") {
        return Ok(p.join(".local/share/edgenas"));
    }
    bail!("no state directory: set EDGENAS_HOME or pass --home DIR")
}

pub fn journal_path(home_flag: Option<&Path>, journal_flag: Option<&Path>) -> Result<PathBuf> {
    match journal_flag {
        Some(p) => Ok(p.to_owned()),
        None => Ok(home(home_flag)?.join("measurements.journal")),
    }
}
