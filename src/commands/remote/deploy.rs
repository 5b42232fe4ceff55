//! `remote deploy`: ask the board what it is, pick the build that runs there, install it
//! atomically with its sha256 checked on the board.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use edgenas_remote::{scripts, Host, RemoteError};
use sha2::{Digest, Sha256};

use super::{succeeded, Remote};

/// The oldest glibc our release builds link against (cross/build.sh's floor).
const GLIBC_FLOOR: (u32, u32) = (2, 17);

pub struct Builds {
    pub binary: Option<PathBuf>,
    pub dist: PathBuf,
}

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
    let (binary, from) = build_for(target, builds)?;
    check_elf(&binary, target, &from)?;
    let sha = hex(&Sha256::digest(&binary));
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

fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The release target that runs on a board with this kernel architecture and userland
/// bitness. A 64-bit kernel under a 32-bit userland (32-bit Raspberry Pi OS on a Pi 4) runs
/// the armv7 build.
pub fn target_for(arch: &str, bits: &str) -> Result<&'static str, String> {
    match (arch, bits) {
        ("aarch64" | "arm64", "32") => Ok("armv7-unknown-linux-gnueabihf"),
        ("aarch64" | "arm64", _) => Ok("aarch64-unknown-linux-gnu"),
        ("armv7l" | "armv8l", _) => Ok("armv7-unknown-linux-gnueabihf"),
        ("x86_64", _) => Ok("x86_64-unknown-linux-gnu"),
        ("armv6l", _) => Err("ARMv6 (Pi 1, Pi Zero): there is no edgenas build for it".into()),
        ("", _) => Err("`uname -m` printed nothing".into()),
        (other, _) => Err(format!("architecture '{other}' has no edgenas build")),
    }
}

/// `glibc 2.36` (getconf) or `ldd (Ubuntu GLIBC 2.35-0ubuntu3) 2.35`; musl is refused.
fn check_libc(host: &Host, libc: &str) -> Result<(), RemoteError> {
    if libc.to_ascii_lowercase().contains("musl") {
        return Err(RemoteError::Unsupported {
            host: host.name.clone(),
            detail: format!("its C library is musl ({libc}); edgenas builds link glibc"),
        });
    }
    let version = libc.split_whitespace().rev().find_map(|w| {
        let mut parts = w.split('.');
        let major = parts.next()?.parse::<u32>().ok()?;
        let minor: String = parts
            .next()?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Some((major, minor.parse::<u32>().ok()?))
    });
    match version {
        Some(v) if v < GLIBC_FLOOR => Err(RemoteError::GlibcTooOld {
            host: host.name.clone(),
            found: format!("{}.{}", v.0, v.1),
            floor: format!("{}.{}", GLIBC_FLOOR.0, GLIBC_FLOOR.1),
        }),
        Some(_) => Ok(()),
        // Not said: go on; the version check after installing runs the binary anyway.
        None => Ok(()),
    }
}

/// The binary to install: --binary (a binary or a tarball), else dist/'s tarball for the
/// target at this edgenas's version, checked against its .sha256 file.
fn build_for(target: &str, builds: &Builds) -> Result<(Vec<u8>, PathBuf)> {
    if let Some(file) = &builds.binary {
        let bytes =
            std::fs::read(file).with_context(|| format!("reading --binary {}", file.display()))?;
        let bin = if bytes.starts_with(&[0x1f, 0x8b]) {
            binary_from_tarball(&bytes, file)?
        } else {
            bytes
        };
        return Ok((bin, file.clone()));
    }
    let version = env!("CARGO_PKG_VERSION");
    let tarball = builds
        .dist
        .join(format!("edgenas-{version}-{target}.tar.gz"));
    if !tarball.is_file() {
        let have: Vec<String> = std::fs::read_dir(&builds.dist)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".tar.gz"))
                    .collect()
            })
            .unwrap_or_default();
        bail!(
            "no edgenas {version} build for {target} in {} (there: {}); build it with `bash cross/build.sh {target}` or pass --binary FILE",
            builds.dist.display(),
            if have.is_empty() { "none".to_string() } else { have.join(", ") }
        );
    }
    let bytes =
        std::fs::read(&tarball).with_context(|| format!("reading {}", tarball.display()))?;
    let sums = PathBuf::from(format!("{}.sha256", tarball.display()));
    if let Ok(text) = std::fs::read_to_string(&sums) {
        let expected = text.split_whitespace().next().unwrap_or("");
        let actual = hex(&Sha256::digest(&bytes));
        if expected != actual {
            bail!(
                "{} does not match {} (sha256 {actual}, expected {expected}): a damaged or replaced download",
                tarball.display(),
                sums.display()
            );
        }
    }
    Ok((binary_from_tarball(&bytes, &tarball)?, tarball))
}

fn binary_from_tarball(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = archive
        .entries()
        .with_context(|| format!("reading the tarball {}", path.display()))?;
    for entry in entries {
        let mut entry = entry.with_context(|| format!("reading the tarball {}", path.display()))?;
        let is_binary = entry
            .path()
            .map(|p| p.file_name().is_some_and(|n| n == "edgenas"))
            .unwrap_or(false);
        if is_binary {
            let mut bin = Vec::new();
            entry
                .read_to_end(&mut bin)
                .with_context(|| format!("reading edgenas from {}", path.display()))?;
            return Ok(bin);
        }
    }
    bail!("{} holds no edgenas binary", path.display())
}

/// The ELF machine of the binary must be the board's: a wrong --binary is refused here, not
/// as "Exec format error" on the board.
fn check_elf(bin: &[u8], target: &str, from: &Path) -> Result<()> {
    if bin.len() < 20 || &bin[..4] != b"\x7fELF" {
        bail!("{} is not an ELF executable", from.display());
    }
    let machine = u16::from_le_bytes([bin[18], bin[19]]);
    let (name, expected) = match target {
        t if t.starts_with("aarch64") => ("aarch64", 183),
        t if t.starts_with("armv7") => ("ARM", 40),
        _ => ("x86-64", 62),
    };
    if machine != expected {
        bail!(
            "{} is not an {name} executable (ELF machine {machine}); the board needs {target}",
            from.display()
        );
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_map_to_their_builds() {
        assert_eq!(target_for("aarch64", "64"), Ok("aarch64-unknown-linux-gnu"));
        // 32-bit Raspberry Pi OS on a Pi 4's 64-bit kernel.
        assert_eq!(
            target_for("aarch64", "32"),
            Ok("armv7-unknown-linux-gnueabihf")
        );
        assert_eq!(
            target_for("armv7l", "32"),
            Ok("armv7-unknown-linux-gnueabihf")
        );
        assert!(target_for("armv6l", "32").unwrap_err().contains("ARMv6"));
        assert!(target_for("riscv64", "64").unwrap_err().contains("riscv64"));
    }

    #[test]
    fn glibc_versions_as_boards_print_them() {
        let h = Host::parse("pi").unwrap();
        assert!(check_libc(&h, "glibc 2.36").is_ok());
        assert!(check_libc(&h, "ldd (Ubuntu GLIBC 2.35-0ubuntu3.8) 2.35").is_ok());
        let e = check_libc(&h, "glibc 2.12").unwrap_err().to_string();
        assert!(e.contains("2.12") && e.contains("2.17"), "{e}");
        assert!(check_libc(&h, "musl libc (aarch64)")
            .unwrap_err()
            .to_string()
            .contains("musl"));
    }
}
