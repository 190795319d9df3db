//! What a person or a log collector sees while the host works: `tracing` events as text or JSON
//! lines on stderr and in the run's log file, and, when stderr is a terminal and the logs are
//! text, a live block at the bottom showing the running stages with their rows read and elapsed
//! time.
//!
//! Every write to stderr goes through one lock, so a log line never tears the live block: the
//! block is erased, the line written, and the block drawn again below it.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use host::run::RunObserver;
use host::state::thousands;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// How log events are written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, fields at the top level.
    Json,
}

/// How often the live block is redrawn when nothing else happens.
const REDRAW_EVERY: Duration = Duration::from_millis(200);

/// The state behind stderr and the run log; one per process.
#[derive(Default)]
struct Console {
    /// The current run's log file, while a run goes.
    log_file: Option<File>,
    /// The live block, while a run goes on a terminal.
    live: Option<LiveBlock>,
    /// Lines of the live block now on the screen (erased before anything else is written).
    drawn_lines: usize,
    /// The format [`init_logging`] set up.
    log_format: LogFormat,
}

static CONSOLE: Mutex<Console> =
    Mutex::new(Console { log_file: None, live: None, drawn_lines: 0, log_format: LogFormat::Text });

fn console() -> MutexGuard<'static, Console> {
    CONSOLE.lock().unwrap_or_else(|e| e.into_inner())
}

impl Console {
    fn erase(&mut self, err: &mut impl Write) {
        if self.drawn_lines > 0 {
            // Up to the block's first line, then clear to the end of the screen.
            let _ = write!(err, "\x1b[{}F\x1b[J", self.drawn_lines);
            self.drawn_lines = 0;
        }
    }

    fn draw(&mut self, err: &mut impl Write) {
        if let Some(live) = &self.live {
            let block = live.render(Instant::now());
            self.drawn_lines = block.lines().count();
            let _ = err.write_all(block.as_bytes());
        }
        let _ = err.flush();
    }
}

/// Sets up logging for the process. The run's log file gets `info` and up (`debug` with `-vv`,
/// `trace` with `-vvv`); the terminal only warnings and errors, as with cargo or dbt, unless
/// `-v` (info), `-vv` (debug) or `-vvv` (trace) asks for more, or the lines are JSON for a log
/// collector (then `info`, like the file). `RUST_LOG` sets both. `format` is the line format of
/// both.
pub fn init_logging(verbose: u8, format: LogFormat) {
    let (terminal, file) = default_levels(verbose, format);
    let filter = |default: &str| EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    console().log_format = format;
    let color = format == LogFormat::Text && io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = Registry::default()
        .with(vec![
            fmt_layer(format, StderrWriter, color).with_filter(filter(terminal)).boxed(),
            fmt_layer(format, RunLogWriter, false).with_filter(filter(file)).boxed(),
        ])
        .try_init();
}

/// The levels logged to the terminal and to the run's log file when `RUST_LOG` is not set.
fn default_levels(verbose: u8, format: LogFormat) -> (&'static str, &'static str) {
    let file = match verbose {
        0 | 1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let terminal = match (verbose, format) {
        (0, LogFormat::Text) => "warn",
        (0 | 1, _) => "info",
        _ => file,
    };
    (terminal, file)
}

fn fmt_layer<W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<Registry> + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi);
    match format {
        LogFormat::Text => Box::new(layer),
        LogFormat::Json => Box::new(layer.json().flatten_event(true).with_current_span(false).with_span_list(false)),
    }
}

/// Writes log lines to stderr around the live block.
struct StderrWriter;

impl Write for StderrWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut console = console();
        let mut err = io::stderr().lock();
        console.erase(&mut err);
        err.write_all(buf)?;
        console.draw(&mut err);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for StderrWriter {
    type Writer = StderrWriter;

    fn make_writer(&'a self) -> Self::Writer {
        StderrWriter
    }
}

/// Writes log lines to the current run's log file, if a run is going; drops them otherwise.
struct RunLogWriter;

impl Write for RunLogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(file) = console().log_file.as_mut() {
            // A full disk must not stop the run: the log file is a copy of what stderr shows.
            let _ = file.write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for RunLogWriter {
    type Writer = RunLogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RunLogWriter
    }
}

/// From now on, log lines also go to `path` (appended; its directory is created).
pub fn open_run_log(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = File::options().create(true).append(true).open(path)?;
    console().log_file = Some(file);
    Ok(())
}

/// Stops writing to the run's log file.
pub fn close_run_log() {
    if let Some(file) = console().log_file.take() {
        let _ = file.sync_all();
    }
}

/// Shows the live block while it is alive, if stderr is a terminal and the logs are text;
/// observes the run for it.
pub struct LiveProgress {
    ticker: Option<(Arc<StopSignal>, JoinHandle<()>)>,
}

/// Set to stop the redraw thread, which it waits on between redraws.
type StopSignal = (Mutex<bool>, Condvar);

impl LiveProgress {
    /// Starts the live block for a run of `stages` stages when [`shows_live_block`] says so
    /// (`enabled`, stderr a terminal, text logs); otherwise the returned value observes nothing
    /// and shows nothing. The run's id is shown once the run has one
    /// ([`RunObserver::run_started`]).
    pub fn start(stages: usize, enabled: bool) -> Self {
        let mut console = console();
        if !shows_live_block(enabled, console.log_format, io::stderr().is_terminal()) {
            return LiveProgress { ticker: None };
        }
        console.live = Some(LiveBlock::new("", stages, Instant::now()));
        drop(console);
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let (lock, wake) = &*signal;
            let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
            while !*stopped {
                redraw();
                stopped = wake.wait_timeout(stopped, REDRAW_EVERY).unwrap_or_else(|e| e.into_inner()).0;
            }
        });
        LiveProgress { ticker: Some((stop, handle)) }
    }

    fn update(&self, change: impl FnOnce(&mut LiveBlock)) {
        if self.ticker.is_some()
            && let Some(live) = console().live.as_mut()
        {
            change(live);
        }
    }
}

impl Drop for LiveProgress {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.ticker.take() {
            *stop.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            stop.1.notify_all();
            let _ = handle.join();
            let mut console = console();
            console.live = None;
            let mut err = io::stderr().lock();
            console.erase(&mut err);
            let _ = err.flush();
        }
    }
}

/// Whether a run shows the live block: asked for (no `--no-progress`), on a terminal, and between
/// text log lines only: with `--log-format json`, stderr is a stream of JSON objects, one a line,
/// that the block's lines and escape codes would break.
fn shows_live_block(enabled: bool, log_format: LogFormat, stderr_is_terminal: bool) -> bool {
    enabled && stderr_is_terminal && log_format == LogFormat::Text
}

fn redraw() {
    let mut console = console();
    let mut err = io::stderr().lock();
    console.erase(&mut err);
    console.draw(&mut err);
}

impl RunObserver for LiveProgress {
    fn run_started(&self, run_id: &str, _dir: &Path) {
        self.update(|live| live.run_id = run_id.to_owned());
    }

    fn stage_started(&self, stage: &str, attempt: u32) {
        self.update(|live| live.started(stage, attempt, Instant::now()));
    }

    fn stage_progress(&self, stage: &str, rows_in: u64) {
        self.update(|live| live.progress(stage, rows_in));
    }

    fn stage_finished(&self, outcome: &host::run::StageOutcome) {
        self.update(|live| live.finished(&outcome.name));
    }
}

/// What the live block shows: the run, how many stages are done, and each running stage.
#[derive(Debug)]
struct LiveBlock {
    run_id: String,
    stages: usize,
    done: usize,
    started: Instant,
    running: Vec<Running>,
}

#[derive(Debug)]
struct Running {
    stage: String,
    attempt: u32,
    rows_in: u64,
    since: Instant,
}

impl LiveBlock {
    fn new(run_id: &str, stages: usize, started: Instant) -> Self {
        LiveBlock { run_id: run_id.to_owned(), stages, done: 0, started, running: Vec::new() }
    }

    fn started(&mut self, stage: &str, attempt: u32, now: Instant) {
        self.running.retain(|r| r.stage != stage);
        self.running.push(Running { stage: stage.to_owned(), attempt, rows_in: 0, since: now });
    }

    fn progress(&mut self, stage: &str, rows_in: u64) {
        if let Some(running) = self.running.iter_mut().find(|r| r.stage == stage) {
            running.rows_in = rows_in;
        }
    }

    fn finished(&mut self, stage: &str) {
        self.running.retain(|r| r.stage != stage);
        self.done += 1;
    }

    /// The block as lines, each ending in a newline.
    fn render(&self, now: Instant) -> String {
        let elapsed = now.saturating_duration_since(self.started).as_secs_f64();
        let mut out = format!(
            "── run {} · {}/{} stages done · {} running · {elapsed:.1}s\n",
            self.run_id,
            self.done,
            self.stages,
            self.running.len()
        );
        let width = self.running.iter().map(|r| r.stage.len()).max().unwrap_or(0);
        for running in &self.running {
            let seconds = now.saturating_duration_since(running.since).as_secs_f64();
            let attempt = if running.attempt > 1 { format!("  (attempt {})", running.attempt) } else { String::new() };
            out.push_str(&format!(
                "   ▸ {:width$}  {:>13} rows  {seconds:6.1}s{attempt}\n",
                running.stage,
                thousands(running.rows_in),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_terminal_shows_warnings_unless_asked_and_the_run_log_keeps_info() {
        assert_eq!(default_levels(0, LogFormat::Text), ("warn", "info"));
        assert_eq!(default_levels(1, LogFormat::Text), ("info", "info"));
        assert_eq!(default_levels(2, LogFormat::Text), ("debug", "debug"));
        assert_eq!(default_levels(3, LogFormat::Text), ("trace", "trace"));
        // A log collector reading JSON lines gets what the file gets.
        assert_eq!(default_levels(0, LogFormat::Json), ("info", "info"));
    }

    #[test]
    fn the_live_block_is_drawn_only_on_a_terminal_between_text_log_lines() {
        assert!(shows_live_block(true, LogFormat::Text, true));
        assert!(!shows_live_block(true, LogFormat::Json, true));
        assert!(!shows_live_block(false, LogFormat::Text, true));
        assert!(!shows_live_block(true, LogFormat::Text, false));
        assert!(!shows_live_block(true, LogFormat::Json, false));
    }

    #[test]
    fn live_block_shows_running_stages_with_rows_and_time() {
        let t0 = Instant::now();
        let mut block = LiveBlock::new("r1", 4, t0);
        block.started("ingest_orders", 1, t0);
        block.started("validate_orders", 2, t0 + Duration::from_secs(1));
        block.progress("ingest_orders", 1_500_000);
        block.progress("no_such_stage", 7);
        let text = block.render(t0 + Duration::from_millis(2500));
        assert_eq!(
            text,
            "── run r1 · 0/4 stages done · 2 running · 2.5s\n\
             \x20  ▸ ingest_orders        1,500,000 rows     2.5s\n\
             \x20  ▸ validate_orders              0 rows     1.5s  (attempt 2)\n"
        );
        block.finished("ingest_orders");
        let text = block.render(t0 + Duration::from_secs(3));
        assert!(text.starts_with("── run r1 · 1/4 stages done · 1 running · 3.0s\n"), "{text}");
        assert_eq!(text.lines().count(), 2);
    }
}
