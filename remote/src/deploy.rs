//! What `remote deploy` decides before it installs: which release build runs on a board
//! (kernel architecture, userland bitness, C library), where that build's binary is (a
//! tarball in dist/ checked against its .sha256, or a given file), and whether the binary is
//! for the board's machine at all.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Host, RemoteError};

/// The oldest glibc our release builds link against (cross/build.sh's floor).
const GLIBC_FLOOR: (u32, u32) = (2, 17);

/// Where builds come from: `--binary FILE` (a binary or a tarball), else `dist/`.
pub struct Builds {
    pub binary: Option<PathBuf>,
    pub dist: PathBuf,
}

fn build_error(message: String) -> RemoteError {
    RemoteError::Build(message)
}

/// `key=value` lines, as the board's probe script prints them.
pub fn key_values(text: &str) -> BTreeMap<String, String> {
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
pub fn check_libc(host: &Host, libc: &str) -> Result<(), RemoteError> {
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
/// target at `version`, checked against its .sha256 file.
pub fn build_for(
    target: &str,
    builds: &Builds,
    version: &str,
) -> Result<(Vec<u8>, PathBuf), RemoteError> {
    if let Some(file) = &builds.binary {
        let bytes = std::fs::read(file)
            .map_err(|e| build_error(format!("reading --binary {}: {e}", file.display())))?;
        let bin = if bytes.starts_with(&[0x1f, 0x8b]) {
            binary_from_tarball(&bytes, file)?
        } else {
            bytes
        };
        return Ok((bin, file.clone()));
    }
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
        return Err(build_error(format!(
            "no edgenas {version} build for {target} in {} (there: {}); build it with `bash cross/build.sh {target}` or pass --binary FILE",
            builds.dist.display(),
            if have.is_empty() { "none".to_string() } else { have.join(", ") }
        )));
    }
    let bytes = std::fs::read(&tarball)
        .map_err(|e| build_error(format!("reading {}: {e}", tarball.display())))?;
    let sums = PathBuf::from(format!("{}.sha256", tarball.display()));
    if let Ok(text) = std::fs::read_to_string(&sums) {
        let expected = text.split_whitespace().next().unwrap_or("");
        let actual = hex(&Sha256::digest(&bytes));
        if expected != actual {
            return Err(build_error(format!(
                "{} does not match {} (sha256 {actual}, expected {expected}): a damaged or replaced download",
                tarball.display(),
                sums.display()
            )));
        }
    }
    Ok((binary_from_tarball(&bytes, &tarball)?, tarball))
}

fn binary_from_tarball(bytes: &[u8], path: &Path) -> Result<Vec<u8>, RemoteError> {
    let unreadable =
        |e: std::io::Error| build_error(format!("reading the tarball {}: {e}", path.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let is_binary = entry
            .path()
            .map(|p| p.file_name().is_some_and(|n| n == "edgenas"))
            .unwrap_or(false);
        if is_binary {
            let mut bin = Vec::new();
            entry.read_to_end(&mut bin).map_err(|e| {
                build_error(format!("reading edgenas from {}: {e}", path.display()))
            })?;
            return Ok(bin);
        }
    }
    Err(build_error(format!(
        "{} holds no edgenas binary",
        path.display()
    )))
}

/// The ELF machine of the binary must be the board's: a wrong --binary is refused here, not
/// as "Exec format error" on the board.
pub fn check_elf(bin: &[u8], target: &str, from: &Path) -> Result<(), RemoteError> {
    if bin.len() < 20 || &bin[..4] != b"\x7fELF" {
        return Err(build_error(format!(
            "{} is not an ELF executable",
            from.display()
        )));
    }
    let machine = u16::from_le_bytes([bin[18], bin[19]]);
    let (name, expected) = match target {
        t if t.starts_with("aarch64") => ("aarch64", 183),
        t if t.starts_with("armv7") => ("ARM", 40),
        _ => ("x86-64", 62),
    };
    if machine != expected {
        return Err(build_error(format!(
            "{} is not an {name} executable (ELF machine {machine}); the board needs {target}",
            from.display()
        )));
    }
    Ok(())
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sha256 of `bytes` in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
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
