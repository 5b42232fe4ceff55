//! edgenas-nas: search spaces (parse, format, enumerate, sample, mutate, encode, build) and search.

pub mod nb201;

pub use nb201::{Nb201Arch, Nb201Op};

use edgenas_runtime::Network;

#[derive(Debug, thiserror::Error)]
pub enum NasError {
    /// A malformed arch string; `token` is the part that is wrong.
    #[error("bad {space} arch at '{token}': {reason}")]
    Parse {
        space: &'static str,
        input: String,
        token: String,
        reason: String,
    },
    #[error("unknown search space '{0}' (known: nb201)")]
    UnknownSpace(String),
}

/// The search spaces edgenas knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Space {
    Nb201,
}

impl Space {
    pub fn name(self) -> &'static str {
        match self {
            Space::Nb201 => "nb201",
        }
    }

    pub fn from_name(s: &str) -> Result<Space, NasError> {
        match s {
            "nb201" | "nasbench201" => Ok(Space::Nb201),
            other => Err(NasError::UnknownSpace(other.to_string())),
        }
    }
}

/// A candidate of any space. Its string form is its identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Arch {
    Nb201(Nb201Arch),
}

impl Arch {
    /// Parses an arch string, recognising its space from its form.
    pub fn parse(s: &str) -> Result<Arch, NasError> {
        Nb201Arch::parse(s).map(Arch::Nb201)
    }

    pub fn space(&self) -> Space {
        match self {
            Arch::Nb201(_) => Space::Nb201,
        }
    }

    pub fn build(&self) -> Network {
        match self {
            Arch::Nb201(a) => a.build(),
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arch::Nb201(a) => a.fmt(f),
        }
    }
}
