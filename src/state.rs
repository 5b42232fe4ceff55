//! Where edgenas keeps its state.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use edgenas_remote::Host;

/// The state directory: `--home`, else `$EDGENAS_HOME`, else `$XDG_DATA_HOME/edgenas`, else
/// `~/.local/share/edgenas` ([`edgenas_ondevice::state::locate`]).
pub fn home(flag: Option<&Path>) -> Result<PathBuf> {
    Ok(edgenas_ondevice::state::locate(flag)?)
}

/// `--journal FILE`, else the state directory's journal.
pub fn journal_path(home_flag: Option<&Path>, journal_flag: Option<&Path>) -> Result<PathBuf> {
    match journal_flag {
        Some(p) => Ok(p.to_owned()),
        None => Ok(home(home_flag)?.join("measurements.journal")),
    }
}

/// Where a board's fetched files and followed jobs live in the local state directory.
pub fn host_dir(home: &Path, host: &Host) -> PathBuf {
    home.join("hosts").join(host.dir_name())
}

/// The journal fetched from `host` (`journal show --host HOST`).
pub fn fetched_journal(home: Option<&Path>, host: &str) -> Result<PathBuf> {
    let home = self::home(home)?;
    let hosts_dir = home.join("hosts");
    let path = host_dir(&home, &Host::parse(host)?).join("measurements.journal");
    if !path.exists() {
        let mut fetched: Vec<String> = std::fs::read_dir(&hosts_dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().join("measurements.journal").exists())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        fetched.sort();
        bail!(
            "no journal fetched from '{host}' (fetched: {}); fetch it with `edgenas remote fetch {host}`",
            if fetched.is_empty() {
                "none".to_string()
            } else {
                fetched.join(", ")
            }
        );
    }
    Ok(path)
}
