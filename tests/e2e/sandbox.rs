//! The sandbox against the hostile fixture plugin: every kind of misbehaviour fails its stage with
//! a message that says what happened, the host survives, and healthy stages in the same process
//! keep working afterwards.

use std::net::TcpListener;
use std::time::Duration;

use host::runtime::{Limits, Runtime, RuntimeOptions, StageError, StageErrorKind};
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

/// Opens the hostile fixture in `mode` expecting `open` itself to fail.
fn refused_at_open(config: serde_json::Value, limits: &Limits) -> StageError {
    plugin("hostile").open("hostile_stage", &config.to_string(), limits).expect_err("open fails")
}

#[test]
fn ports_named_like_paths_are_refused_when_the_instance_opens() {
    let config = json!({"mode": "ports", "inputs": ["in", "in"], "outputs": ["../../../../tmp/x", "/tmp/x", "a.b", "<table>", "out"]});
    let error = refused_at_open(config, &Limits::default());
    let rule = "it must be 1 to 64 ASCII letters, digits, `_` or `-`, starting with a letter";
    assert_eq!(
        message(&error),
        format!(
            "stage \"hostile_stage\" (plugin hostile.wasm): `ports` returned ports the host refuses: \
             input port `in` is declared twice; output port name `../../../../tmp/x` is not allowed: {rule}; \
             output port name `/tmp/x` is not allowed: {rule}; output port name `a.b` is not allowed: {rule}; \
             output port name `<table>` is not allowed: {rule}"
        )
    );
    let many: Vec<String> = (0..65).map(|i| format!("p{i}")).collect();
    let error = refused_at_open(json!({"mode": "ports", "inputs": ["in"], "outputs": many}), &Limits::default());
    assert_eq!(
        message(&error),
        "stage \"hostile_stage\" (plugin hostile.wasm): `ports` returned ports the host refuses: \
         65 output ports, more than the limit of 64"
    );
}

#[test]
fn names_from_describe_are_checked_when_the_plugin_loads() {
    let path = crate::common::plugin_path("bad-describe");
    let error = crate::common::runtime().load(&path, &Limits::default()).expect_err("refused");
    let rule = "it must be 1 to 64 ASCII letters, digits, `_` or `-`, starting with a letter";
    assert_eq!(
        error.to_string(),
        format!(
            "plugin {}: `describe` returned what the host refuses: plugin name `bad\\n\\u{{1b}}[2Jdescribe` \
             is not allowed: {rule}; input port `in` is declared twice; output port name \
             `../../../../tmp/etl-escape` is not allowed: {rule}; output port name `/tmp/etl-escape` is not \
             allowed: {rule}; output port name `.hidden` is not allowed: {rule}",
            path.display()
        )
    );
}

#[test]
fn describe_runs_under_the_limits_it_is_given() {
    let path = crate::common::plugin_path("slow-describe");
    let runtime = crate::common::runtime();
    let limits = Limits { memory_bytes: 64 << 20, ..Limits::default() };
    let error = runtime.load(&path, &limits).expect_err("out of memory");
    assert_eq!(
        error.to_string(),
        format!("plugin {}: `describe` exceeded the memory limit of 64 MiB (it asked for 263296 KiB)", path.display())
    );
    let limits = Limits { call_timeout: Duration::from_millis(300), ..Limits::default() };
    let error = runtime.load(&path, &limits).expect_err("out of time");
    assert_eq!(
        error.to_string(),
        format!("plugin {}: `describe` exceeded the call time limit of 300ms", path.display())
    );
}

#[test]
fn limits_in_open_are_reported_as_limits() {
    let limits = Limits { call_timeout: Duration::from_millis(200), memory_bytes: 32 << 20, ..Limits::default() };
    let error = refused_at_open(json!({"mode": "open_loop"}), &limits);
    assert_eq!(
        message(&error),
        "stage \"hostile_stage\" (plugin hostile.wasm): `open` exceeded the call time limit of 200ms"
    );
    let error = refused_at_open(json!({"mode": "open_alloc"}), &limits);
    assert!(matches!(error.kind, StageErrorKind::Memory { call: "open", limit, .. } if limit == 32 << 20), "{error}");
    assert!(message(&error).starts_with(
        "stage \"hostile_stage\" (plugin hostile.wasm): `open` exceeded the memory limit of 32 MiB (it asked for "
    ));
}

#[test]
fn growing_past_what_wasm32_can_address_is_a_memory_error() {
    // Within the limit: the limit is named with the size asked for.
    let error = misbehave(json!({"mode": "grow", "pages": 65536}), Limits::default(), 1);
    assert_eq!(
        message(&error),
        "stage \"hostile_stage\" (plugin hostile.wasm): `push` exceeded the memory limit of 1 GiB \
         (it asked for 4195456 KiB)"
    );
    // A limit past 4 GiB (a pipeline file can't set one; the library can): the growth fails in
    // the engine, and is still reported as the memory limit, not as a trap.
    let limits = Limits { memory_bytes: 8 << 30, ..Limits::default() };
    let error = misbehave(json!({"mode": "grow", "pages": 65536}), limits, 1);
    assert_eq!(
        message(&error),
        "stage \"hostile_stage\" (plugin hostile.wasm): `push` exceeded the memory limit of 8 GiB \
         (it asked for more than the 4 GiB a wasm32 plugin can address)"
    );
}

#[test]
fn the_stage_s_total_output_is_bounded() {
    // Each push returns a batch of 1000 one-byte rows (about 1.3 KiB of IPC): the tenth crosses 12 KiB.
    let limits = Limits { total_output_bytes: 12 << 10, ..Limits::default() };
    let error = misbehave(json!({"mode": "huge_output", "rows": 1000}), limits, 20);
    assert_eq!(
        message(&error),
        "stage \"hostile_stage\" (plugin hostile.wasm): `push` took the stage's output past its total \
         output limit of 12 KiB"
    );
}

#[test]
fn the_memory_budget_is_shared_by_every_sandbox_of_the_runtime() {
    // A runtime of its own: the budget is process-wide state the other tests must not see.
    let options =
        RuntimeOptions { cache_dir: Some(crate::common::cache_dir()), memory_budget: 96 << 20, ..Default::default() };
    let runtime = Runtime::new(options).expect("runtime starts");
    let hostile = runtime.load(&crate::common::plugin_path("hostile"), &Limits::default()).expect("loads");
    let batch = orders(10);
    // 64 MiB held by one instance...
    let mut holder = hostile.open("holder", r#"{"mode": "grow", "pages": 1024}"#, &Limits::default()).expect("opens");
    holder.push("in", &batch).expect("the first 64 MiB fit");
    let held = runtime.memory_budget().in_use();
    assert!(held >= 64 << 20, "{held}");
    // ...leave another less than 32 MiB, whatever its own limit.
    let mut hoarder = hostile.open("hoarder", r#"{"mode": "alloc"}"#, &Limits::default()).expect("opens");
    let error = hoarder.push("in", &batch).expect_err("the budget runs out");
    let StageErrorKind::MemoryBudget { call: "push", budget, requested, in_use } = error.kind else {
        panic!("expected the budget: {error}")
    };
    assert_eq!(budget, 96 << 20);
    assert!(requested > budget - held && in_use >= held, "{requested} {in_use}");
    assert!(
        message(&error).starts_with("stage \"hoarder\" (plugin hostile.wasm): `push` could not grow its memory to ")
            && message(&error).contains(": the run's memory budget for all sandboxes is 96 MiB and "),
        "{error}"
    );
    // Dropped instances give their memory back.
    drop((holder, hoarder));
    assert_eq!(runtime.memory_budget().in_use(), 0);
    let mut again = hostile.open("again", r#"{"mode": "grow", "pages": 1024}"#, &Limits::default()).expect("opens");
    again.push("in", &batch).expect("the memory is free again");
}

#[test]
fn plugin_text_is_cut_and_escaped_before_it_reaches_an_error() {
    let forged = "\n  ✓ load_warehouse: 9 records (0.01s)\u{1b}[2J\r\0";
    let escaped = "\\n  ✓ load_warehouse: 9 records (0.01s)\\u{1b}[2J\\r\\u{0}";
    let error = misbehave(json!({"mode": "fail", "message": forged, "repeat": 1}), Limits::default(), 1);
    assert_eq!(message(&error), format!("stage \"hostile_stage\" (plugin hostile.wasm): {escaped}"));

    // 64 MiB of message: kept to 4 KiB of whole escapes and a note of the rest.
    let repeat = (64 << 20) / forged.len();
    let error = misbehave(json!({"mode": "fail", "message": forged, "repeat": repeat}), Limits::default(), 1);
    let StageErrorKind::Failed(text) = &error.kind else { panic!("{error}") };
    let whole = 4096 / escaped.len();
    let kept = escaped.repeat(whole);
    assert!(text.starts_with(&kept), "{text}");
    assert!(text.len() <= 4096 + 40, "{}", text.len());
    assert!(text.ends_with(" more bytes]"), "{text}");
    assert!(!text.chars().any(char::is_control), "{text}");

    let error = misbehave(json!({"mode": "panic_with", "message": forged, "repeat": repeat}), Limits::default(), 1);
    let StageErrorKind::Panic { call: "push", message } = &error.kind else { panic!("{error}") };
    assert!(message.starts_with(&kept) && message.len() <= 4096 + 40, "{message}");
}

#[test]
fn metrics_are_bounded_in_number_and_checked_by_name() {
    let config = json!({"mode": "metrics", "count": 100_000, "name": "x\n\u{1b}[2J", "repeat": 1});
    let mut stage = plugin("hostile").open("counter", &config.to_string(), &Limits::default()).expect("opens");
    stage.push("in", &orders(1)).expect("push");
    stage.finish().expect("finish");
    let metrics = stage.metrics().expect("metrics");
    assert_eq!(metrics.len(), host::runtime::MAX_METRICS);
    assert_eq!(metrics[0], ("calls".to_owned(), 1));
    assert_eq!(metrics[999], ("m998".to_owned(), 998));
    assert!(metrics.iter().all(|(name, _)| !name.contains('\n')));
}

#[test]
fn column_names_with_control_characters_are_refused() {
    let error = misbehave(json!({"mode": "column", "name": "total\n\u{1b}[2J"}), Limits::default(), 1);
    assert_eq!(
        message(&error),
        "stage \"hostile_stage\" (plugin hostile.wasm): `push` returned columns on port `out` the host refuses: \
         column name `total\\n\\u{1b}[2J` has control characters"
    );
    let long = "c".repeat(300);
    let error = misbehave(json!({"mode": "column", "name": long}), Limits::default(), 1);
    assert_eq!(
        message(&error),
        format!(
            "stage \"hostile_stage\" (plugin hostile.wasm): `push` returned columns on port `out` the host \
             refuses: column name `{} [cut: 220 more bytes]` is longer than 256 bytes",
            "c".repeat(80)
        )
    );
}
