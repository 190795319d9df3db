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
