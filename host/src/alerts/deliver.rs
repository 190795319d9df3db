//! One delivery: a webhook POST or a command run, within the alert's timeout. `Ok` says how it
//! was delivered (`HTTP 200`, `exit status 0`); `Err` why not. Both are one line of plain text,
//! recorded as they are.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Alert, Target};
use crate::untrusted::PluginText;

/// The most bytes of a failed command's stderr, or of an HTTP error, kept in the record.
const DETAIL_BYTES: usize = 1024;

/// Delivers `body` to `alert`'s target.
pub(super) fn deliver(alert: &Alert, body: &Value) -> Result<String, String> {
    let body = serde_json::to_vec(body).map_err(|e| format!("cannot encode the payload: {e} (this is a bug)"))?;
    match &alert.target {
        Target::Webhook { url, .. } => post(url, &body, alert.timeout),
        Target::Command { argv } => run_command(argv, &body, alert.timeout),
    }
}

/// POSTs `body` as JSON; any 2xx answer is delivered.
fn post(url: &str, body: &[u8], timeout: Duration) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("etl-host/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .map_err(|e| one_line(&format!("POST failed: {e}")))?;
    let status = response.status();
    if status.is_success() { Ok(format!("HTTP {}", status.as_u16())) } else { Err(format!("HTTP {}", status.as_u16())) }
}

/// Runs `argv` with `body` on its standard input; exit status 0 is delivered. Past `timeout`
/// the command is killed.
fn run_command(argv: &[String], body: &[u8], timeout: Duration) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("empty command (this is a bug)")?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| one_line(&format!("cannot start {program}: {e}")))?;
    // Written and read on threads of their own: a command that reads nothing, or writes much
    // to stderr, must not block the wait below.
    let mut stdin = child.stdin.take();
    let body = body.to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(stdin) = stdin.as_mut() {
            // A command may exit without reading its input: that is its business.
            let _ = stdin.write_all(&body);
        }
    });
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(stderr) = stderr {
            let _ = stderr.take(DETAIL_BYTES as u64 * 4).read_to_end(&mut text);
        }
        text
    });
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {}s: killed", timeout.as_secs_f64()));
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => break Err(one_line(&format!("cannot wait for {program}: {e}"))),
        }
    };
    let _ = writer.join();
    // The command is gone; a grandchild holding stderr open could still block this read, so it
    // is only read when the command ended by itself.
    let status = status?;
    let stderr = reader.join().unwrap_or_default();
    match status.code() {
        Some(0) => Ok("exit status 0".to_owned()),
        code => {
            let how = code.map_or_else(|| format!("ended by a signal ({status})"), |c| format!("exit status {c}"));
            let stderr = String::from_utf8_lossy(&stderr);
            let stderr = stderr.trim();
            if stderr.is_empty() { Err(how) } else { Err(format!("{how}: {}", one_line(stderr))) }
        }
    }
}

/// `text` on one line, escaped and bounded like any outside text the host keeps.
fn one_line(text: &str) -> String {
    PluginText::new(text, DETAIL_BYTES).into_string()
}
