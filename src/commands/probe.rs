//! `edgenas probe`

use anyhow::Result;
use edgenas_profiler::{probe, Sysroot};
use serde_json::json;

use crate::cli::ProbeArgs;
use crate::output::cpu_list;

pub fn run(args: ProbeArgs) -> Result<()> {
    let root = Sysroot::new(&args.sysroot);
    if !root.path("/").is_dir() {
        anyhow::bail!("sysroot {} is not a directory", args.sysroot.display());
    }
    let system = probe::read_system(&root);
    let cond = probe::read_conditions(&root);
    if args.json {
        let v = json!({ "system": system, "conditions": cond });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("Board:       {}", system.board);
    println!(
        "CPU:         {} ({} logical CPUs, {})",
        system.cpu_model, system.logical_cpus, system.arch
    );
    println!("OS:          {} (kernel {})", system.os, system.kernel);
    println!(
        "Memory:      {} MiB, page size {} bytes",
        system.memory_mib, system.page_size
    );
    if cond.policies.is_empty() {
        println!("CPU clocks:  no cpufreq (a VM or a kernel without it): governor unknown");
    }
    for p in &cond.policies {
        let mhz = |k: Option<u64>| {
            k.map(|k| format!("{} MHz", k / 1000))
                .unwrap_or_else(|| "?".into())
        };
        println!(
            "CPU clocks:  {} (CPUs {}): {} at {} of {}",
            p.name,
            cpu_list(&p.cpus),
            p.governor.as_deref().unwrap_or("?"),
            mhz(p.cur_khz),
            mhz(p.max_khz)
        );
    }
    if cond.thermal.is_empty() {
        println!("Thermal:     no readable zones");
    }
    for z in &cond.thermal {
        println!("Thermal:     {} {:.1} C", z.name, z.celsius);
    }
    if let Some(l) = cond.load_1m {
        println!("Load (1m):   {l:.2}");
    }
    Ok(())
}
