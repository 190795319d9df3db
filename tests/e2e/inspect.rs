//! `host plugin inspect` on every plugin the workspace builds.

use crate::common::{host, plugin_dir, plugin_path, show};

#[test]
fn inspects_every_built_plugin_in_text_and_json() {
    let mut seen = 0;
    for entry in std::fs::read_dir(plugin_dir()).expect("plugins are built") {
        let path = entry.expect("readable dir").path();
        // Fixtures the host refuses to load (tested where their refusal is).
        let refused = ["future_contract", "bad_describe", "slow_describe"];
        if path.extension().is_none_or(|e| e != "wasm")
            || path.file_stem().is_some_and(|s| refused.iter().any(|r| s == *r))
        {
            continue;
        }
        seen += 1;
        let path = path.to_str().expect("utf-8 path");

        let text = host(&["plugin", "inspect", path], "warn");
        assert!(text.status.success(), "{}", show(&text));
        let stdout = String::from_utf8_lossy(&text.stdout);
        for heading in ["sha256", "contract  etl:stage@0.2.0", "inputs", "outputs", "config", "imports"] {
            assert!(stdout.contains(heading), "missing {heading:?} in:\n{stdout}");
        }

        let json = host(&["plugin", "inspect", "--json", path], "warn");
        assert!(json.status.success(), "{}", show(&json));
        let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("inspect --json prints JSON");
        assert_eq!(value["contract"], "etl:stage@0.2.0");
        assert_eq!(value["sha256"].as_str().map(str::len), Some(64));
        assert!(value["inputs"].is_array() && value["outputs"].is_array(), "{value}");
        let imports = value["imports"].as_array().expect("imports is an array");
        assert!(imports.iter().any(|n| n.as_str().is_some_and(|n| n.starts_with("etl:stage/log@"))), "{value}");
    }
    assert!(seen >= 2, "expected the identity and hostile plugins at least, found {seen}");

    // A plugin whose `describe` names ports like paths is refused, its names shown escaped.
    let bad = plugin_path("bad-describe");
    let output = host(&["plugin", "inspect", bad.to_str().expect("utf-8 path")], "warn");
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`describe` returned what the host refuses: plugin name `bad\\n\\u{1b}[2Jdescribe`"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

#[test]
fn inspect_shows_ports_and_config_help() {
    let path = plugin_path("identity");
    let output = host(&["plugin", "inspect", path.to_str().expect("utf-8 path")], "warn");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("identity 0.1.0\nForwards every input batch unchanged\n"), "{stdout}");
    assert!(stdout.contains("\ninputs\n  in  any batches\n"), "{stdout}");
    assert!(stdout.contains("\noutputs\n  out  the same batches, in the same order\n"), "{stdout}");
    assert!(stdout.contains("\nconfig\n  Takes no configuration.\n"), "{stdout}");
}

#[test]
fn refuses_a_plugin_built_for_another_contract() {
    let path = plugin_path("future-contract");
    let output = host(&["plugin", "inspect", path.to_str().expect("utf-8 path")], "warn");
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("was built for contract etl:stage@9.0.0, but this host speaks etl:stage@0.2.0"),
        "{stderr}"
    );
}

#[test]
fn names_a_missing_plugin_file() {
    let output = host(&["plugin", "inspect", "no/such/plugin.wasm"], "warn");
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("plugin no/such/plugin.wasm: cannot read"), "{stderr}");
}

#[test]
fn refuses_a_file_that_is_not_a_component() {
    let dir = crate::common::scratch("not-a-component");
    let path = dir.join("garbage.wasm");
    std::fs::write(&path, b"\0asm but not really").expect("write file");
    let output = host(&["plugin", "inspect", path.to_str().expect("utf-8 path")], "warn");
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a valid WebAssembly component"), "{}", show(&output));
}

#[test]
fn usage_errors_exit_with_3() {
    let output = host(&["plugin", "frobnicate"], "warn");
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    // The run store is found from a pipeline or a directory given, never from a built-in one.
    let output = host(&["runs", "list"], "warn");
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--pipeline <FILE>") && stderr.contains("--state-dir <DIR>"), "{stderr}");
}

/// `host plugin test`: the validate plugin on a typed CSV, its outputs, metrics and use of the
/// limits; written out as Arrow and read back as the input of a second test; a failing plugin,
/// an unknown port and an untyped CSV refused clearly.
#[test]
fn plugin_test_runs_a_plugin_in_the_sandbox_on_local_files() {
    let dir = crate::common::scratch("plugin-test");
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("items.csv");
    std::fs::write(&csv, "id,n\na,1\nb,20\nc,x\nd,3\n").unwrap();
    let input = format!("in={}:id text,n int64", csv.display());
    let validate = plugin_path("validate");
    let config = r#"{"rules": [{"rule": "in_range", "column": "n", "min": 1, "max": 10}]}"#;
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let args = ["plugin", "test", validate.to_str().unwrap(), "--input", &input, "--config", config];
    let json = host(&[&args[..], &["--json", "--out", out.to_str().unwrap()]].concat(), "warn");
    assert_eq!(json.status.code(), Some(0), "{}", show(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(report["plugin"], "validate");
    assert_eq!(report["outputs"], serde_json::json!([["valid", 2], ["rejected", 1]]), "{report}");
    let calls: Vec<&str> = report["calls"].as_array().unwrap().iter().map(|c| c["call"].as_str().unwrap()).collect();
    assert_eq!(calls, ["open", "push in #1", "finish"]);
    assert_eq!(report["calls"][1]["rows_in"], 3, "c,x did not parse");
    let metrics: Vec<(String, i64)> = serde_json::from_value(report["metrics"].clone()).unwrap();
    assert!(metrics.contains(&("rows_rejected".to_owned(), 1)), "{metrics:?}");
    let usage = &report["usage"];
    assert!(usage["peak_memory_bytes"].as_u64().unwrap() > 0);
    assert_eq!(usage["memory_limit_bytes"], 1u64 << 30);
    assert!(usage["most_bytes_one_call"].as_u64().unwrap() > 0);
    assert_eq!(usage["bytes_out_total"], report["calls"][1]["bytes_out"]);

    // The valid rows written as Arrow are the input of the next test, as a run's artifacts are.
    let valid = format!("in={}", out.join("valid.arrow").display());
    let text = host(&["plugin", "test", plugin_path("identity").to_str().unwrap(), "--input", &valid], "warn");
    assert_eq!(text.status.code(), Some(0), "{}", show(&text));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("output out: 2 rows") && stdout.contains("| a  | 1 |"), "{stdout}");
    assert!(stdout.contains("limits (used of allowed):") && stdout.contains("of 1.0 GiB"), "{stdout}");

    let hostile = plugin_path("hostile");
    let failed = host(
        &[
            "plugin",
            "test",
            hostile.to_str().unwrap(),
            "--input",
            &input,
            "--config",
            r#"{"mode": "fail", "message": "no <b>", "repeat": 1}"#,
        ],
        "warn",
    );
    assert_eq!(failed.status.code(), Some(2), "{}", show(&failed));
    assert!(
        String::from_utf8_lossy(&failed.stdout)
            .contains("error (failed): stage \"test\" (plugin hostile.wasm): no <b>"),
        "{}",
        show(&failed)
    );

    let lookup = input.replace("in=", "lookup=");
    let unknown = host(&["plugin", "test", validate.to_str().unwrap(), "--input", &lookup, "--config", config], "warn");
    assert_eq!(unknown.status.code(), Some(3), "{}", show(&unknown));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("--input lookup: the plugin has no such input (inputs: in)"),
        "{}",
        show(&unknown)
    );
    let untyped =
        host(&["plugin", "test", validate.to_str().unwrap(), "--input", &format!("in={}", csv.display())], "warn");
    assert_eq!(untyped.status.code(), Some(3), "{}", show(&untyped));
    assert!(
        String::from_utf8_lossy(&untyped.stderr).contains("give the CSV's columns and types"),
        "{}",
        show(&untyped)
    );
}

/// The SDK README's Rust filter (`plugins/examples/high-value`, a [`etl_sdk::Filter`]), built to
/// wasm, in the sandbox on a CSV: the lines worth more than `min_amount`, every column kept, at
/// the decimal's own scale; a config it does not know refused with the key named.
#[test]
fn the_guides_rust_filter_keeps_the_lines_worth_more_than_min_amount() {
    let dir = crate::common::scratch("plugin-test-high-value");
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("lines.csv");
    // 2 * 250.00 = 500.00 is not more than 500.00; 3 * 166.67 = 500.01 is; empty is null.
    let lines = "order_id,quantity,unit_price\na,2,250.00\nb,3,166.67\nc,,999.00\nd,9,\ne,1,500.01\nf,100,5.01\n";
    std::fs::write(&csv, lines).unwrap();
    let input = format!("input={}:order_id text,quantity int64,unit_price decimal(10,2)", csv.display());
    let plugin = plugin_path("high-value");
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let args =
        ["plugin", "test", plugin.to_str().unwrap(), "--input", &input, "--json", "--out", out.to_str().unwrap()];
    let json = host(&[&args[..], &["--config", r#"{"min_amount": "500.00"}"#]].concat(), "warn");
    assert_eq!(json.status.code(), Some(0), "{}", show(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!((&report["plugin"], &report["version"]), (&"high-value".into(), &"0.1.0".into()), "{report}");
    assert_eq!(report["outputs"], serde_json::json!([["output", 3]]), "{report}");

    let file = std::fs::File::open(out.join("output.arrow")).unwrap();
    let batches: Vec<_> = arrow_ipc::reader::FileReader::try_new(file, None).unwrap().map(Result::unwrap).collect();
    let rows = crate::common::row_texts(&batches);
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (row, id) in rows.iter().zip(["b", "e", "f"]) {
        assert!(row.starts_with(&format!("{id}|")), "{rows:?}");
    }
    let price = batches[0].schema().field_with_name("unit_price").unwrap().data_type().clone();
    assert_eq!(price, arrow_schema::DataType::Decimal128(10, 2));

    let refused = host(&[&args[..5], &["--config", r#"{"min": 1}"#]].concat(), "warn");
    assert_eq!(refused.status.code(), Some(3), "{}", show(&refused));
    assert!(
        show(&refused).contains("invalid config: min: unknown field `min`, expected `min_amount`"),
        "{}",
        show(&refused)
    );
}
