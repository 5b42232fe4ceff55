//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "edgenas",
    version,
    about = "Hardware-aware NAS on the edge board itself, offline"
)]
pub struct Cli {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Global options", display_order = 900)]
    pub verbose: u8,
    /// No progress and no notes on stderr (results and errors still print).
    #[arg(
        short,
        long,
        global = true,
        help_heading = "Global options",
        display_order = 901
    )]
    pub quiet: bool,
    /// State directory (default: $EDGENAS_HOME, else $XDG_DATA_HOME/edgenas, else ~/.local/share/edgenas).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Global options",
        display_order = 902
    )]
    pub home: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest arguments does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Identify this machine and read its state (governor, clocks, temperatures).
    Probe(ProbeArgs),
    /// Time candidate networks (arch strings, .onnx or .tflite files) under the measurement protocol.
    Profile(ProfileArgs),
    /// Write a candidate network: .onnx (tract, onnxruntime…) or .tflite (TensorFlow Lite) with
    /// seeded random weights, the network that was timed; or a PyTorch module (.py) to train it.
    Export(ExportArgs),
    /// Run a candidate (arch string, .onnx or .tflite file) once on its seeded input and print the output:
    /// checks that this board's runtime computes what another machine's does.
    Infer(InferArgs),
    /// Show or export the measurement journal.
    Journal(JournalArgs),
    /// Benchmarks that print figures.
    Bench(BenchArgs),
    /// The meta-learned latency predictor: meta-train it, evaluate it.
    Predictor(PredictorArgs),
    /// Measure the space's 10 reference archs here: this device's hardware embedding.
    Embed(EmbedArgs),
    /// Adapt the shipped predictor to this device: the embedding plus informative support
    /// archs measured here.
    Adapt(AdaptArgs),
    /// Predicted latency on this device, with a 90 % interval.
    Predict(PredictArgs),
    /// Measure fresh archs and compare them with their predictions: the honest check.
    Validate(ValidateArgs),
    /// Latency-constrained search with this device's predictor; --verify measures the picks.
    Search(SearchArgs),
    /// The whole loop in one command: probe, embed, adapt, search, verify, export.
    Run(RunArgs),
    /// Drive boards over SSH: deploy edgenas, run commands detached, reattach, fetch results.
    Remote(RemoteArgs),
    /// Print a shell completion script: `source <(edgenas completions bash)`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `edgenas man > edgenas.1 && man -l edgenas.1`.
    Man,
}

#[derive(Debug, Args)]
pub struct RemoteArgs {
    #[command(subcommand)]
    pub action: RemoteAction,
}

#[derive(Debug, Subcommand)]
pub enum RemoteAction {
    /// Install the matching ARM build from dist/ on the board (atomically, sha256-checked;
    /// a no-op when the same build is there).
    Deploy {
        #[command(flatten)]
        boards: RemoteBoards,
        /// Install this binary or tarball instead of the matching one from --dist.
        #[arg(long, value_name = "FILE")]
        binary: Option<PathBuf>,
        /// Folder of the release tarballs (edgenas-<version>-<target>.tar.gz).
        #[arg(long, value_name = "DIR", default_value = "dist")]
        dist: PathBuf,
    },
    /// Start `edgenas ARGS` on the board detached from the SSH session, stream its output while
    /// connected, and exit with its status.
    Run {
        #[command(flatten)]
        boards: RemoteBoards,
        /// Start the job and return at once (follow it later with `remote attach`).
        #[arg(long)]
        detach: bool,
        /// The edgenas command to run on the board, after `--`.
        #[arg(last = true, required = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Reconnect to a running or finished job and show the rest of its output.
    Attach {
        #[command(flatten)]
        boards: RemoteBoards,
        /// The job id (default: the board's newest job).
        #[arg(value_name = "JOB")]
        job: Option<String>,
        /// Show the whole log, not only what was not shown here yet.
        #[arg(long)]
        from_start: bool,
    },
    /// List the board's jobs: running, ended (with their status) or lost.
    Jobs {
        #[command(flatten)]
        boards: RemoteBoards,
    },
    /// Copy the board's journal (merged without duplicates), embeddings, adapted predictors,
    /// results and job logs into the local state directory under hosts/<HOST>/.
    Fetch {
        #[command(flatten)]
        boards: RemoteBoards,
    },
}

/// Which boards, and how ssh reaches them.
#[derive(Debug, Args, Clone)]
pub struct RemoteBoards {
    /// The board: [USER@]HOST[:PORT] or an ssh_config alias.
    #[arg(value_name = "HOST", required_unless_present = "hosts")]
    pub host: Option<String>,
    /// A fleet: one host per line (# comments) or an Ansible INI inventory.
    #[arg(long, value_name = "FILE", conflicts_with = "host")]
    pub hosts: Option<PathBuf>,
    /// With --hosts: only this group of the inventory (and its children).
    #[arg(long, value_name = "NAME", requires = "hosts")]
    pub group: Option<String>,
    /// Boards worked on at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub jobs: usize,
    /// Passed to ssh as -o KEY=VALUE (repeatable).
    #[arg(long = "ssh-option", value_name = "KEY=VALUE")]
    pub ssh_options: Vec<String>,
    /// ssh configuration file, passed to ssh as -F FILE.
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Where edgenas is installed on the board (`~/` is the remote user's home).
    #[arg(
        long,
        alias = "dest",
        value_name = "PATH",
        default_value = "~/.local/bin/edgenas"
    )]
    pub remote_bin: String,
    /// The board's state directory (default: the board's own: $EDGENAS_HOME, else
    /// $XDG_DATA_HOME/edgenas, else ~/.local/share/edgenas).
    #[arg(long, value_name = "DIR")]
    pub remote_home: Option<String>,
}

/// Where figures come from (this device, or an oracle table) and how they are measured.
#[derive(Debug, Args, Clone)]
pub struct DeviceArgs {
    #[command(flatten)]
    pub machine: MachineArgs,
    /// Interleaved measurement: rounds at least.
    #[arg(long, default_value_t = 10)]
    pub min_rounds: usize,
    /// Interleaved measurement: rounds at most (bounds time and record size).
    #[arg(long, default_value_t = 400)]
    pub max_rounds: usize,
    /// Interleaved measurement: each arch's share of a round, in ms (at least one run)
    /// [default: 5 for NB201, 15 for FBNet and OFA].
    #[arg(long, value_name = "MS")]
    pub burst_ms: Option<f64>,
    /// Oracle mode: read latencies from this table instead of measuring (never journaled).
    #[arg(long, value_name = "FILE.csv", requires = "oracle_device")]
    pub oracle: Option<PathBuf>,
    /// Oracle mode: the table's latency column (with or without _ms).
    #[arg(long, value_name = "COLUMN", requires = "oracle")]
    pub oracle_device: Option<String>,
    /// Seed of the weights and inputs of measured networks.
    #[arg(long, default_value_t = 0)]
    pub weight_seed: u64,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Search space: nb201, fbnet or ofa.
    #[arg(long, default_value = "nb201")]
    pub space: String,
    /// Measure again even when a valid embedding is stored or journaled.
    #[arg(long)]
    pub force: bool,
    /// Draw this device's embedding against the meta-training devices' as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// The latency table the meta-training devices' embeddings are read from (default: the
    /// shipped model's table in $EDGENAS_SHARED/data or ../shared/data, where there is one).
    #[arg(long, value_name = "FILE.csv", requires = "plot")]
    pub plot_data: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AdaptArgs {
    /// Search space: nb201, fbnet or ofa.
    #[arg(long, default_value = "nb201")]
    pub space: String,
    /// Support archs measured beside the 10 references.
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// Choose the support archs at random instead of by the predictor's uncertainty.
    #[arg(long)]
    pub random: bool,
    /// Seed of the support choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Time the space's kernels (FBNet's layers, OFA's blocks), one cost figure of the
    /// predictor: auto times them with tract, TensorFlow Lite and ONNX Runtime; through a
    /// timing program (--exec), which starts once per network and round, only where the
    /// journal holds them all
    #[arg(long, default_value = "auto", value_parser = parse_kernels, value_name = "auto|on|off")]
    pub kernels: edgenas_ondevice::measure::KernelMode,
    /// Measure the support archs and the kernels again even where the journal has them (through
    /// a timing program, the kernels only with --kernels on): after a sitting in which the
    /// machine was busy or unsteady (with `embed --force` for the references)
    #[arg(long)]
    pub force: bool,
    /// Meta-trained predictor file (default: the one shipped in the binary).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Arch strings of one space.
    #[arg(required = true, value_name = "ARCH")]
    pub archs: Vec<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Search space: nb201, fbnet or ofa.
    #[arg(long, default_value = "nb201")]
    pub space: String,
    /// Fresh random archs to measure (neither references nor support).
    #[arg(long, default_value_t = 100)]
    pub archs: usize,
    /// Seed of the arch draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Draw predicted against measured latency, with the intervals and the ±10 % band, as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Measure the same archs a second time, in a fresh sitting, and report how well the two
    /// agree: the ceiling any predictor's figures can reach here (Spearman, MAPE, ±10 %).
    #[arg(long)]
    pub retest: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub export: crate::tables::ExportFiles,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Search space: nb201, fbnet or ofa.
    #[arg(long, default_value = "nb201")]
    pub space: String,
    /// Latency budget in ms; without one, three budgets are proposed from the predicted range.
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub budget_ms: Option<f64>,
    /// NB201 accuracy: cifar10, cifar100 or imagenet16 (NATS-Bench, compiled in).
    #[arg(long, default_value = "cifar10")]
    pub dataset: String,
    /// Support archs measured beside the 10 references.
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// Picks to verify by measurement.
    #[arg(long, default_value_t = 3)]
    pub verify: usize,
    /// Time the space's kernels (FBNet's layers, OFA's blocks), one cost figure of the
    /// predictor: auto times them with tract, TensorFlow Lite and ONNX Runtime; through a
    /// timing program (--exec), which starts once per network and round, only where the
    /// journal holds them all
    #[arg(long, default_value = "auto", value_parser = parse_kernels, value_name = "auto|on|off")]
    pub kernels: edgenas_ondevice::measure::KernelMode,
    /// Take at most N figures of networks anew (references, support and verification
    /// together; reused ones are free, kernels counted apart): verification stops when they are
    /// spent, and says so.
    #[arg(long, value_name = "N")]
    pub max_measurements: Option<usize>,
    /// Where to write the winner, as .onnx, or .tflite under --runtime tflite (default: runs/ in
    /// the state directory).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Draw the Pareto front with the verified picks as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Objective evaluations of the evolutionary search (FBNet, OFA).
    #[arg(long, default_value_t = 40)]
    pub evaluations: usize,
    /// Seed of the support choice and of the search.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ObjectiveArg {
    /// NATS-Bench test accuracy compiled into the binary (nb201; --dataset picks the dataset).
    Nats,
    /// Accuracy from a table (--accuracy FILE.csv --accuracy-column NAME).
    Accuracy,
    /// The NASWOT training-free proxy, computed here with tract.
    Naswot,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Search space: nb201, fbnet or ofa.
    #[arg(long, default_value = "nb201")]
    pub space: String,
    /// Latency budget in milliseconds (predicted; measured with --verify).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub budget_ms: f64,
    /// NB201 accuracy: cifar10, cifar100 or imagenet16 (NATS-Bench, compiled in).
    #[arg(long, default_value = "cifar10")]
    pub dataset: String,
    /// Measure the best picks until this many fit the budget by measurement (0: predict only).
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub verify: usize,
    /// Take at most N figures anew while verifying (reused ones are free): verification stops
    /// when they are spent, and says so.
    #[arg(long, value_name = "N")]
    pub max_measurements: Option<usize>,
    /// Export the winner (.onnx; .tflite under --runtime tflite or with that extension).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Draw the Pareto front (predicted and measured points) as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Table mode (offline study): adapt to a device column of this latency table instead of
    /// this device's stored predictor.
    #[arg(long, value_name = "FILE.csv", requires = "device_column")]
    pub data: Option<PathBuf>,
    /// Table mode: the device (latency column without _ms) to adapt the predictor to.
    #[arg(long = "device", value_name = "COLUMN", requires = "data")]
    pub device_column: Option<String>,
    /// Table mode: support measurements beside the 10 references.
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// Table mode: predictor model file (default: the one shipped in the binary).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// What to maximise (default: NATS-Bench accuracy for nb201, NASWOT otherwise).
    #[arg(long, value_enum)]
    pub objective: Option<ObjectiveArg>,
    /// Accuracy table (CSV with the space's arch columns) for --objective accuracy.
    #[arg(long, value_name = "FILE.csv")]
    pub accuracy: Option<PathBuf>,
    /// Column of --accuracy to maximise.
    #[arg(long, default_value = "cifar10_test_acc")]
    pub accuracy_column: String,
    /// Random inputs per NASWOT score.
    #[arg(long, default_value_t = 8)]
    pub naswot_samples: usize,
    /// Objective evaluations of the evolutionary search.
    #[arg(long, default_value_t = 100)]
    pub evaluations: usize,
    /// Population of the evolutionary search.
    #[arg(long, default_value_t = 20)]
    pub population: usize,
    /// Tournament size of the evolutionary search.
    #[arg(long, default_value_t = 5)]
    pub tournament: usize,
    /// Seed of the search.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Candidates to list.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub export: crate::tables::ExportFiles,
}

#[derive(Debug, Args)]
pub struct PredictorArgs {
    #[command(subcommand)]
    pub command: PredictorCommand,
}

#[derive(Debug, Subcommand)]
pub enum PredictorCommand {
    /// Meta-train a predictor from a latency table (HELP's Meta-SGD, seeded, reproducible).
    MetaTrain(MetaTrainArgs),
    /// Evaluate a predictor on devices of a latency table under HELP's protocol.
    Eval(PredictorEvalArgs),
    /// How a predictor was trained and how it scored on its validation devices (JSON).
    Info {
        /// Search space: nb201, fbnet or ofa.
        #[arg(long, default_value = "nb201")]
        space: String,
        /// Model file (default: the one shipped in the binary).
        #[arg(long, value_name = "MODEL")]
        model: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SelectArg {
    Random,
    Informative,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LossArg {
    /// Mean squared error on normalised latency (HELP).
    Mse,
    /// MSE plus a pairwise ranking loss.
    Rank,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AdaptArg {
    /// HELP's inner gradient steps.
    Sgd,
    /// Inner steps, then a closed-form ridge refit of the output layer.
    Ridge,
    /// Inner steps, then a joint ridge refit of the output layer and a linear term over the
    /// arch encoding.
    Residual,
}

#[derive(Debug, Args)]
pub struct MetaTrainArgs {
    /// Search space: nb201, fbnet or ofa.
    #[arg(long)]
    pub space: String,
    /// Latency table (CSV with the space's arch columns and <device>_ms columns).
    #[arg(long, value_name = "FILE.csv")]
    pub data: PathBuf,
    /// Meta-training devices (column names without _ms), comma-separated.
    #[arg(long, value_name = "DEV,...")]
    pub train: String,
    /// Validation devices for model selection, comma-separated.
    #[arg(long, value_name = "DEV,...")]
    pub valid: String,
    /// Seed of the random choices (archs, sampling).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Outer (meta) iterations.
    #[arg(long, default_value_t = 3000)]
    pub iterations: usize,
    /// Meta-training loss: mse, or rank (MSE plus a ranking term, --rank-weight).
    #[arg(long, value_enum, default_value_t = LossArg::Mse)]
    pub loss: LossArg,
    /// Weight of the ranking term with --loss rank.
    #[arg(long, default_value_t = 0.1)]
    pub rank_weight: f32,
    /// Share of tasks that are random mixtures of the training devices.
    #[arg(long, default_value_t = 0.5)]
    pub mixture: f32,
    /// Outer learning rate (Adam).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Where to write the model.
    #[arg(short, long, value_name = "MODEL")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct PredictorEvalArgs {
    /// Search space: nb201, fbnet or ofa.
    #[arg(long)]
    pub space: String,
    /// Latency table (CSV with the space's arch columns and <device>_ms columns).
    #[arg(long, value_name = "FILE.csv")]
    pub data: PathBuf,
    /// Devices to evaluate on (column names without _ms), comma-separated.
    #[arg(long, value_name = "DEV,...")]
    pub devices: String,
    /// Support measurements beside the 10 references.
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// Model file (default: the one shipped in the binary).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Support draws to average over.
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// Override the meta-learned model's adaptation (for ablations; with --meta-only).
    #[arg(long, value_enum)]
    pub adaptation: Option<AdaptArg>,
    /// Shrinkage of the closed-form output-layer refit with --adaptation ridge.
    #[arg(long, default_value_t = 1.0)]
    pub ridge_lambda: f32,
    /// Override the weight of the network against the additive model (1: network alone,
    /// 0: additive model alone; for ablations; with --meta-only).
    #[arg(long)]
    pub blend: Option<f32>,
    /// Shrinkage of the linear term with --adaptation residual.
    #[arg(long, default_value_t = 0.1)]
    pub linear_lambda: f32,
    /// Evaluate the shipped meta-learned model alone (HELP's encoding, no executed-network
    /// costs), as shipped before the on-device model; --adaptation and --blend apply to it.
    #[arg(long)]
    pub meta_only: bool,
    /// How the support archs are chosen: at random (HELP's protocol) or by the predictor's
    /// uncertainty (what `adapt` does on a device).
    #[arg(long, value_enum, default_value_t = SelectArg::Random)]
    pub select: SelectArg,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Read /proc, /sys and /etc under this root (fixture trees of real boards).
    #[arg(long, value_name = "DIR", default_value = "/", env = "EDGENAS_SYSROOT")]
    pub sysroot: PathBuf,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ProtocolArgs {
    /// Exactly N timed runs, whatever the time and CI rules say (hyperfine's --runs,
    /// benchmark_model's --num_runs): --min-runs and --max-runs both N.
    #[arg(long, value_name = "N", visible_alias = "num-runs", alias = "num_runs", conflicts_with_all = ["min_runs", "max_runs"])]
    pub runs: Option<usize>,
    /// Warm-up runs (at least; warm-up also lasts at least 0.5 s) [default: 5; 2 in the
    /// loop's NB201 rounds].
    #[arg(long)]
    pub warmup_runs: Option<usize>,
    /// Minimum timed runs.
    #[arg(long, default_value_t = 20)]
    pub min_runs: usize,
    /// Minimum sampling time in seconds, per arch [default: 1 one at a time (profile); in the
    /// loop's interleaved rounds 0.02 for NB201, 0.05 for FBNet and OFA].
    #[arg(long)]
    pub min_time: Option<f64>,
    /// Sampling stops at this many seconds per arch even if the CI target is not reached
    /// [default: 10 one at a time (profile); in the loop's interleaved rounds 0.2 for NB201,
    /// 0.5 for FBNet and OFA].
    #[arg(long)]
    pub max_time: Option<f64>,
    /// Sampling stops at this many timed runs, before any other rule (bounds the record: every
    /// run's time is stored).
    #[arg(long, default_value_t = edgenas_profiler::protocol::DEFAULT_MAX_RUNS, value_name = "N")]
    pub max_runs: usize,
    /// Warm-up time in seconds.
    #[arg(long, default_value_t = 0.5)]
    pub warmup_time: f64,
    /// Stop early when the 95% CI of the median is within this fraction (0.01 = 1%).
    #[arg(long, default_value_t = 0.01)]
    pub target_ci: f64,
    /// Flag a sample whose coefficient of variation exceeds this fraction.
    #[arg(long, default_value_t = 0.05)]
    pub max_cv: f64,
}

/// The runtime a network is timed with, and what it runs on: the runtime is part of the
/// hardware, so search with the one the network will be deployed with.
#[derive(Debug, Args, Clone)]
pub struct RuntimeArgs {
    /// The runtime: tract (built in), tflite (TensorFlow Lite's C library: beside the binary,
    /// $EDGENAS_TFLITE_LIB or the loader's path), ort (ONNX Runtime's: beside the binary,
    /// $EDGENAS_ORT_LIB or the loader's path) or exec (a timing program, --exec).
    #[arg(long = "runtime", default_value = "tract", value_parser = parse_runtime_name, value_name = "tract|tflite|ort|exec")]
    pub name: String,
    /// ONNX Runtime's execution provider (--runtime ort): cpu (default), xnnpack, cuda or
    /// tensorrt; the loaded library must have it (`edgenas probe` lists them).
    #[arg(long, value_parser = parse_ep, value_name = "cpu|xnnpack|cuda|tensorrt")]
    pub ep: Option<edgenas_runtime::OrtProvider>,
    /// TensorFlow Lite's delegate (--runtime tflite): xnnpack (default, as benchmark_model and
    /// LiteRT run) or none (TensorFlow Lite's built-in kernels).
    #[arg(long, value_parser = parse_delegate, value_name = "xnnpack|none")]
    pub tflite_delegate: Option<edgenas_runtime::TfliteDelegate>,
    /// A timing program as the runtime (implies --runtime exec), run without a shell once per
    /// round: e.g. 'trtexec --onnx={model} --fp16'. {model} is the file edgenas writes. It
    /// reports latencies as trtexec or benchmark_model do, one `edgenas-latency-ms: X` line per
    /// run, or {"latencies_ms": [...]}; its start-up is never counted.
    #[arg(long, value_name = "'PROGRAM ARGS {model}'")]
    pub exec: Option<String>,
    /// The format of the file --exec's program reads: onnx (default), tflite or pytorch.
    #[arg(long, value_name = "onnx|tflite|pytorch")]
    pub exec_format: Option<String>,
    /// The precision the network is deployed at, part of the hardware: fp32 (default), int8
    /// (weights per channel, activations calibrated on the seeded input; QDQ ONNX for tract,
    /// ONNX Runtime and a timing program) or fp16 (a timing program converting the fp32 file,
    /// as `trtexec --fp16` does). A model file runs as it is written.
    #[arg(long, default_value = "fp32", value_parser = parse_precision, value_name = "fp32|fp16|int8")]
    pub precision: edgenas_runtime::Precision,
}

/// The machine a measurement runs on and the protocol it follows (profile and the loop).
#[derive(Debug, Args, Clone)]
pub struct MachineArgs {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Inference threads (default: the board policy's, e.g. the big cluster's size; 1 on unknown boards).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Pin measurements to these CPUs, e.g. 4-7 (default: the board policy's big cores; `all` to not pin).
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,
    /// Seconds to wait for a hot or throttled board to recover before refusing.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub cooldown: f64,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    /// Record measurements even when pre-flight finds the machine unfit (the reason is kept as a flag).
    #[arg(long)]
    pub allow_unstable: bool,
    /// Allow more inference threads than the CPUs they run on (they time-share; the record is
    /// flagged `oversubscribed`).
    #[arg(long)]
    pub oversubscribe: bool,
    /// Read /proc, /sys and /etc under this root (board identity, firmware and pre-flight state).
    #[arg(long, value_name = "DIR", default_value = "/", env = "EDGENAS_SYSROOT")]
    pub sysroot: PathBuf,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Arch strings (NB201 `|op~0|+|...|`) or model files (.onnx for tract, .tflite for tflite).
    #[arg(required = true, value_name = "ARCH|FILE")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub machine: MachineArgs,
    /// Skip targets the journal already holds under the same conditions (resume an interrupted
    /// run); their records are reported with `resumed: true`.
    #[arg(long)]
    pub resume: bool,
    /// When a target cannot be loaded or measured, measure the others and report the failures
    /// at the end (exit status 1).
    #[arg(long)]
    pub keep_going: bool,
    /// Seed of the weights and the input tensor.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Journal file (default: measurements.journal in the state directory).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Print the results as JSON on stdout: {"results": [...], "failures": [...]} (README).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub export: crate::tables::ExportFiles,
}

#[derive(Debug, Args)]
pub struct InferArgs {
    /// An arch string (NB201, FBNet, OFA), an .onnx file (tract) or a .tflite file (tflite).
    pub target: String,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Inference threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Seed of the weights (arch strings) and of the input.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The arch string (NB201, FBNet or OFA).
    pub arch: String,
    /// The file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// onnx (tract, onnxruntime), tflite (TensorFlow Lite) or pytorch (a module to train, no
    /// weights); default: from the output's extension (.onnx, .tflite, .py), else onnx.
    #[arg(long, value_name = "onnx|tflite|pytorch")]
    pub format: Option<String>,
    /// Seed of the weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The precision to write: fp32 (default) or int8 (ONNX in QDQ form, the full-integer
    /// .tflite).
    #[arg(long, default_value = "fp32", value_parser = parse_precision, value_name = "fp32|int8")]
    pub precision: edgenas_runtime::Precision,
    /// Who reads an int8 .onnx: onnxruntime (default: unsigned activations, int32 biases, as
    /// quantize_static writes) or tensorrt (signed symmetric activations, float biases, as
    /// trtexec --int8 takes them; what --exec programs are given).
    #[arg(long, default_value = "onnxruntime", value_parser = parse_qdq, value_name = "onnxruntime|tensorrt")]
    pub qdq: edgenas_runtime::QdqStyle,
}

#[derive(Debug, Args)]
pub struct JournalArgs {
    #[command(subcommand)]
    pub action: JournalAction,
    /// Journal file (default: measurements.journal in the state directory).
    #[arg(long, global = true, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// The journal fetched from this board (`edgenas remote fetch HOST`).
    #[arg(long, global = true, value_name = "HOST", conflicts_with = "journal")]
    pub host: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum JournalAction {
    /// List the measurements.
    Show {
        /// Print the measurements as JSON: {"results": [...]}, the shape of `profile --json`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        export: crate::tables::ExportFiles,
    },
    /// Export every measurement with its full conditions, one row per measurement.
    Export {
        /// csv, json or markdown.
        #[arg(long, default_value = "csv", value_parser = ["csv", "json", "markdown"])]
        format: String,
        /// Same as --format csv (kept for scripts written against earlier versions).
        #[arg(long, hide = true)]
        csv: bool,
        /// Write to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Verify every record's checksum; list damaged stretches and a torn tail (read-only;
    /// exits non-zero when there is damage).
    Check,
    /// Rewrite the journal with every valid record, before and after any damage; the original
    /// is kept beside it as <name>.damaged-<unix time>.
    Repair,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub bench: BenchKind,
}

#[derive(Debug, Subcommand)]
pub enum BenchKind {
    /// The protocol's median against a bare loop of the same runnable.
    Protocol {
        /// The NB201 arch to time.
        #[arg(
            long,
            default_value = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
        )]
        arch: String,
        /// Inference threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Minimum bare-loop runs in each round (topped up after the protocol if it ran fewer).
        #[arg(long, default_value_t = 100)]
        loop_runs: usize,
        /// Rounds (each: the protocol, with a bare run paired to each of its runs); the median ratio is the figure.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Adaptation and prediction speed of the shipped predictor (1 thread).
    Predictor {
        /// Search space: nb201, fbnet or ofa.
        #[arg(long, default_value = "nb201")]
        space: String,
        /// Latency table to adapt from.
        #[arg(long, value_name = "FILE.csv")]
        data: PathBuf,
        /// The latency table's device column (without _ms).
        #[arg(long, default_value = "raspi4")]
        device: String,
        /// Predictor model file (default: the one shipped in the binary).
        #[arg(long, value_name = "MODEL")]
        model: Option<PathBuf>,
        /// Repetitions; the median is reported.
        #[arg(long, default_value_t = 20)]
        repeats: usize,
    },
    /// Our latency (tract, or each of --runtimes) of seeded table rows against a table column
    /// (checks a space's skeleton: a wrong one ranks archs differently from the published
    /// figures), and the runtimes against each other.
    Table {
        /// Search space: nb201, fbnet or ofa.
        #[arg(long, default_value = "fbnet")]
        space: String,
        /// Latency table (CSV with the space's arch columns and <device>_ms columns).
        #[arg(long, value_name = "FILE.csv")]
        data: PathBuf,
        /// The latency table's device column (without _ms).
        #[arg(long, default_value = "gold_6226")]
        device: String,
        /// How many seeded archs to measure.
        #[arg(long, default_value_t = 50)]
        archs: usize,
        /// Seed of the random choices (archs, sampling).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Sampling time per arch in seconds (the protocol's max time).
        #[arg(long, default_value_t = 2.0)]
        max_time: f64,
        /// Runtimes to time each arch with, comma-separated, each optionally with its delegate
        /// or provider (tract,tflite+none,tflite,ort,ort+xnnpack): each arch is timed by all of
        /// them back to back, the order alternating.
        #[arg(long, default_value = "tract", value_delimiter = ',', value_parser = parse_runtime)]
        runtimes: Vec<edgenas_runtime::Runtime>,
    },
    /// The same seeded archs on every runtime available here (tract, TensorFlow Lite with and
    /// without XNNPACK, ONNX Runtime on each provider it has), or on --runtimes: each runtime's
    /// median latency and its ratio to the fastest, and the rank agreement of each pair. The
    /// runtime is part of the hardware: search with the one the network is deployed with.
    Runtimes {
        /// Search space: nb201, fbnet or ofa.
        #[arg(long, default_value = "nb201")]
        space: String,
        /// How many seeded archs to time.
        #[arg(long, default_value_t = 40)]
        archs: usize,
        /// Seed of the archs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Sampling time per arch and runtime in seconds (the protocol's max time).
        #[arg(long, default_value_t = 1.0)]
        max_time: f64,
        /// Runtimes to compare, comma-separated (default: every one available here).
        #[arg(long, value_delimiter = ',', value_parser = parse_runtime)]
        runtimes: Vec<edgenas_runtime::Runtime>,
        /// Precisions to time each runtime at, comma-separated (each runtime at those it runs).
        #[arg(long, value_delimiter = ',', default_value = "fp32", value_parser = parse_precision)]
        precisions: Vec<edgenas_runtime::Precision>,
        /// A timing program to compare as well ('PROGRAM ARGS {model}', as --exec elsewhere).
        #[arg(long, value_name = "'PROGRAM ARGS {model}'")]
        exec: Option<String>,
        /// The format of the file --exec's program reads: onnx (default), tflite or pytorch.
        #[arg(long, value_name = "onnx|tflite|pytorch")]
        exec_format: Option<String>,
        /// Print the figures as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Test-retest of the measurement protocol: N archs measured twice with interleaved rounds
    /// and twice with the one-arch-at-a-time protocol, in one run.
    Reproducibility {
        /// Search space: nb201, fbnet or ofa.
        #[arg(long, default_value = "nb201")]
        space: String,
        /// How many seeded archs to measure.
        #[arg(long, default_value_t = 40)]
        archs: usize,
        /// Inference threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Seed of the random choices (archs, sampling).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Skip the one-arch-at-a-time protocol (half the time).
        #[arg(long)]
        rounds_only: bool,
        /// Interleaved rounds at each of these sampling time bounds per arch, MIN:MAX seconds,
        /// then optionally :BURST_MS (each arch's share of a round) and :WARMUP_RUNS; 1:10:15:5
        /// is the protocol before issue 21, 0.05:0.5:15:5 the loop's default for FBNet and OFA,
        /// 0.02:0.2:5:2 its default for NB201 (README, "the measurement protocol").
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "1:10:15:5,0.05:0.5:15:5,0.02:0.2:5:2",
            value_name = "MIN:MAX,..."
        )]
        time_ladder: Vec<String>,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// How often a 90 % interval whose width is estimated from the budget's 20 figures can cover
    /// 85-95 % of a validation, run by run: an adapted predictor's own model taken as the truth,
    /// its figures drawn anew and refitted as `adapt` does, against intervals of the very
    /// spread the draws are made with (no measurement).
    Coverage {
        /// The adapted predictor (the file `adapt` writes; `adapt --json` says its path).
        #[arg(long, value_name = "FILE")]
        predictor: PathBuf,
        /// Validation archs per replicate (as `validate --archs`).
        #[arg(long, default_value_t = 60)]
        archs: usize,
        /// Replicates drawn and refitted.
        #[arg(long, default_value_t = 200)]
        replicates: usize,
        /// Random archs drawn beside the 20 figures in each refit: what a larger budget
        /// would buy (0: the budget's 20).
        #[arg(long, default_value_t = 0)]
        extra: usize,
        /// Seed of the archs and the draws.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Speed of the on-device loop's computations: adapt, predicting the whole NB201 space
    /// with uncertainty, exact search (oracle figures, no measurement).
    Loop {
        /// Latency table (CSV with the space's arch columns and <device>_ms columns).
        #[arg(long, value_name = "FILE.csv")]
        data: PathBuf,
        /// The latency table's device column (without _ms).
        #[arg(long, default_value = "raspi4")]
        device: String,
        /// Repetitions; the median is reported.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// Opening a large measurement journal: time and memory for read-only and writer opens
    /// and for decoding every record once (a synthetic journal in a temporary folder).
    Journal {
        /// Records in the synthetic journal.
        #[arg(long, default_value_t = 100_000)]
        records: usize,
        /// Timed runs stored per record (an interleaved record holds 10 to 400).
        #[arg(long, default_value_t = 100)]
        samples: usize,
    },
    /// Time for evolutionary search to find archs within a predicted-latency budget.
    Search {
        /// Search space: nb201, fbnet or ofa.
        #[arg(long, default_value = "fbnet")]
        space: String,
        /// Latency table (CSV with the space's arch columns and <device>_ms columns).
        #[arg(long, value_name = "FILE.csv")]
        data: PathBuf,
        /// The latency table's device column (without _ms).
        #[arg(long, default_value = "gold_6226")]
        device: String,
        /// Budget as a quantile of the space's predicted latencies (0.2 = faster than 80%).
        #[arg(long, default_value_t = 0.2)]
        budget_quantile: f64,
        /// Objective evaluations of the evolutionary search.
        #[arg(long, default_value_t = 30)]
        evaluations: usize,
        /// Predictor model file (default: the one shipped in the binary).
        #[arg(long, value_name = "MODEL")]
        model: Option<PathBuf>,
    },
}

/// `--runtime`: the names [`edgenas_runtime::Runtime`] knows.
fn parse_runtime(s: &str) -> Result<edgenas_runtime::Runtime, String> {
    s.parse()
        .map_err(|e: edgenas_runtime::RuntimeError| e.to_string())
}

/// `--qdq`: onnxruntime or tensorrt.
fn parse_qdq(s: &str) -> Result<edgenas_runtime::QdqStyle, String> {
    s.parse()
        .map_err(|e: edgenas_runtime::RuntimeError| e.to_string())
}

/// `--kernels`: auto, on or off.
fn parse_kernels(s: &str) -> Result<edgenas_ondevice::measure::KernelMode, String> {
    s.parse()
        .map_err(|e: edgenas_ondevice::LoopError| e.to_string())
}

/// `--precision`: fp32, fp16 or int8.
fn parse_precision(s: &str) -> Result<edgenas_runtime::Precision, String> {
    s.parse()
        .map_err(|e: edgenas_runtime::RuntimeError| e.to_string())
}

/// `--runtime`: a runtime [`edgenas_runtime::Runtime`] knows, or `exec` (built with `--exec`).
fn parse_runtime_name(s: &str) -> Result<String, String> {
    if s == "exec" {
        return Ok(s.to_string());
    }
    parse_runtime(s).map(|_| s.to_string())
}

/// `--ep`: ONNX Runtime's execution providers.
fn parse_ep(s: &str) -> Result<edgenas_runtime::OrtProvider, String> {
    s.parse()
        .map_err(|e: edgenas_runtime::RuntimeError| e.to_string())
}

/// `--tflite-delegate`.
fn parse_delegate(s: &str) -> Result<edgenas_runtime::TfliteDelegate, String> {
    s.parse()
        .map_err(|e: edgenas_runtime::RuntimeError| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every flag and argument of every command says what it is (and clap adds its default).
    #[test]
    fn every_argument_of_every_command_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if ["help", "version"].contains(&id) || arg.is_hide_set() {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "edgenas", &mut missing);
        assert!(missing.is_empty(), "undescribed: {missing:#?}");
    }

    #[test]
    fn global_options_are_grouped_apart() {
        let cmd = super::Cli::command();
        for id in ["verbose", "quiet", "home"] {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id).unwrap();
            assert_eq!(arg.get_help_heading(), Some("Global options"), "{id}");
        }
    }
}
