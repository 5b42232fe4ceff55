//! `edgenas probe --sysroot` over fixture trees of real boards, and the firmware-aware
//! pre-flight of `edgenas profile`.

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::Value;

fn fixture(board: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/boards")
        .join(board)
        .display()
        .to_string()
}

fn probe(board: &str) -> Value {
    let home = TempDir::new("probe-board");
    json(&ok(
        home.path(),
        &["probe", "--sysroot", &fixture(board), "--json"],
    ))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// `profile ALL_SKIP --sysroot ROOT EXTRA... QUICK...`: a short run against a fixture board.
fn profile_on<'a>(root: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["profile", ALL_SKIP, "--sysroot", root];
    args.extend_from_slice(extra);
    args.extend_from_slice(QUICK_STRICT);
    args
}

#[test]
fn every_fixture_board_is_identified() {
    let expected = [
        ("rpi3", "rpi3", 4),
        ("rpi4", "rpi4", 4),
        ("rpi4-armhf", "rpi4", 4),
        ("rpi5", "rpi5", 4),
        ("jetson-nano", "jetson-nano", 4),
        ("jetson-xavier-nx", "jetson-xavier-nx", 6),
        ("jetson-orin-nano", "jetson-orin-nano", 6),
        ("jetson-agx-orin", "jetson-agx-orin", 12),
        ("rk3588", "rk3588", 8),
        ("unknown-x86", "generic-linux", 2),
    ];
    for (dir, id, cpus) in expected {
        let v = probe(dir);
        let s = &v["system"];
        assert_eq!(s["board"], id, "{dir}: {s}");
        assert_eq!(s["logical_cpus"], cpus, "{dir}");
        // From each board's own meminfo (a Pi 3 has 1 GiB; tests/surface.rs checks a few).
        assert!(s["memory_mib"].as_u64().unwrap() > 512, "{dir}");
        assert!(!s["kernel"].as_str().unwrap().is_empty(), "{dir}");
        assert!(!s["cpu_model"].as_str().unwrap().is_empty(), "{dir}");
        // Every fixture has cpufreq and at least one plausible thermal zone.
        assert!(
            !v["conditions"]["policies"].as_array().unwrap().is_empty(),
            "{dir}"
        );
        assert!(
            !v["conditions"]["thermal"].as_array().unwrap().is_empty(),
            "{dir}"
        );
        if id == "generic-linux" {
            assert!(s["note"].as_str().unwrap().contains("generic"), "{dir}");
        } else {
            assert!(s["note"].is_null(), "{dir}");
            assert!(!s["matched_by"].as_array().unwrap().is_empty(), "{dir}");
        }
    }
}

#[test]
fn raspberry_pi_facts() {
    let v = probe("rpi4");
    assert_eq!(v["system"]["model"], "Raspberry Pi 4 Model B Rev 1.5");
    assert_eq!(
        strings(&v["system"]["identity"]["compatible"]),
        ["raspberrypi,4-model-b", "brcm,bcm2711"]
    );
    let t = &v["conditions"]["throttle"];
    assert_eq!(t["raw"], 0x50005);
    assert_eq!(strings(&t["now"]), ["under-voltage", "throttled"]);
    assert_eq!(v["conditions"]["policies"][0]["governor"], "performance");
    assert_eq!(v["conditions"]["thermal"][0]["celsius"], 48.312);
    // The Pi 5's get_throttled sits at another path: found by searching.
    let v = probe("rpi5");
    assert_eq!(
        strings(&v["conditions"]["throttle"]["since_boot"]),
        ["soft-temperature-limit"]
    );
    assert!(v["conditions"]["throttle"]["now"]
        .as_array()
        .unwrap()
        .is_empty());
    // 32-bit Pi OS over a 32-bit kernel: the kernel says armv7l.
    let v = probe("rpi4-armhf");
    assert_eq!(v["system"]["kernel_arch"], "armv7l");
    assert_eq!(v["conditions"]["policies"][0]["governor"], "ondemand");
}

#[test]
fn jetson_firmware_and_power_mode() {
    let v = probe("jetson-orin-nano");
    let fw = &v["system"]["firmware"];
    assert_eq!(fw["l4t"], "R36.4.7");
    assert_eq!(fw["power_mode"], "MAXN_SUPER (mode 2)");
    assert_eq!(fw["gpu"]["max_hz"], 1_020_000_000u64);
    // Power-gated cv* zones (-256 C, or an unreadable temp) are skipped, not fatal.
    let zones: Vec<String> = v["conditions"]["thermal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["name"].as_str().unwrap().to_string())
        .collect();
    assert!(zones.contains(&"cpu-thermal".to_string()));
    assert!(!zones.iter().any(|z| z.starts_with("cv")), "{zones:?}");

    let v = probe("jetson-nano");
    assert_eq!(v["system"]["firmware"]["l4t"], "R32.7.1");
    assert_eq!(v["system"]["firmware"]["power_mode"], "5W (mode 1)");
    // PMIC-Die always reads 100 C: not a sensor.
    let max = v["conditions"]["thermal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["celsius"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(max < 50.0, "{max}");

    let v = probe("jetson-xavier-nx");
    assert_eq!(v["system"]["firmware"]["l4t"], "R35.4.1");
    assert_eq!(
        v["system"]["firmware"]["power_mode"],
        "MODE_20W_6CORE (mode 8)"
    );
    assert_eq!(v["system"]["identity"]["cpu_implementer"], "0x4e");
    assert_eq!(
        probe("jetson-agx-orin")["system"]["firmware"]["power_mode"],
        "MAXN (mode 0)"
    );
}

#[test]
fn rk3588_policy_pins_to_the_four_a76_cores() {
    let v = probe("rk3588");
    assert_eq!(
        v["system"]["policy"]["cpus"],
        serde_json::json!([4, 5, 6, 7])
    );
    assert_eq!(v["system"]["policy"]["threads"], 4);
    let big: Vec<&Value> = v["system"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["big"] == true)
        .collect();
    assert_eq!(big.len(), 1);
    assert_eq!(big[0]["name"], "Cortex-A76");
    assert_eq!(big[0]["part"], "0xd0b");
    // The human form says it too.
    let home = TempDir::new("rk");
    let text = ok(home.path(), &["probe", "--sysroot", &fixture("rk3588")]);
    assert!(text.contains("4 thread(s) on CPUs 4-7"), "{text}");
}

#[test]
fn unknown_board_falls_back_to_generic_probing_with_a_note() {
    let v = probe("unknown-x86");
    assert_eq!(v["system"]["board"], "generic-linux");
    assert!(v["system"]["note"]
        .as_str()
        .unwrap()
        .contains("unknown board"));
    assert_eq!(
        v["system"]["cpu_model"],
        "Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz"
    );
    assert!(v["system"]["firmware"]["l4t"].is_null());
    // profile says so too, on stdout (stderr stays for errors).
    let home = TempDir::new("unknown-profile");
    let root = fixture("unknown-x86");
    let args = profile_on(&root, &["--allow-unstable"]);
    assert!(ok(home.path(), &args).contains("Note:                 unknown board"));
}

#[test]
fn throttled_pi_is_refused_with_the_reasons_named() {
    let home = TempDir::new("throttled");
    let root = fixture("rpi4");
    // One thread: the Pi policy's four would run tract's multithreaded kernels, which
    // qemu-user's emulated atomics make crawl in the emulated-ARM tier.
    let mut args = profile_on(&root, &["--cpus", "0", "--threads", "1", "--cooldown", "0"]);
    let err = fails(home.path(), &args);
    assert!(err.contains("under-voltage"), "{err}");
    assert!(err.contains("throttled"), "{err}");
    assert!(err.contains("--allow-unstable"), "{err}");
    // Nothing was journaled.
    assert!(
        !home.path().join("measurements.journal").exists()
            || ok(home.path(), &["journal", "show"]).contains("0 measurement")
    );
    // With --allow-unstable the condition is recorded with the sample.
    args.push("--allow-unstable");
    args.push("--json");
    let v = profile_result(&ok(home.path(), &args));
    let flags = strings(&v["flags"]);
    assert!(flags.contains(&"throttled".to_string()), "{flags:?}");
    assert_eq!(v["fingerprint"]["board"], "rpi4");
}

#[test]
fn a_governor_other_than_performance_is_refused() {
    let home = TempDir::new("governor");
    let root = fixture("unknown-x86");
    let args = profile_on(&root, &["--cooldown", "0"]);
    let err = fails(home.path(), &args);
    assert!(err.contains("powersave"), "{err}");
}

#[test]
fn jetson_measurements_carry_firmware_and_power_mode() {
    let home = TempDir::new("jetson-fp");
    let root = fixture("jetson-orin-nano");
    // The fixture's CPUs 0-5 need not exist here: pin to CPU 0 and use one thread.
    let args = profile_on(&root, &["--cpus", "0", "--threads", "1", "--json"]);
    let v = profile_result(&ok(home.path(), &args));
    assert_eq!(v["fingerprint"]["firmware"], "L4T R36.4.7");
    assert_eq!(v["fingerprint"]["power_mode"], "MAXN_SUPER (mode 2)");
    assert_eq!(v["fingerprint"]["governor"], "performance");
    // The human form names the board, its firmware and its power mode.
    let human: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
    let text = ok(home.path(), &human);
    assert!(text.contains("NVIDIA Jetson Orin Nano"), "{text}");
    assert!(text.contains("L4T R36.4.7"), "{text}");
    assert!(
        text.contains("Power mode:           MAXN_SUPER (mode 2)"),
        "{text}"
    );
}

#[test]
fn a_cpu_hog_beside_the_measurement_is_flagged() {
    let home = TempDir::new("hog");
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    // Spinning threads on every CPU, for the whole measurement.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hogs: Vec<_> = (0..cpus * 2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    std::hint::black_box(x);
                }
            })
        })
        .collect();
    let v = profile_result(&ok(
        home.path(),
        &[
            "profile",
            ALL_CONV1,
            "--json",
            "--max-time",
            "3",
            "--allow-unstable",
            // Pinned, as the board policy pins on real boards: the other processes' share
            // must still be counted over every CPU of the machine.
            "--cpus",
            "0",
        ],
    ));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for h in hogs {
        h.join().unwrap();
    }
    let flags = strings(&v["flags"]);
    assert!(
        flags
            .iter()
            .any(|f| ["contended", "noisy", "outliers"].contains(&f.as_str())),
        "a measurement beside a CPU hog was reported clean: {v}"
    );
}
