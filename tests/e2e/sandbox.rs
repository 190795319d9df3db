//! The sandbox against the hostile fixture plugin: every kind of misbehaviour fails its stage with
//! a message that says what happened, the host survives, and healthy stages in the same process
//! keep working afterwards.

use std::net::TcpListener;
use std::time::Duration;

use host::runtime::{Limits, StageError, StageErrorKind};
use serde_json::json;

use crate::common::{orders, plugin};

/// Opens the hostile fixture in `mode`, pushes `pushes` batches and returns the first error.
fn misbehave(config: serde_json::Value, limits: Limits, pushes: usize) -> StageError {
    let hostile = plugin("hostile");
    let mut stage = hostile.open("hostile_stage", &config.to_string(), &limits).expect("hostile plugin opens");
    let batch = orders(100);
    for _ in 0..pushes {
        if let Err(error) = stage.push("in", &batch) {
            // A failed instance is never used again.
            let again = stage.push("in", &batch).expect_err("a failed instance refuses further calls");
            assert!(matches!(again.kind, StageErrorKind::Poisoned | StageErrorKind::Failed(_)), "{again}");
            assert_healthy_stages_still_work();
            return error;
        }
    }
    panic!("hostile plugin in {config} did not fail");
}

/// The identity plugin and the hostile plugin in `echo` mode both still work.
fn assert_healthy_stages_still_work() {
    let batch = orders(1000);
    for (name, config) in [("identity", "{}"), ("hostile", r#"{"mode": "echo"}"#)] {
        let mut stage = plugin(name).open("healthy", config, &Limits::default()).expect("healthy plugin opens");
        let outputs = stage.push("in", &batch).expect("healthy push works");
        assert_eq!(outputs.len(), 1);
        assert_eq!(outputs[0].port, "out");
        assert_eq!(outputs[0].batches, vec![batch.clone()]);
        stage.finish().expect("healthy finish works");
    }
}

fn message(error: &StageError) -> String {
    error.to_string()
}

#[test]
fn an_endless_loop_hits_the_call_time_limit() {
    let limits = Limits { call_timeout: Duration::from_millis(200), ..Limits::default() };
    let error = misbehave(json!({"mode": "loop"}), limits, 1);
    assert!(matches!(error.kind, StageErrorKind::Timeout { call: "push", .. }), "{error}");
    assert_eq!(
        message(&error),
        "stage \"hostile_stage\" (plugin hostile.wasm): `push` exceeded the call time limit of 200ms"
    );
}

#[test]
fn unbounded_allocation_hits_the_memory_limit() {
    let limits = Limits { memory_bytes: 64 << 20, ..Limits::default() };
    let error = misbehave(json!({"mode": "alloc"}), limits, 1);
    assert!(matches!(error.kind, StageErrorKind::Memory { call: "push", limit, .. } if limit == 64 << 20), "{error}");
    assert!(message(&error).contains("`push` exceeded the memory limit of 64 MiB"), "{error}");
}

#[test]
fn a_panic_fails_the_stage_with_its_message() {
    let error = misbehave(json!({"mode": "panic"}), Limits::default(), 1);
    assert!(matches!(error.kind, StageErrorKind::Panic { call: "push", .. }), "{error}");
    assert!(message(&error).contains("plugin panicked in `push`"), "{error}");
    assert!(message(&error).contains("hostile fixture panics on purpose"), "{error}");
}

#[test]
fn files_are_out_of_reach() {
    for path in ["/etc/passwd", "Cargo.toml", "../../Cargo.toml"] {
        let error = misbehave(json!({"mode": "read_file", "path": path}), Limits::default(), 1);
        let StageErrorKind::Failed(message) = &error.kind else { panic!("expected the plugin's own failure: {error}") };
        assert!(message.starts_with(&format!("read {path}: ")), "{message}");
    }
}

#[test]
fn the_environment_is_empty() {
    // The test process has variables (PATH, CARGO_*); the plugin must see none of them.
    assert!(std::env::vars().count() > 0);
    let error = misbehave(json!({"mode": "env"}), Limits::default(), 1);
    assert!(matches!(&error.kind, StageErrorKind::Failed(m) if m == "environment: no variables visible"), "{error}");
}

#[test]
fn the_network_is_out_of_reach() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("non-blocking listener");
    let addr = listener.local_addr().expect("bound address").to_string();
    let error = misbehave(json!({"mode": "socket", "addr": addr}), Limits::default(), 1);
    let StageErrorKind::Failed(message) = &error.kind else { panic!("expected the plugin's own failure: {error}") };
    assert!(message.starts_with(&format!("connect {addr}: ")), "{message}");
    assert!(listener.accept().is_err(), "the plugin reached the listener");
}

#[test]
fn garbage_output_is_refused() {
    let error = misbehave(json!({"mode": "garbage"}), Limits::default(), 1);
    assert!(matches!(&error.kind, StageErrorKind::BadIpc { call: "push", port, .. } if port == "out"), "{error}");
    assert!(message(&error).contains("returned malformed Arrow IPC on port `out`"), "{error}");
}

#[test]
fn output_on_an_undeclared_port_is_refused() {
    let error = misbehave(json!({"mode": "undeclared_port"}), Limits::default(), 1);
    assert_eq!(
        message(&error),
        "stage \"hostile_stage\" (plugin hostile.wasm): `push` returned a batch on port `sneaky`, \
         which the plugin does not declare (outputs: out)"
    );
}

#[test]
fn a_schema_change_between_batches_is_refused() {
    let error = misbehave(json!({"mode": "schema_change"}), Limits::default(), 3);
    assert!(matches!(&error.kind, StageErrorKind::SchemaChanged { port, .. } if port == "out"), "{error}");
    assert!(message(&error).contains("column_1"), "names the schema before: {error}");
    assert!(message(&error).contains("column_2"), "names the schema after: {error}");
}

#[test]
fn too_many_output_rows_are_refused() {
    let limits = Limits { output_rows: 1000, ..Limits::default() };
    let error = misbehave(json!({"mode": "huge_output", "rows": 5000}), limits, 1);
    assert!(matches!(error.kind, StageErrorKind::OutputRows { call: "push", rows: 5000, limit: 1000 }), "{error}");
}

#[test]
fn too_many_output_bytes_are_refused() {
    let limits = Limits { output_bytes: 64 << 10, ..Limits::default() };
    let error = misbehave(json!({"mode": "huge_output", "rows": 1_000_000}), limits, 1);
    assert!(matches!(error.kind, StageErrorKind::OutputBytes { call: "push", .. }), "{error}");
    assert!(message(&error).contains("returned more than the output limit of 64 KiB"), "{error}");
}

#[test]
fn a_bad_config_is_refused_at_open() {
    let error = plugin("hostile")
        .open("hostile_stage", r#"{"mode": "teleport"}"#, &Limits::default())
        .expect_err("unknown mode is refused");
    assert!(matches!(error.kind, StageErrorKind::InvalidConfig(_)), "{error}");
    assert!(message(&error).contains("teleport"), "{error}");
}

#[test]
fn pushing_to_an_undeclared_input_is_refused() {
    let mut stage = plugin("identity").open("identity", "{}", &Limits::default()).expect("opens");
    let error = stage.push("elsewhere", &orders(1)).expect_err("undeclared input");
    assert_eq!(message(&error), "stage \"identity\" (plugin identity.wasm): no input port `elsewhere` (inputs: in)");
}

#[test]
fn identity_round_trips_every_column_type_and_counts() {
    let mut stage = plugin("identity").open("identity", "", &Limits::default()).expect("opens");
    let batches = [orders(0), orders(1), orders(10_000)];
    for batch in &batches {
        let outputs = stage.push("in", batch).expect("push");
        assert_eq!(outputs.iter().map(|o| o.rows()).sum::<usize>(), batch.num_rows());
        assert_eq!(outputs[0].batches, vec![batch.clone()]);
    }
    assert!(stage.finish().expect("finish").is_empty());
    let metrics = stage.metrics().expect("metrics");
    assert_eq!(metrics, vec![("rows".to_owned(), 10_001), ("batches".to_owned(), 3)]);
    let stats = stage.stats();
    assert_eq!((stats.rows_in, stats.rows_out), (10_001, 10_001));
}
