//! kill -9 in the middle of a multi-arch run: every finished measurement survives, and a
//! rerun with --resume measures only what is missing.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn kill_9_then_resume() {
    let home = TempDir::new("crash");
    let archs: Vec<String> = ["none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1"]
        .iter()
        .flat_map(|a| {
            ["none", "skip_connect"]
                .iter()
                .map(move |b| format!("|{a}~0|+|{b}~0|{a}~1|+|{b}~0|{a}~1|{b}~2|"))
        })
        .collect();
    let mut args: Vec<&str> = vec!["profile"];
    args.extend(archs.iter().map(|s| s.as_str()));
    args.extend_from_slice(&[
        "--allow-unstable",
        "--warmup-runs",
        "1",
        "--warmup-time",
        "0",
        "--min-runs",
        "3",
        "--min-time",
        "0.4",
        "--max-time",
        "0.4",
    ]);
    let mut child = edgenas(home.path())
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let journal = home.path().join("measurements.journal");
    let start = Instant::now();
    // Wait for at least two records (header 18 bytes + records), then kill -9.
    let count = || -> usize {
        let Ok(b) = std::fs::read(&journal) else {
            return 0;
        };
        let (mut pos, mut n) = (18usize, 0);
        while pos + 8 <= b.len() {
            let len = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
            if pos + 8 + len > b.len() {
                break;
            }
            pos += 8 + len;
            n += 1;
        }
        n
    };
    while count() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no records after 60 s"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let survived = json(&ok(home.path(), &["journal", "show", "--json"]))["results"]
        .as_array()
        .unwrap()
        .len();
    assert!(survived >= 2 && survived < archs.len(), "{survived}");

    let mut again = args.clone();
    again.push("--resume");
    let o = run(home.path(), &again);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).matches("skipped (--resume)").count(),
        survived,
        "{}",
        stderr(&o)
    );
    let all = json(&ok(home.path(), &["journal", "show", "--json"]));
    let subjects: Vec<&str> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects.len(), archs.len());
    for a in &archs {
        assert_eq!(
            subjects.iter().filter(|s| *s == a).count(),
            1,
            "{a} measured once"
        );
    }
}
