//! `edgenas profile`: time candidates under the protocol and journal every measurement.

use std::path::Path;

use anyhow::Result;
use edgenas_ondevice::{Measurer, Subject};
use edgenas_profiler::Measurement;
use serde_json::json;

use crate::cli::ProfileArgs;
use crate::measurements::{measurement_json, print_human, results_table};
use crate::output::ms;
use crate::reporter::ProfileBar;

pub fn run(args: ProfileArgs, home: Option<&Path>) -> Result<()> {
    let setup =
        crate::session::setup(&args.machine, crate::session::Timing::OneAtATime, args.seed)?;
    let system = setup.system.clone();
    // Every target is checked (parsed, file readable, model loadable) before the first
    // measurement: a typo in the last target must not cost the time of the first ones.
    let (runnable, mut failures) = check_targets(&args, &setup)?;
    let journal_path = crate::state::journal_path(home, args.journal.as_deref())?;
    let journal = crate::session::open_journal(&journal_path)?;
    let mut measurer = Measurer::device(setup, journal);
    if args.resume {
        // The journal's records of these targets, decoded once (not once per target).
        let names: Vec<String> = runnable.iter().map(Subject::name).collect();
        measurer.load_resumable(&names)?;
    }
    let mut bar = ProfileBar {
        bar: crate::progress::Progress::new("profile", runnable.len(), false),
    };
    let mut results: Vec<(Measurement, bool)> = Vec::new();
    let mut stopped: Option<anyhow::Error> = None;
    for target in &runnable {
        let subject = target.name();
        bar.bar.start_item(&crate::output::short_id(&subject));
        match measurer.measure_one(target, args.resume, &mut bar) {
            Ok((m, resumed)) => {
                bar.bar.finish_item(&if resumed {
                    format!(
                        "{}, skipped (--resume): in the journal under the same conditions",
                        ms(m.stats().median_ms)
                    )
                } else {
                    ms(m.stats().median_ms)
                });
                if !args.json {
                    print_human(&m, &system, resumed);
                }
                results.push((m, resumed));
            }
            Err(e) if args.keep_going => {
                bar.bar.finish_item("failed");
                failures.push((subject, format!("{e:#}")));
            }
            Err(e) => {
                stopped = Some(e.into());
                break;
            }
        }
    }
    bar.bar.finish();
    let doc = json!({
        "results": results.iter().map(|(m, resumed)| measurement_json(m, *resumed)).collect::<Vec<_>>(),
        "failures": failures.iter().map(|(s, e)| json!({"subject": s, "error": e})).collect::<Vec<_>>(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    args.export
        .write(&doc, &results_table(results.iter().map(|(m, r)| (m, *r))))?;
    if let Some(e) = stopped {
        return Err(e);
    }
    if !failures.is_empty() {
        let names: Vec<String> = failures
            .iter()
            .map(|(s, e)| format!("{} ({e})", crate::output::ellipsize(s, 60)))
            .collect();
        return Err(crate::output::Exit {
            code: 1,
            message: Some(format!(
                "{} of {} targets failed: {}",
                failures.len(),
                args.targets.len(),
                names.join("; ")
            )),
        }
        .into());
    }
    Ok(())
}

type Failures = Vec<(String, String)>;

/// The targets that parse and load, and (with --keep-going) why the others did not.
fn check_targets(
    args: &ProfileArgs,
    setup: &edgenas_ondevice::Setup,
) -> Result<(Vec<Subject>, Failures)> {
    let opts = edgenas_runtime::ModelOptions {
        runtime: setup.runtime,
        threads: setup.threads,
        seed: setup.seed,
        precision: setup.precision,
    };
    let mut failures = Vec::new();
    let mut runnable = Vec::new();
    for name in &args.targets {
        match Subject::parse(name).and_then(|t| t.load(opts).map(|_| t)) {
            Ok(t) => runnable.push(t),
            Err(e) if args.keep_going => failures.push((name.clone(), e.to_string())),
            Err(e) => {
                return Err(anyhow::Error::from(e).context(format!(
                    "checking the targets before measuring (nothing was measured{})",
                    if args.targets.len() > 1 {
                        "; --keep-going measures the others"
                    } else {
                        ""
                    }
                )))
            }
        }
    }
    Ok((runnable, failures))
}
