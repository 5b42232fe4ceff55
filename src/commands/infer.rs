//! `edgenas infer TARGET`: one inference on the seeded input, output printed.

use std::path::Path;

use anyhow::{Context, Result};
use edgenas_nas::Arch;
use edgenas_runtime::{Model, ModelOptions};
use serde_json::json;

use crate::cli::InferArgs;

pub fn run(args: InferArgs) -> Result<()> {
    if args.threads == 0 {
        anyhow::bail!("--threads must be at least 1");
    }
    let runtime = crate::session::runtime(&args.runtime)?;
    let opts = ModelOptions {
        runtime,
        threads: args.threads,
        seed: args.seed,
        precision: args.runtime.precision,
    };
    let mut model = if args.target.ends_with(".onnx") || args.target.ends_with(".tflite") {
        Model::from_file(Path::new(&args.target), opts)?
    } else {
        let arch = Arch::parse(&args.target)?;
        Model::from_network(&arch.build(), opts)?
    };
    let (shape, output) = model.run().context("running the model")?;
    if args.json {
        println!(
            "{}",
            json!({"target": args.target, "runtime": runtime.name(), "accelerator": runtime.accelerator(), "seed": args.seed, "shape": shape, "output": output})
        );
    } else {
        let head: Vec<String> = output.iter().take(8).map(|v| format!("{v:.6}")).collect();
        println!(
            "output {shape:?}: {}{}",
            head.join(" "),
            if output.len() > 8 { " ..." } else { "" }
        );
    }
    Ok(())
}
