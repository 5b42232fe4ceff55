//! What can go wrong with a board, each as one line that says what to do.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RemoteError {
    #[error("{host}: unreachable ({detail}); check that the board is on, its address and port, and that sshd runs on it")]
    Unreachable { host: String, detail: String },
    #[error("{host}: authentication refused; check the user name and that your public key is in the board's ~/.ssh/authorized_keys (ssh-copy-id {host})")]
    AuthRefused { host: String },
    #[error("{host}: the host key changed since you last connected (a reinstalled board, or someone in between); if you expected it, remove the old key with `ssh-keygen -R <address>` and connect once with ssh to check the new one")]
    HostKeyChanged { host: String },
    #[error("{host}: its host key is not known; connect once with `ssh {host}` to check and accept it (host-key checking stays on)")]
    HostKeyUnknown { host: String },
    #[error("{host}: ssh failed: {detail}")]
    Ssh { host: String, detail: String },
    #[error("cannot run ssh: {0} (install the OpenSSH client)")]
    SshMissing(std::io::Error),
    #[error("{host}: edgenas is not installed at {path}; install it with `edgenas remote deploy {host}`")]
    MissingEdgenas { host: String, path: String },
    #[error(
        "{host}: no space left on the board ({detail}); free some space or choose another --dest"
    )]
    NoSpace { host: String, detail: String },
    #[error("{host}: unsupported board: {detail}")]
    Unsupported { host: String, detail: String },
    #[error("{host}: the board's glibc is {found}, older than the {floor} this build needs; update the board's OS or build for it")]
    GlibcTooOld {
        host: String,
        found: String,
        floor: String,
    },
    #[error("{0}")]
    Build(String),
    #[error("{host}: {detail}")]
    Remote { host: String, detail: String },
    #[error("{path}:{line}: {message}")]
    Inventory {
        path: String,
        line: usize,
        message: String,
    },
    #[error("bad host '{spec}': {why}")]
    BadHost { spec: String, why: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
