//! One module per subcommand.

mod bench;
mod export;
mod infer;
mod journal;
mod predictor;
mod probe;
mod profile;
mod search;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> Result<()> {
    let home = cli.home.as_deref();
    match cli.command {
        Command::Probe(args) => probe::run(args, home),
        Command::Profile(args) => profile::run(args, home),
        Command::Export(args) => export::run(args),
        Command::Infer(args) => infer::run(args),
        Command::Journal(args) => journal::run(args, home),
        Command::Bench(args) => bench::run(args),
        Command::Predictor(args) => predictor::run(args),
        Command::Search(args) => search::run(args),
    }
}
