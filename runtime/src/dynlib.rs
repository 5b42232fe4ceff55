//! Runtime libraries opened at run time (`dlopen`), never linked: one edgenas binary starts on
//! every board, and a runtime's library is looked for only when that runtime is asked for.

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};

/// An opened library; never closed (its code is in use until the process ends).
pub(crate) struct Library {
    handle: *mut c_void,
    /// The file it was opened from (a bare name when the loader's own search found it).
    pub path: PathBuf,
}

// The handle is only used to look symbols up, which dlsym allows from any thread.
unsafe impl Send for Library {}
unsafe impl Sync for Library {}

impl Library {
    /// The address of `name`, or None when the library lacks it.
    pub fn symbol(&self, name: &str) -> Option<*mut c_void> {
        let c = CString::new(name).ok()?;
        // SAFETY: a NUL-terminated symbol name on a live handle; the result is checked.
        let p = unsafe { libc::dlsym(self.handle, c.as_ptr()) };
        (!p.is_null()).then_some(p)
    }
}

/// Where a library is looked for, in order: the file `$env` names (then only that file), beside
/// the edgenas binary (and in `../lib`), the checkout's `third_party/<dir>/<platform>/` (builds
/// from a checkout), then each of `names` on the loader's own path (`LD_LIBRARY_PATH`,
/// ld.so.cache).
pub(crate) fn candidates(env: &str, names: &[&str], third_party: &str) -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut out = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        for name in names {
            out.push(dir.join(name));
            out.push(dir.join("../lib").join(name));
        }
    }
    let platform = if cfg!(target_arch = "aarch64") {
        "linux-aarch64"
    } else if cfg!(target_arch = "x86_64") {
        "linux-x86_64"
    } else {
        "linux-other"
    };
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    let vendored = checkout
        .parent()
        .unwrap_or(checkout)
        .join("third_party")
        .join(third_party)
        .join(platform);
    for name in names {
        out.push(vendored.join(name));
    }
    // Bare names: the dynamic loader's own search.
    out.extend(names.iter().map(PathBuf::from));
    out
}

fn dlerror() -> String {
    // SAFETY: dlerror returns a thread-local string or null.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown error".into()
    } else {
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

/// The first candidate that loads. A file that is there but does not load (wrong architecture,
/// glibc too old…) is an error of its own; `missing` explains what to do when none is there.
pub(crate) fn open(
    candidates: &[PathBuf],
    missing: impl FnOnce(&str) -> String,
) -> Result<Library, String> {
    let mut tried = Vec::new();
    for path in candidates {
        let bare = path.components().count() == 1;
        if !bare && !path.exists() {
            tried.push(path.display().to_string());
            continue;
        }
        let c = CString::new(path.as_os_str().to_string_lossy().as_bytes())
            .map_err(|_| format!("{}: a path with a NUL byte", path.display()))?;
        // SAFETY: dlopen of a shared library; its initialisers run (kernel registries).
        let handle = unsafe {
            libc::dlopen(
                c.as_ptr() as *const c_char,
                libc::RTLD_NOW | libc::RTLD_LOCAL,
            )
        };
        if handle.is_null() {
            let why = dlerror();
            if bare && why.contains("cannot open shared object file") {
                tried.push(format!("{} on the loader's path", path.display()));
                continue;
            }
            return Err(format!("{} does not load: {why}", path.display()));
        }
        return Ok(Library {
            handle,
            path: path.clone(),
        });
    }
    Err(missing(&tried.join(", ")))
}
