//! Alerts: the pipeline's `alerts:` entries, checked into [`Alert`]s when the plan is made, and
//! the [`Dispatcher`] that delivers them for one run. [`crate::run::record`] starts a dispatcher
//! for every run it records, so `host run` and `host schedule` alert alike.
//!
//! - `retry` fires when a stage attempt fails and is retried (from the scheduler's thread, handed
//!   to the dispatcher's worker so the retry never waits for a delivery);
//! - `success`, `partial` and `failure` fire once the run is finished, with its summary.
//!
//! Every delivery attempt is recorded in the run store (`run_alerts`), delivered or not; an
//! alert that fails or times out is logged as a warning naming it and never changes the run's
//! outcome.

mod deliver;
mod payload;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::AlertConfig;
use crate::dag::RunStatus;
use crate::run::{RunObserver, StageFailure};
use crate::state::{AlertRecord, RunDetail, RunStore, Timestamp};

pub use payload::{RetryEvent, run_payload, slack_retry, slack_run};

/// What fires an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertEvent {
    /// The run failed.
    Failure,
    /// A non-critical stage failed: the run is partial.
    Partial,
    /// The run succeeded.
    Success,
    /// A stage attempt failed and the stage is retried.
    Retry,
}

impl AlertEvent {
    pub const ALL: [AlertEvent; 4] = [AlertEvent::Failure, AlertEvent::Partial, AlertEvent::Success, AlertEvent::Retry];

    /// The lowercase name, as written in `on:`, stored and printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertEvent::Failure => "failure",
            AlertEvent::Partial => "partial",
            AlertEvent::Success => "success",
            AlertEvent::Retry => "retry",
        }
    }

    /// The event a finished run with `status` fires; none for a run still going.
    pub fn of_run(status: RunStatus) -> Option<AlertEvent> {
        match status {
            RunStatus::Success => Some(AlertEvent::Success),
            RunStatus::Partial => Some(AlertEvent::Partial),
            RunStatus::Failed => Some(AlertEvent::Failure),
            RunStatus::Running => None,
        }
    }
}

/// What a webhook posts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// The run's summary (`summary.json`), or the retry's details, as JSON.
    #[default]
    Json,
    /// A Slack incoming-webhook message: `{"text": ..., "blocks": [...]}`.
    Slack,
}

/// Where an alert goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Webhook {
        url: String,
        format: WebhookFormat,
    },
    /// A program and its arguments; the payload (JSON) is its standard input.
    Command {
        argv: Vec<String>,
    },
}

/// A checked `alerts:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// What logs and the run store call it: see [`Alert::label`].
    pub name: Option<String>,
    pub on: Vec<AlertEvent>,
    pub target: Target,
    pub timeout: Duration,
}

/// The time a delivery may take when `timeout_s` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl Alert {
    /// Checks `config` (`alerts[index]`), returning every problem found, each naming the entry.
    pub fn build(config: &AlertConfig, index: usize) -> Result<Alert, Vec<String>> {
        let at = format!("alerts[{index}]");
        let mut problems = Vec::new();
        if config.on.is_empty() {
            problems
                .push(format!("{at}: `on` is empty: list the events that fire it (failure, partial, success, retry)"));
        }
        if config.timeout_s == Some(0) {
            problems.push(format!("{at}: timeout_s must be more than 0"));
        }
        let target = match (&config.webhook, &config.command) {
            (Some(url), None) => match check_url(url) {
                Ok(()) => Some(Target::Webhook { url: url.clone(), format: config.format.unwrap_or_default() }),
                Err(why) => {
                    problems.push(format!("{at}: webhook {url:?}: {why}"));
                    None
                }
            },
            (None, Some(argv)) => {
                if argv.first().is_none_or(|program| program.is_empty()) {
                    problems.push(format!("{at}: command is empty: give the program and its arguments"));
                }
                if config.format.is_some() {
                    problems.push(format!("{at}: format applies to webhooks only (a command gets the JSON)"));
                }
                Some(Target::Command { argv: argv.clone() })
            }
            (Some(_), Some(_)) => {
                problems.push(format!("{at}: give either webhook or command, not both"));
                None
            }
            (None, None) => {
                problems.push(format!("{at}: give a webhook (URL) or a command (program and arguments)"));
                None
            }
        };
        match target {
            Some(target) if problems.is_empty() => {
                let mut on = config.on.clone();
                on.dedup();
                let timeout = config.timeout_s.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
                Ok(Alert { name: config.name.clone(), on, target, timeout })
            }
            _ => Err(problems),
        }
    }

    /// The alert as the run store and the logs name it: its `name`, else a webhook's scheme and
    /// host (`https://hooks.slack.com`: the path of a Slack or Teams webhook is its secret) or
    /// the command line.
    pub fn label(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match &self.target {
            Target::Webhook { url, .. } => match url.parse::<ureq::http::Uri>() {
                Ok(uri) => {
                    let host = uri.host().unwrap_or_default();
                    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
                    format!("{}://{host}{port}", uri.scheme_str().unwrap_or("http"))
                }
                Err(_) => "webhook".to_owned(),
            },
            Target::Command { argv } => argv.join(" "),
        }
    }
}

/// Checks every `alerts:` entry; the problems name each entry.
pub fn build_all(configs: &[AlertConfig]) -> Result<Vec<Alert>, Vec<String>> {
    let mut alerts = Vec::new();
    let mut problems = Vec::new();
    for (index, config) in configs.iter().enumerate() {
        match Alert::build(config, index) {
            Ok(alert) => alerts.push(alert),
            Err(found) => problems.extend(found),
        }
    }
    if problems.is_empty() { Ok(alerts) } else { Err(problems) }
}

/// A webhook URL must be `http://` or `https://` with a host.
fn check_url(url: &str) -> Result<(), String> {
    if !url.contains("://") {
        return Err("no scheme: write http://... or https://...".to_owned());
    }
    let uri: ureq::http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(format!("the scheme is {other}; use http or https")),
        None => return Err("no scheme: write http://... or https://...".to_owned()),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err("no host".to_owned()),
    }
}

/// One thing to tell the alerts about.
#[derive(Debug)]
enum Job {
    Retry(RetryEvent),
    Run(Box<RunDetail>),
}

/// Delivers one run's alerts on a worker thread of its own, in the order the events happen, and
/// records every attempt. With no alert configured, it does nothing and starts no thread.
#[derive(Debug)]
pub struct Dispatcher {
    run_id: String,
    pipeline: String,
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    worker: Option<JoinHandle<()>>,
}

impl Dispatcher {
    /// Starts the dispatcher of run `run_id` of `pipeline`, whose store is in `state`.
    pub fn start(alerts: &[Alert], state: PathBuf, pipeline: &str, run_id: &str) -> Dispatcher {
        let mut dispatcher = Dispatcher {
            run_id: run_id.to_owned(),
            pipeline: pipeline.to_owned(),
            sender: Mutex::new(None),
            worker: None,
        };
        if alerts.is_empty() {
            return dispatcher;
        }
        let (sender, receiver) = mpsc::channel();
        let alerts = alerts.to_vec();
        let run_id = run_id.to_owned();
        let worker = std::thread::Builder::new().name("alerts".into()).spawn(move || {
            let mut store = None;
            for job in receiver {
                deliver_job(&alerts, &state, &run_id, &mut store, &job);
            }
        });
        match worker {
            Ok(worker) => {
                dispatcher.worker = Some(worker);
                *dispatcher.sender.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(sender);
            }
            Err(error) => tracing::error!(%error, "cannot start the alerts' thread: no alert will be sent"),
        }
        dispatcher
    }

    /// The run is finished and recorded as `detail` says: fires its event, then waits for every
    /// delivery (each bounded by its alert's timeout) to be made and recorded.
    pub fn finish(mut self, detail: RunDetail) {
        let sender = self.sender.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(sender) = sender {
            let _ = sender.send(Job::Run(Box::new(detail)));
        }
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!("the alerts' thread panicked (this is a bug)");
        }
    }
}

impl RunObserver for Dispatcher {
    fn stage_retrying(&self, stage: &str, attempt: u32, error: &StageFailure, _wait: Duration) {
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = sender.as_ref() {
            let event = RetryEvent {
                event: "retry",
                run_id: self.run_id.clone(),
                pipeline: self.pipeline.clone(),
                stage: stage.to_owned(),
                attempt,
                error: error.to_string(),
                error_kind: error.kind(),
            };
            let _ = sender.send(Job::Retry(event));
        }
    }
}

/// Delivers `job` to every alert it fires, recording each attempt in the store of `state`
/// (opened on first use).
fn deliver_job(alerts: &[Alert], state: &std::path::Path, run_id: &str, store: &mut Option<RunStore>, job: &Job) {
    let event = match job {
        Job::Retry(_) => AlertEvent::Retry,
        Job::Run(detail) => match AlertEvent::of_run(detail.run.status) {
            Some(event) => event,
            None => return,
        },
    };
    for alert in alerts.iter().filter(|a| a.on.contains(&event)) {
        let body = match (job, &alert.target) {
            (Job::Run(detail), Target::Webhook { format: WebhookFormat::Slack, .. }) => slack_run(detail),
            (Job::Run(detail), _) => run_payload(detail),
            (Job::Retry(retry), Target::Webhook { format: WebhookFormat::Slack, .. }) => slack_retry(retry),
            (Job::Retry(retry), _) => serde_json::to_value(retry).unwrap_or_default(),
        };
        let label = alert.label();
        let result = deliver::deliver(alert, &body);
        match &result {
            Ok(detail) => tracing::info!(alert = %label, event = event.as_str(), %detail, "alert delivered"),
            Err(error) => tracing::warn!(alert = %label, event = event.as_str(), %error, "alert not delivered"),
        }
        let (delivered, detail) = match result {
            Ok(detail) => (true, detail),
            Err(error) => (false, error),
        };
        let record = AlertRecord { alert: label, event, delivered, detail, at: Timestamp::now() };
        if store.is_none() {
            match RunStore::open(state) {
                Ok(opened) => *store = Some(opened),
                Err(error) => tracing::error!(%error, "cannot record the alert in the run store"),
            }
        }
        if let Some(store) = store.as_ref()
            && let Err(error) = store.record_alert(run_id, &record)
        {
            tracing::error!(%error, "cannot record the alert in the run store");
        }
    }
}

#[cfg(test)]
mod tests;
