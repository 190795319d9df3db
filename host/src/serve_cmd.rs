//! `host serve`: the read-only dashboard and `/metrics` over a run store (see
//! [`host::monitor`]). Prints the address it listens on, then serves until killed.

use std::io::Write;

use anyhow::Result;
use host::monitor::{Monitor, Server};

use crate::cli::ServeArgs;
use crate::pipeline_cmd::InvalidConfig;

pub fn serve(args: &ServeArgs) -> Result<u8> {
    let monitor = match (&args.pipeline, &args.state_dir) {
        (Some(file), _) => {
            Monitor::for_pipeline(file, args.env.as_deref()).map_err(|e| InvalidConfig(e.to_string()))?
        }
        (None, Some(dir)) => Monitor::for_state_dir(dir),
        // clap requires one of the two.
        (None, None) => return Err(InvalidConfig("give --pipeline FILE or --state-dir DIR".into()).into()),
    };
    let server = Server::bind(monitor, &args.bind)?;
    let addr = server.local_addr();
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the dashboard is reachable from other machines: it has no authentication");
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "serving http://{addr}/")?;
    out.flush()?;
    drop(out);
    server.run();
    Ok(crate::exit::SUCCESS)
}
