//! The loop as one API: a [`Session`] over the state directory and the [`Measurer`]. Its
//! steps are methods defined beside what they produce: `embed`, `adapt`, `validate`
//! ([`crate::steps`]), `search` with verification by measurement and `export`
//! ([`crate::verify`]), and `run`, those steps in order ([`crate::run`]). Results are plain
//! data; progress goes through a [`crate::Reporter`]. Commands open a session, call one step
//! and print what it returns.

use std::path::Path;

use edgenas_nas::Arch;

use crate::measure::Measurer;
use crate::state::StateDir;

/// The loop over one state directory and one source of figures.
pub struct Session {
    pub state: StateDir,
    pub measurer: Measurer,
}

impl Session {
    pub fn new(root: &Path, measurer: Measurer) -> Session {
        Session {
            state: StateDir::new(root),
            measurer,
        }
    }

    /// The archs support and validation draw from: the oracle table's, in oracle mode.
    pub(crate) fn pool(&self) -> Option<Vec<Arch>> {
        self.measurer.oracle_table().map(|t| t.archs.clone())
    }
}
