//! The HTTP side: binding, routing, and the responses. `tiny_http` parses HTTP/1.1 on its own
//! threads; requests are answered one at a time on the thread that calls [`Server::run`]
//! (each reads the store for a few milliseconds; the dashboard has a handful of readers).

use std::net::SocketAddr;

use serde::Serialize;

use super::{Monitor, MonitorError, html, metrics};
use crate::state::Timestamp;
use crate::untrusted;

/// Runs listed by default, and at most.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
/// The days of the second success-rate window by default.
const DEFAULT_DAYS: u32 = 7;

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

/// Pages may load their own stylesheet and script and nothing else: even a string that escaped
/// escaping could not run.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A bound dashboard server.
pub struct Server {
    http: tiny_http::Server,
    addr: SocketAddr,
    monitor: Monitor,
}

/// What a request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    fn html(status: u16, body: String) -> Self {
        Reply { status, content_type: "text/html; charset=utf-8", body: body.into_bytes() }
    }

    fn json(value: &impl Serialize) -> Self {
        match serde_json::to_vec_pretty(value) {
            Ok(body) => Reply { status: 200, content_type: "application/json", body },
            Err(error) => Reply::error(&error.to_string()),
        }
    }

    fn json_status(status: u16, message: &str) -> Self {
        let body = serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default();
        Reply { status, content_type: "application/json", body }
    }

    fn text(status: u16, content_type: &'static str, body: &str) -> Self {
        Reply { status, content_type, body: body.as_bytes().to_vec() }
    }

    fn error(message: &str) -> Self {
        tracing::warn!(%message, "dashboard request failed");
        Reply::text(500, "text/plain; charset=utf-8", &format!("error: {message}\n"))
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).field("monitor", &self.monitor).finish_non_exhaustive()
    }
}

impl Server {
    /// Listens on `addr` (`127.0.0.1:8080`; port 0 picks a free one).
    pub fn bind(monitor: Monitor, addr: &str) -> Result<Self, MonitorError> {
        let bind_error = |message: String| MonitorError::Bind { addr: addr.to_owned(), message };
        let http = tiny_http::Server::http(addr).map_err(|e| bind_error(e.to_string()))?;
        let bound =
            http.server_addr().to_ip().ok_or_else(|| bind_error("not an IP address (this is a bug)".to_owned()))?;
        Ok(Server { http, addr: bound, monitor })
    }

    /// The address bound (with the port picked when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers requests until the process ends.
    pub fn run(&self) {
        for request in self.http.incoming_requests() {
            let head = matches!(request.method(), tiny_http::Method::Head);
            let reply = match request.method() {
                tiny_http::Method::Get | tiny_http::Method::Head => self.monitor.reply(request.url()),
                _ => Reply::text(405, "text/plain; charset=utf-8", "read-only: GET only\n"),
            };
            let status = reply.status;
            // The access log (`host serve -v`): the URL is the client's text, escaped.
            tracing::info!(method = %request.method(), url = %untrusted::escape(request.url()), status, "request");
            let mut response = tiny_http::Response::from_data(if head { Vec::new() } else { reply.body });
            for (name, value) in [
                ("Content-Type", reply.content_type),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
                ("Content-Security-Policy", CSP),
                ("Referrer-Policy", "no-referrer"),
            ] {
                if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                    response.add_header(header);
                }
            }
            if let Err(error) = request.respond(response.with_status_code(status)) {
                tracing::debug!(%error, "dashboard client went away");
            }
        }
    }
}

impl Monitor {
    /// The reply to `GET url` (a path with an optional query).
    pub fn reply(&self, url: &str) -> Reply {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let param =
            |name: &str| query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v);
        let limit = param("limit").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let days = param("days").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_DAYS);
        let now = Timestamp::now();
        let result = match path.trim_end_matches('/') {
            "" => self.runs_page(limit, days, now).map(|page| Reply::html(200, html::runs_page(&page))),
            "/api/runs" => self.runs_page(limit, days, now).map(|page| Reply::json(&page)),
            "/pipeline" => Ok(Reply::html(200, html::pipeline_page(self.pipeline().map(|p| &p.graph)))),
            "/api/pipeline" => Ok(match self.pipeline() {
                Some(pipeline) => Reply::json(&pipeline.graph),
                None => Reply::json_status(404, "no pipeline: start host serve with --pipeline FILE"),
            }),
            "/metrics" => self.metrics_text().map(|text| Reply::text(200, metrics::CONTENT_TYPE, &text)),
            "/assets/app.css" => Ok(Reply::text(200, "text/css; charset=utf-8", CSS)),
            "/assets/app.js" => Ok(Reply::text(200, "text/javascript; charset=utf-8", JS)),
            other => {
                if let Some(id) = other.strip_prefix("/api/runs/") {
                    self.run_page(id).map(|page| match page {
                        Some(page) => Reply::json(&page),
                        None => Reply::json_status(404, &format!("run {id} not found")),
                    })
                } else if let Some(id) = other.strip_prefix("/runs/") {
                    self.run_page(id).map(|page| match page {
                        Some(page) => Reply::html(200, html::run_page(&page, now.unix_millis())),
                        None => Reply::html(404, html::not_found(&format!("run {id} not found"))),
                    })
                } else {
                    Ok(Reply::html(404, html::not_found(&format!("no page at {other}"))))
                }
            }
        };
        result.unwrap_or_else(|error| Reply::error(&error.to_string()))
    }
}
