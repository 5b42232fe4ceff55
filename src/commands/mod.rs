//! One module per subcommand.

mod adapt;
mod bench;
mod embed;
mod export;
mod infer;
mod journal;
mod predict;
mod predictor;
mod probe;
mod profile;
mod remote;
mod run;
mod search;
mod validate;

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
        Command::Search(args) => search::run(args, home),
        Command::Embed(args) => embed::run(args, home),
        Command::Adapt(args) => adapt::run(args, home),
        Command::Predict(args) => predict::run(args, home),
        Command::Validate(args) => validate::run(args, home),
        Command::Run(args) => run::run(args, home),
        Command::Remote(args) => remote::run(args, home),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = std::io::stdout().lock();
            clap_complete::generate(shell, &mut cmd, "edgenas", &mut out);
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
    }
}
