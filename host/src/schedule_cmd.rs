//! `host schedule`: parses, takes the scheduler lock, wires SIGTERM/SIGINT to the library's
//! [`Scheduler`], and prints what it does, one line per event.

use std::io::Write;

use anyhow::{Context, Result};
use chrono::DateTime;
use host::config::ScheduleConfig;
use host::run::RunRequest;
use host::runtime::Runtime;
use host::schedule::{Event, Schedule, Scheduler, SchedulerLock, Shutdown};
use host::state::{Timestamp, Trigger};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cli::{PipelineArgs, ScheduleArgs};
use crate::console;
use crate::exit;
use crate::pipeline_cmd::{InvalidConfig, RunLog, load_config, load_plan};

/// The pipeline's `schedule:` block, parsed.
fn load_schedule(args: &PipelineArgs) -> Result<Schedule> {
    let (loaded, _) = load_config(args)?;
    let config: &ScheduleConfig = loaded
        .file
        .schedule
        .as_ref()
        .ok_or_else(|| InvalidConfig(format!("{}: no `schedule:` block to run on", args.pipeline.display())))?;
    Schedule::new(config).map_err(|problems| {
        InvalidConfig(format!("invalid pipeline {}:\n  - {}", args.pipeline.display(), problems.join("\n  - "))).into()
    })
}

/// `host schedule --dry-run`: the next fire times and their logical dates.
pub fn dry_run(args: &ScheduleArgs) -> Result<u8> {
    let schedule = load_schedule(&args.pipeline)?;
    let from = match &args.from {
        Some(text) => {
            let at = DateTime::parse_from_rfc3339(text)
                .map_err(|e| InvalidConfig(format!("--from {text}: expected an RFC 3339 time ({e})")))?;
            Timestamp::from_unix_millis(at.timestamp_millis())
        }
        None => Timestamp::now(),
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "schedule `{}` in {} (catchup: {}): the next {} fire times after {}",
        schedule.pattern(),
        schedule.timezone(),
        schedule.catchup.as_str(),
        args.count,
        from.rfc3339()
    )?;
    for fire in schedule.fire_times_after(from).take(args.count) {
        writeln!(out, "{}  logical date {}", fire.local, fire.logical_date)?;
    }
    Ok(exit::SUCCESS)
}

/// `host schedule`: fires runs until SIGTERM or SIGINT.
pub fn schedule(args: &ScheduleArgs, runtime: &Runtime) -> Result<u8> {
    let schedule = load_schedule(&args.pipeline)?;
    let (plan, env, digest) = load_plan(&args.pipeline, runtime)?;
    if let Some(budget) = plan.memory_budget {
        runtime.memory_budget().set_limit(budget);
    }
    let _lock = SchedulerLock::acquire(&plan.paths.state).map_err(|e| InvalidConfig(e.to_string()))?;
    let shutdown = Shutdown::default();
    let mut signals = Signals::new([SIGTERM, SIGINT]).context("cannot handle SIGTERM and SIGINT")?;
    let handle = signals.handle();
    let request = RunRequest {
        env,
        config_digest: digest,
        logical_date: String::new(),
        parallelism: args.parallelism,
        streaming: !args.no_stream,
        native_stages: false,
        only: Vec::new(),
        resume: None,
        trigger: Trigger::Schedule,
        cancel: None,
        run_id: None,
    };
    let scheduler = Scheduler { plan: &plan, schedule: &schedule, request, shutdown: &shutdown };
    println!(
        "scheduling {} with `{}` in {} (catchup: {}); SIGTERM or SIGINT stops",
        plan.pipeline,
        schedule.pattern(),
        schedule.timezone(),
        schedule.catchup.as_str()
    );
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            for signal in signals.forever() {
                let again = shutdown.stopping();
                tracing::warn!(signal, again, "stop requested");
                // Said before it is done, so that it comes before what stopping prints.
                print_line(if again {
                    "cancelling: the running run stops at its stages' next batch"
                } else {
                    "stopping: no new run starts; a running run finishes (signal again to cancel it)"
                });
                shutdown.signal();
            }
        });
        let result = scheduler.run(&RunLog, print_event);
        handle.close();
        result
    });
    result?;
    Ok(exit::SUCCESS)
}

/// One line per event on stdout, flushed (a supervisor or a test reads them as they come).
fn print_event(event: Event<'_>) {
    let line = match event {
        Event::CatchingUp { fires } => {
            let dates: Vec<&str> = fires.iter().map(|fire| fire.logical_date.as_str()).collect();
            format!("catching up {} missed fire time(s): {}", fires.len(), dates.join(", "))
        }
        Event::Waiting { next } => format!("next run at {} for {}", next.local, next.logical_date),
        Event::Firing { fire } => format!("run for {} started (fire time {})", fire.logical_date, fire.local),
        Event::Finished { fire, run_id, status } => {
            console::close_run_log();
            format!("run {run_id} for {}: {status}", fire.logical_date)
        }
        Event::Failed { fire, error } => {
            console::close_run_log();
            format!("run for {} could not be made: {error}", fire.logical_date)
        }
        Event::Stopped => "stopped".to_owned(),
    };
    print_line(&line);
}

fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
