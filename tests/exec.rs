//! Any timing program as the runtime (`--exec`): edgenas writes the file, runs the program
//! without a shell, and keeps the latencies it reports, never its start-up. The program here
//! is real: scripts/exec/ort-time.py times the file with onnxruntime's Python package (pip).

mod common;

use common::*;

/// Writes `body` as a shell script in `home` and returns the `--exec` template that runs it.
fn program(home: &std::path::Path, name: &str, body: &str) -> String {
    let script = home.join(name);
    std::fs::write(&script, body).unwrap();
    format!("sh {} {{model}}", script.display())
}

/// `args` through the timing program `template`, with the quick protocol.
fn through<'a>(args: &[&'a str], template: &'a str) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(["--exec", template]);
    v.extend_from_slice(QUICK);
    v
}

/// The real timing script: one invocation reports its runs, and the record holds exactly
/// those (not the invocation's wall time, which includes Python's start-up).
#[test]
fn a_python_timing_script_is_the_runtime_and_its_reports_are_the_sample() {
    let home = TempDir::new("exec-ort");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/exec/ort-time.py");
    let template = format!(
        "python3 {} {{model}} --runs 17 --warmup 2",
        script.display()
    );
    let mut args = vec!["profile", ALL_CONV3, "--exec", &template, "--json"];
    args.extend_from_slice(QUICK);
    let started = std::time::Instant::now();
    let v = json(&ok(home.path(), &args));
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    let r = &v["results"][0];
    let fp = &r["fingerprint"];
    assert!(
        fp["runtime"].as_str().unwrap().starts_with("exec:python3"),
        "{fp}"
    );
    assert_eq!(fp["runtime_version"].as_str().unwrap().len(), 16, "{fp}");
    // QUICK asks for one sampling pass: one start of the program, its 17 reported runs.
    assert_eq!(r["runs"], 17, "{r}");
    let median = r["median_ms"].as_f64().unwrap();
    assert!(
        median > 0.0 && median < wall_ms / 4.0,
        "{median} ms of {wall_ms} ms"
    );
    // Another script (or template) is another runtime: never resumed from this record.
    let other = format!("python3 {} {{model}} --runs 5 --warmup 1", script.display());
    let mut args = vec!["profile", ALL_CONV3, "--exec", &other, "--resume", "--json"];
    args.extend_from_slice(QUICK);
    let v = json(&ok(home.path(), &args));
    assert_eq!(v["results"][0]["resumed"], false);
    assert_eq!(v["results"][0]["runs"], 5);
}

/// The loop measures through the program too: interleaved rounds, one start per subject and
/// round, each round's value the fastest the program reported.
#[test]
fn embed_measures_its_references_through_a_program() {
    let home = TempDir::new("exec-embed");
    let mut args = vec![
        "embed",
        "--exec",
        // The file's size in bytes as one reported latency, and a slower one beside it.
        "sh -c 'echo edgenas-latency-ms: $(wc -c < \"$0\"); echo edgenas-latency-ms: 1e9' {model}",
        "--min-rounds",
        "6",
        "--max-rounds",
        "6",
        "--json",
    ];
    args.extend_from_slice(QUICK);
    let v = json(&ok(home.path(), &args));
    let text = v.to_string();
    assert!(text.contains("exec:sh"), "{text}");
    // Every reference was recorded at the fastest figure the program reported: its file's
    // size, the same in every round.
    let shown = json(&ok(home.path(), &["journal", "show", "--json"]));
    let results = shown["results"].as_array().unwrap();
    assert_eq!(results.len(), 10, "{shown}");
    for m in results {
        let ms = m["median_ms"].as_f64().unwrap();
        assert!(ms > 1000.0 && ms < 1e9 && ms.fract() == 0.0, "{m}");
        assert_eq!(m["min_ms"].as_f64().unwrap(), ms, "{m}");
        assert_eq!(m["fingerprint"]["runtime"], "exec:sh");
    }
}

/// Programs that fail, report nothing or are misused: one line each.
#[test]
fn a_program_that_fails_or_reports_nothing_is_one_clear_line() {
    let home = TempDir::new("exec-errors");
    let run = |exec: &str, extra: &[&str]| {
        let mut args = vec!["profile", ALL_CONV1, "--exec", exec];
        args.extend_from_slice(extra);
        args.extend_from_slice(QUICK);
        fails(home.path(), &args)
    };
    let e = run(
        "sh -c 'echo building; echo no GPU here >&2; exit 3' {model}",
        &[],
    );
    assert!(
        e.contains("exit status: 3") && e.contains("no GPU here"),
        "{e}"
    );
    let e = run("sh -c 'echo all good' {model}", &[]);
    assert!(e.contains("reported no latency"), "{e}");
    let e = run("sh -c true", &[]);
    assert!(e.contains("{model}"), "{e}");
    let e = run("no-such-timing-program {model}", &[]);
    assert!(e.contains("not on PATH"), "{e}");
    let e = run("sh -c 'true' {model}", &["--exec-format", "pb"]);
    assert!(e.contains("onnx, tflite, pytorch"), "{e}");
    let e = fails(home.path(), &["profile", ALL_CONV1, "--runtime", "exec"]);
    assert!(e.contains("--exec"), "{e}");
    let e = fails(
        home.path(),
        &[
            "infer",
            ALL_CONV1,
            "--exec",
            "sh -c 'echo edgenas-latency-ms: 1' {model}",
        ],
    );
    assert!(e.contains("reports latencies, not outputs"), "{e}");
}

/// At int8 a program gets the QDQ `.onnx` (about a quarter of the fp32 file), at fp16 the fp32
/// file it converts itself (`trtexec --fp16`), and the precision is in the record: a program
/// that reports its file's size in bytes as the latency shows which file it was given.
#[test]
fn a_program_gets_the_file_of_its_precision() {
    let home = TempDir::new("exec-precision");
    let size = "sh -c 'echo edgenas-latency-ms: $(wc -c < \"$0\")' {model}";
    let profile = |precision: &str| {
        let mut args = vec![
            "profile",
            ALL_CONV3,
            "--exec",
            size,
            "--precision",
            precision,
            "--json",
        ];
        args.extend_from_slice(QUICK);
        json(&ok(home.path(), &args))["results"][0].clone()
    };
    let (fp32, fp16, int8) = (profile("fp32"), profile("fp16"), profile("int8"));
    let bytes = |r: &serde_json::Value| r["median_ms"].as_f64().unwrap();
    assert_eq!(bytes(&fp16), bytes(&fp32), "fp16: the fp32 file");
    assert!(
        bytes(&int8) * 3.0 < bytes(&fp32),
        "{} against {}",
        bytes(&int8),
        bytes(&fp32)
    );
    for (r, p) in [(&fp32, "fp32"), (&fp16, "fp16"), (&int8, "int8")] {
        assert_eq!(r["fingerprint"]["precision"], p, "{r}");
    }
}

/// Through a timing program each network costs starts of it (a process, a model parse,
/// trtexec's engine build), so FBNet's 108 kernel networks (864 starts) are timed only when
/// asked: `--kernels auto` goes without them and says why, `on` times them (a progress line
/// per batch in a log), and `auto` then takes them from the journal; `off` never reads them.
#[test]
fn a_timing_program_times_the_kernels_only_when_asked() {
    let home = TempDir::new("exec-kernels");
    // A fast program: the file's size in units of 10 kB, one start a few milliseconds.
    let template = program(
        home.path(),
        "size.sh",
        "bytes=$(wc -c < \"$1\")\necho \"edgenas-latency-ms: $(awk \"BEGIN { print $bytes / 10000 }\")\"\n",
    );
    let args = |extra: &[&str]| {
        let mut v = vec!["--space", "fbnet", "--exec", &template, "--samples", "4"];
        v.extend_from_slice(extra);
        v.extend_from_slice(QUICK);
        v.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let adapt = |extra: &[&str]| {
        let a = args(extra);
        let mut v = vec!["adapt"];
        v.extend(a.iter().map(String::as_str));
        run(home.path(), &v)
    };
    let mut embed = vec!["embed", "--space", "fbnet", "--exec", &template];
    embed.extend_from_slice(QUICK);
    ok(home.path(), &embed);
    let kernel_rows = || {
        let csv = ok(home.path(), &["journal", "export", "--format", "csv"]);
        csv.lines().filter(|l| l.contains("fbnet-kernel:")).count()
    };

    let o = adapt(&["--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = json(&stdout(&o));
    assert_eq!(a["kernels"], 0, "{a}");
    let skipped = &a["kernels_skipped"];
    assert_eq!(skipped["why"], "program", "{a}");
    assert_eq!(skipped["networks"], 108, "{a}");
    assert_eq!(skipped["starts"], 108 * 8, "{a}");
    assert_eq!(skipped["recorded"], 0, "{a}");
    assert_eq!(kernel_rows(), 0);

    // Asked for: timed, a line per batch of the kernels' own, then the support's count.
    let o = adapt(&["--kernels", "on"]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("102 kernels") && out.contains("measured now"),
        "{out}"
    );
    assert!(!out.contains("without the space's kernel figures"), "{out}");
    let kernel_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("kernels [")).collect();
    assert_eq!(kernel_lines.len(), 6, "a line per batch: {err}");
    assert!(kernel_lines[5].starts_with("kernels [108/108]"), "{err}");
    assert!(err.lines().any(|l| l.starts_with("adapt [4/4]")), "{err}");
    assert!(
        !err.lines()
            .any(|l| l.starts_with("adapt [") && l.contains("/108]")),
        "{err}"
    );
    assert_eq!(kernel_rows(), 108);

    // auto again: the journal holds them all, so they cost nothing and are used.
    let a = json(&stdout(&adapt(&["--json"])));
    assert_eq!(a["kernels"], 102, "{a}");
    assert_eq!(a["kernel_seconds"], 0.0, "{a}");
    assert!(a.get("kernels_skipped").is_none(), "{a}");

    // off: none, whatever the journal holds; the text says why.
    let o = adapt(&["--kernels", "off"]);
    let out = stdout(&o);
    assert!(
        out.contains("without the space's kernel figures: --kernels off"),
        "{out}"
    );
    let a = json(&stdout(&adapt(&["--kernels", "off", "--json"])));
    assert_eq!(a["kernels"], 0, "{a}");
    assert_eq!(a["kernels_skipped"]["why"], "asked", "{a}");
    let e = stderr(&adapt(&["--kernels", "sometimes"]));
    assert!(e.contains("auto, on or off"), "{e}");
    assert_eq!(kernel_rows(), 108);
}

/// A timing program's batch survives kill -9: each finished round is kept beside the journal,
/// and the rerun times only the rounds left (after one warm-up start per subject, since a new
/// process is cold). The program here counts its starts and, at the chosen one, kills edgenas.
#[test]
fn a_batch_killed_mid_way_goes_on_from_its_finished_rounds() {
    let home = TempDir::new("exec-resume");
    let count = home.path().join("starts");
    let kill_at = home.path().join("kill-at");
    // The script stays the same file throughout (it is part of the runtime's identity): the
    // start it kills at is read from a file.
    let script = home.path().join("size.sh");
    std::fs::write(
        &script,
        format!(
            "n=$(($(cat {c} 2>/dev/null || echo 0) + 1)); echo $n > {c}\n\
             if [ \"$n\" = \"$(cat {k})\" ]; then kill -9 $PPID; sleep 5; fi\n\
             echo \"edgenas-latency-ms: $(wc -c < \"$1\")\"\n",
            c = count.display(),
            k = kill_at.display()
        ),
    )
    .unwrap();
    let program = |kill: usize| std::fs::write(&kill_at, kill.to_string()).unwrap();
    let starts = || -> usize {
        std::fs::read_to_string(&count)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let template = format!("sh {} {{model}}", script.display());
    let mut args = vec![
        "embed",
        "--exec",
        &template,
        "--min-rounds",
        "6",
        "--max-rounds",
        "6",
    ];
    args.extend_from_slice(QUICK);
    let rounds_file = home.path().join("measurements.rounds");
    // The model files go to a private TMPDIR, to see what a killed run leaves there.
    let tmp = home.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let run = |args: &[&str]| {
        edgenas(home.path())
            .env("TMPDIR", &tmp)
            .args(args)
            .output()
            .unwrap()
    };
    let model_folders = || {
        std::fs::read_dir(&tmp)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("edgenas-exec-")
            })
            .count()
    };

    // Ten references in one batch: ten warm-up starts, then ten a round. Killed at the fifth
    // start of the fourth round: three rounds finished.
    program(10 + 3 * 10 + 5);
    let o = run(&args);
    assert!(!o.status.success(), "it was killed: {}", stderr(&o));
    assert_eq!(starts(), 45);
    assert!(rounds_file.exists());
    assert_eq!(
        model_folders(),
        10,
        "kill -9 leaves the batch's model folders"
    );
    // A run still going (here a process holding a folder's lock) keeps its folder.
    let live = tmp.join("edgenas-exec-live-0");
    std::fs::create_dir_all(&live).unwrap();
    let mut holder = std::process::Command::new("flock")
        .arg(live.join("in-use.lock"))
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    let taken = || {
        !std::process::Command::new("flock")
            .args([
                "-n".as_ref(),
                live.join("in-use.lock").as_os_str(),
                "true".as_ref(),
            ])
            .status()
            .unwrap()
            .success()
    };
    while !taken() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let shown = json(&ok(home.path(), &["journal", "show", "--json"]));
    assert_eq!(shown["results"].as_array().unwrap().len(), 0, "{shown}");
    let check = ok(home.path(), &["journal", "check"]);
    assert!(
        check.contains("batch in progress: 3 rounds of 10 subjects") && check.contains("exec:sh"),
        "{check}"
    );

    program(0);
    let o = run(&args);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // The rerun removed the killed run's folders and its own; the live one stays.
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(model_folders(), 1);
    assert!(live.exists());
    assert!(
        err.contains("goes on from the 3 rounds an interrupted sitting finished"),
        "{err}"
    );
    assert_eq!(
        starts() - 45,
        10 + 3 * 10,
        "the warm-up, then the three rounds left"
    );
    assert!(!rounds_file.exists(), "the batch is in the journal");
    let check = ok(home.path(), &["journal", "check"]);
    assert!(!check.contains("batch in progress"), "{check}");
    let shown = json(&ok(home.path(), &["journal", "show", "--json"]));
    let results = shown["results"].as_array().unwrap();
    assert_eq!(results.len(), 10, "{shown}");
    for m in results {
        assert_eq!(m["runs"], 6, "a run a round: {m}");
        let ms = m["median_ms"].as_f64().unwrap();
        assert!(ms > 1000.0 && ms.fract() == 0.0, "{m}");
    }
}

/// Figures that have nothing to do with the networks (a program reporting a checksum of the
/// file as its latency, 1–11 ms) scatter about any fit: `adapt` says so with the commands
/// that measure again, and `run` repeats them in its summary, in text and in `--json`.
#[test]
fn a_scattered_fit_comes_with_the_commands_that_measure_again() {
    let home = TempDir::new("exec-scattered");
    let template = program(
        home.path(),
        "cksum.sh",
        "sum=$(cksum < \"$1\" | cut -d' ' -f1)\necho \"edgenas-latency-ms: $(awk \"BEGIN { print 1 + ($sum % 1000) / 100 }\")\"\n",
    );
    let with = |args: &[&'static str]| through(args, &template);
    ok(home.path(), &with(&["embed"]));
    let a = json(&ok(home.path(), &with(&["adapt", "--json"])));
    assert!(a["quality"]["loo_mape"].as_f64().unwrap() > 0.05, "{a}");
    assert_eq!(a["scattered"], true, "{a}");
    let how = "`edgenas embed --space nb201 --force`, then `edgenas adapt --space nb201 --force`";
    assert_eq!(a["remeasure"], how, "{a}");
    // In text, a note on stderr (the same fit: the journal's figures).
    let o = run(home.path(), &with(&["adapt"]));
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let note = err.lines().find(|l| l.starts_with("note: the 20 figures"));
    assert!(note.is_some_and(|n| n.ends_with(how)), "{err}");

    let summary = ok(home.path(), &with(&["run", "--budget-ms", "10.5"]));
    let line = summary.lines().find(|l| l.contains("Predictor:")).unwrap();
    assert!(
        line.contains("scattered") && line.contains(how),
        "{summary}"
    );
    let r = json(&ok(
        home.path(),
        &with(&["run", "--budget-ms", "10.5", "--json", "-q"]),
    ));
    assert_eq!(r["predictor"]["remeasure"], how, "{r}");
}

/// A machine that runs faster now than when the predictor was fitted (the program's figures
/// a quarter lower for `validate` than for `embed` and `adapt`): every prediction is set at
/// its batch's level by the anchor, and `validate` says how far the level moved, in a note with
/// the commands that fit the machine as it runs now and in `--json`.
#[test]
fn validate_says_when_the_machine_runs_at_another_level_than_the_fit() {
    let home = TempDir::new("exec-level");
    let factor = home.path().join("factor");
    let template = program(
        home.path(),
        "size.sh",
        &format!(
            "bytes=$(wc -c < \"$1\")\nf=$(cat {})\necho \"edgenas-latency-ms: $(awk \"BEGIN {{ print $bytes / 10000 * $f }}\")\"\n",
            factor.display()
        ),
    );
    let with = |args: &[&'static str]| through(args, &template);
    std::fs::write(&factor, "1.3").unwrap();
    ok(home.path(), &with(&["embed"]));
    ok(home.path(), &with(&["adapt", "--samples", "4"]));
    std::fs::write(&factor, "1.0").unwrap();
    let o = run(home.path(), &with(&["validate", "--archs", "6"]));
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{err}");
    let note = err
        .lines()
        .find(|l| l.starts_with("note: the machine ran 23.1% faster"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        note.ends_with("`edgenas adapt --space nb201 --force`"),
        "{note}"
    );
    assert!(
        out.contains("machine's level   -23.1% against the fit's"),
        "{out}"
    );
    let v = json(&ok(
        home.path(),
        &with(&["validate", "--archs", "6", "--json"]),
    ));
    let change = v["level_change"].as_f64().unwrap();
    // awk prints six significant digits.
    assert!((change - (1.0 / 1.3 - 1.0)).abs() < 1e-4, "{v}");
    assert_eq!(v["level_changed"], true, "{v}");
    let level = v["fit"]["level_ms"].as_f64().unwrap();
    for r in v["archs"].as_array().unwrap() {
        let a = r["batch_anchor_ms"].as_f64().unwrap();
        assert!((a / level - 1.0 - change).abs() < 1e-6, "{r}");
    }
    // Levelled by the anchor, a change that is the same for every network costs nothing.
    assert!(v["mape"].as_f64().unwrap() < 0.01, "{v}");
}
