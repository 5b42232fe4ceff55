//! `edgenas probe`

use std::path::Path;

use anyhow::Result;
use edgenas_ondevice::status::{self, EmbeddingStatus, RuntimeStatus};
use edgenas_profiler::{probe, Fingerprint, Sysroot};
use serde_json::json;

use crate::cli::ProbeArgs;
use crate::output::cpu_list;
use crate::state;

pub fn run(args: ProbeArgs, home: Option<&Path>) -> Result<()> {
    let root = Sysroot::new(&args.sysroot);
    if !root.path("/").is_dir() {
        anyhow::bail!("sysroot {} is not a directory", args.sysroot.display());
    }
    let system = probe::read_system(&root);
    let cond = probe::read_conditions(&root);
    // The fingerprint a measurement under the default policy would carry now.
    let live = Fingerprint::new(
        &system,
        &cond,
        edgenas_runtime::tract_backend::RUNTIME,
        edgenas_runtime::Precision::Fp32.name(),
        system.policy.threads,
        system.policy.cpus.clone(),
    );
    let embeddings = match state::home(home) {
        Ok(root) => status::embeddings(&root, &live),
        Err(_) => Vec::new(),
    };
    let runtimes = status::runtimes();
    if args.json {
        let v = json!({ "system": system, "conditions": cond, "fingerprint": live, "embeddings": embeddings, "runtimes": runtimes });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    print_system(&system);
    print_throttle(&cond);
    print_runtimes(&runtimes);
    print_clocks(&system, &cond);
    print_embeddings(&embeddings)?;
    Ok(())
}

fn print_system(system: &edgenas_profiler::System) {
    println!(
        "Board:       {} [{}] ({})",
        system.board_name,
        system.board,
        system.model.as_deref().unwrap_or("no device-tree model")
    );
    if !system.matched_by.is_empty() {
        println!("Matched by:  {}", system.matched_by.join(", "));
    }
    if let Some(note) = &system.note {
        println!("Note:        {note}");
    }
    println!(
        "CPU:         {} ({} logical CPUs)",
        system.cpu_model, system.logical_cpus
    );
    for c in &system.clusters {
        println!(
            "Cluster:     {} CPUs {} (part {}){}",
            c.name,
            cpu_list(&c.cpus),
            c.part,
            if c.big { ", big" } else { "" }
        );
    }
    println!("OS:          {} (kernel {})", system.os, system.kernel);
    println!(
        "Userland:    {}-bit {} binary on a {} kernel, page size {} bytes",
        system.userland_bits,
        system.arch,
        if system.kernel_arch.is_empty() {
            "?"
        } else {
            &system.kernel_arch
        },
        system.page_size
    );
    println!("Memory:      {} MiB", system.memory_mib);
    if let Some(v) = system.firmware.version() {
        println!("Firmware:    {v}");
    }
    if let Some(m) = &system.firmware.power_mode {
        println!("Power mode:  {m}");
    }
    if let Some(g) = &system.firmware.gpu {
        let mhz = |h: Option<u64>| {
            h.map(|h| format!("{} MHz", h / 1_000_000))
                .unwrap_or_else(|| "?".into())
        };
        println!(
            "GPU clock:   {} of {} ({})",
            mhz(g.cur_hz),
            mhz(g.max_hz),
            g.path
        );
    }
}

fn print_throttle(cond: &edgenas_profiler::Conditions) {
    match &cond.throttle {
        Some(t) if t.now.is_empty() && t.since_boot.is_empty() => {
            println!("Throttling:  none (0x{:x})", t.raw)
        }
        Some(t) => println!(
            "Throttling:  now: {}; since boot: {} (0x{:x})",
            if t.now.is_empty() {
                "none".into()
            } else {
                t.now.join(", ")
            },
            if t.since_boot.is_empty() {
                "none".into()
            } else {
                t.since_boot.join(", ")
            },
            t.raw
        ),
        None => {}
    }
}

fn print_runtimes(runtimes: &[RuntimeStatus]) {
    for r in runtimes {
        match r {
            RuntimeStatus::Available {
                name,
                version,
                library,
                accelerators,
            } => {
                let from = library.as_ref().map(|l| format!(" ({l})"));
                let on = if accelerators.is_empty() {
                    String::new()
                } else {
                    let what = if name == "ort" {
                        "providers"
                    } else {
                        "delegates"
                    };
                    format!("; {what}: {}", accelerators.join(", "))
                };
                println!(
                    "Runtime:     {name} {version}{}{on}",
                    from.unwrap_or_default()
                );
            }
            RuntimeStatus::Missing { name, error } => {
                println!("Runtime:     {name} not available: {error}")
            }
        }
    }
}

fn print_clocks(system: &edgenas_profiler::System, cond: &edgenas_profiler::Conditions) {
    println!(
        "Policy:      {} thread(s) on CPUs {}, temperature limit {:.0} C",
        system.policy.threads,
        cpu_list(&system.policy.cpus),
        system.policy.temp_limit_c
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
}

fn print_embeddings(embeddings: &[EmbeddingStatus]) -> Result<()> {
    if embeddings.is_empty() {
        println!("Embedding:   none stored yet");
    }
    for e in embeddings {
        match e {
            EmbeddingStatus::Unreadable { path, error, .. } => {
                println!("Embedding:   {}: unreadable ({error})", path.display())
            }
            EmbeddingStatus::Read {
                path, stale_fields, ..
            } if stale_fields.is_empty() => {
                println!("Embedding:   {}: valid for the live state", path.display())
            }
            EmbeddingStatus::Read {
                path, stale_fields, ..
            } => println!(
                "Embedding:   {}: STALE, the live state differs in {}",
                path.display(),
                serde_json::to_string(stale_fields)?
            ),
        }
    }
    Ok(())
}
