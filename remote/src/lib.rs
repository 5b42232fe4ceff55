//! Driving edge boards over SSH with the system `ssh`, so that `~/.ssh/config`, agents, jump
//! hosts, ControlMaster and `known_hosts` behave as users expect.
//!
//! - [`host`]: `[USER@]HOST[:PORT]` specs, plain host lists and Ansible INI inventories;
//! - [`quote`]: quoting for the board's POSIX shell (every argument arrives as one literal);
//! - [`ssh`]: the `ssh` command line and its failures, classified into one-line errors;
//! - [`scripts`]: the small POSIX shell programs run on the board (probe, jobs, fetch);
//! - [`deploy`]: which release build a board runs, found and checked before installing;
//! - [`jobs`]: jobs on a board: listed, started, their logs followed from an offset;
//! - [`fleet`]: bounded parallel fan-out where one failing board never stops the others.
//!
//! Everything goes through `ssh` itself, file transfers included (streamed over stdin/stdout):
//! one program, one set of options, and no difference between scp's legacy and SFTP modes in
//! how remote paths are interpreted.
//!
//! Must not: measure or run the loop itself (the board's own edgenas does), or paste an
//! argument into a shell string unquoted.

pub mod deploy;
pub mod fleet;
pub mod host;
pub mod jobs;
pub mod quote;
pub mod scripts;
pub mod ssh;

mod error;

pub use error::RemoteError;
pub use host::{parse_inventory, Host};
pub use ssh::Ssh;
