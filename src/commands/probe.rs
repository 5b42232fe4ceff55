//! `edgenas probe`

use std::path::Path;

use anyhow::Result;
use edgenas_profiler::{embedding::HardwareEmbedding, probe, Fingerprint, Sysroot};
use serde_json::{json, Value};

use crate::cli::ProbeArgs;
use crate::output::cpu_list;
use crate::state;

/// Each stored hardware embedding, and whether the live state still matches it.
fn embeddings(home: Option<&Path>, live: &Fingerprint) -> Vec<Value> {
    let Ok(dir) = state::home(home).map(|h| h.join("embeddings")) else {
        return Vec::new();
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "embedding"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|p| match HardwareEmbedding::load(p) {
            Ok(e) => {
                let stale = e.stale_fields(live);
                json!({ "path": p, "space": e.space, "valid": stale.is_empty(), "stale_fields": stale })
            }
            Err(err) => json!({ "path": p, "valid": false, "error": err.to_string() }),
        })
        .collect()
}

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
        system.policy.threads,
        system.policy.cpus.clone(),
    );
    let embeddings = embeddings(home, &live);
    let runtimes = runtimes();
    if args.json {
        let v = json!({ "system": system, "conditions": cond, "fingerprint": live, "embeddings": embeddings, "runtimes": runtimes });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
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
    for r in &runtimes {
        println!(
            "Runtime:     {} {}",
            r["name"].as_str().unwrap_or(""),
            match (r["version"].as_str(), r["error"].as_str()) {
                (Some(v), _) => format!(
                    "{v}{}",
                    r["library"]
                        .as_str()
                        .map(|l| format!(" ({l})"))
                        .unwrap_or_default()
                ),
                (None, Some(e)) => format!("not available: {e}"),
                _ => String::new(),
            }
        );
    }
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
    if embeddings.is_empty() {
        println!("Embedding:   none stored yet");
    }
    for e in &embeddings {
        let path = e["path"].as_str().unwrap_or("?");
        match (e["valid"].as_bool(), e.get("error")) {
            (_, Some(err)) => println!(
                "Embedding:   {path}: unreadable ({})",
                err.as_str().unwrap_or("?")
            ),
            (Some(true), _) => println!("Embedding:   {path}: valid for the live state"),
            _ => println!(
                "Embedding:   {path}: STALE, the live state differs in {}",
                e["stale_fields"]
            ),
        }
    }
    Ok(())
}

/// The runtimes this binary can time with here: name, version, the library loaded (TensorFlow
/// Lite), or why one is not available.
fn runtimes() -> Vec<serde_json::Value> {
    [
        edgenas_runtime::Runtime::Tract,
        edgenas_runtime::Runtime::Tflite,
    ]
    .iter()
    .map(|r| match r.identity() {
        Ok((name, version)) => {
            let library = match r {
                edgenas_runtime::Runtime::Tflite => tflite_library(),
                edgenas_runtime::Runtime::Tract => None,
            };
            json!({ "name": name, "version": version, "library": library })
        }
        Err(e) => json!({ "name": r.name(), "error": e.to_string() }),
    })
    .collect()
}

/// The TensorFlow Lite library file in use (once loaded).
fn tflite_library() -> Option<String> {
    #[cfg(feature = "tflite")]
    return edgenas_runtime::tflite::library_path().ok();
    #[cfg(not(feature = "tflite"))]
    None
}
