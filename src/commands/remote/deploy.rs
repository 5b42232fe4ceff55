//! `remote deploy`: ask the board what it is, pick the build that runs there, install it
//! atomically with its sha256 checked on the board.

use anyhow::Result;
use edgenas_remote::deploy::{
    build_for, check_elf, check_libc, key_values, sha256_hex, target_for, Builds,
};
use edgenas_remote::{scripts, Host, RemoteError};

use super::{succeeded, Remote};

pub fn deploy(r: &Remote, host: &Host, builds: &Builds) -> Result<String> {
    let out = r.ssh.run(host, &scripts::probe(&r.remote_bin), b"")?;
    let facts = key_values(&String::from_utf8_lossy(&out.stdout));
    let fact = |k: &str| facts.get(k).map(String::as_str).unwrap_or("");
    let target =
        target_for(fact("arch"), fact("bits")).map_err(|detail| RemoteError::Unsupported {
            host: host.name.clone(),
            detail,
        })?;
    check_libc(host, fact("libc"))?;
    let (binary, from) = build_for(target, builds, env!("CARGO_PKG_VERSION"))?;
    check_elf(&binary, target, &from)?;
    let sha = sha256_hex(&binary);
    let short = &sha[..12];
    if fact("sha256") == sha {
        return Ok(format!(
            "up to date: {} (sha256 {short}…) already at {}",
            target,
            fact("bin")
        ));
    }
    let avail: u64 = fact("avail_kib").parse().unwrap_or(u64::MAX / 1024);
    let need = binary.len() as u64 + (1 << 20);
    if avail.saturating_mul(1024) < need {
        return Err(RemoteError::NoSpace {
            host: host.name.clone(),
            detail: format!(
                "{} KiB free where edgenas goes, {} KiB needed",
                avail,
                need / 1024
            ),
        }
        .into());
    }
    let out = r
        .ssh
        .run(host, &scripts::install(&r.remote_bin, &sha), &binary)?;
    let out = succeeded(host, "installing", out)?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(format!(
        "installed {version} ({target}, sha256 {short}…) at {} from {}",
        fact("bin"),
        from.display()
    ))
}
