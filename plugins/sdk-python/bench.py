#!/usr/bin/env python3
"""Throughput of the example Python filter in the real sandbox, beside ingest alone and Rust stages.

    python3 plugins/sdk-python/bench.py [--rows 200000] [--runs 5]

Generates deterministic order lines (order_id text, order_date date, quantity int64,
unit_price decimal(10,2), 1% nulls), builds the example with build.sh, and runs small pipelines
through ``target/release/host run --json``: ingest -> stage -> report. Prints each stage's median
duration over the runs and its rows/s. The Rust comparisons use the plugins already built in
target/wasm32-wasip2/plugin (``just build-plugins``); they are skipped when missing. Everything is
written under target/py-plugin/bench. Stdlib only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import shutil
import statistics
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

SDK = Path(__file__).resolve().parent
ROOT = SDK.parents[1]
RUST_PLUGINS = ROOT / "target" / "wasm32-wasip2" / "plugin"

# name -> (plugin directory, the stages between ingest and the report, the report's input)
PIPELINES = {
    "python high-value": ("py", """
  - name: stage
    plugin: high_value.wasm
    inputs: { input: ingest_lines }
    config: { min_amount: "100.00" }""", "stage.output"),
    "python identity": ("py", """
  - name: stage
    plugin: py_identity.wasm
    inputs: { in: ingest_lines }""", "stage.out"),
    "rust identity": ("rust", """
  - name: stage
    plugin: identity.wasm
    inputs: { in: ingest_lines }""", "stage.out"),
    "rust enrich+validate (the same filter)": ("rust", """
  - name: amount
    plugin: enrich.wasm
    inputs: { in: ingest_lines }
    config: { derive: [{ name: amount, multiply: [quantity, unit_price], type: "decimal(18,2)" }] }
  - name: stage
    plugin: validate.wasm
    inputs: { in: amount.out }
    config: { rules: [{ rule: in_range, column: amount, min: "100.01" }] }""", "stage.valid"),
}


PY_IDENTITY = '''from etl_stage import Stage, export


class PyIdentity(Stage):
    """Forwards every batch: the Python SDK's IPC decoding and encoding, nothing else."""

    name = "py-identity"
    inputs = {"in": "any batches"}
    outputs = {"out": "the same batches"}

    def push(self, port, batch):
        self.emit("out", batch)


export(PyIdentity)
'''


def generate(path: Path, rows: int) -> int:
    """Writes the CSV; returns how many lines the filter must keep."""
    rng = random.Random(42)
    start = datetime.date(2024, 1, 1)
    kept = 0
    with open(path, "w") as f:
        f.write("order_id,order_date,quantity,unit_price\n")
        for i in range(rows):
            q = None if rng.random() < 0.01 else rng.randint(1, 20)
            p = None if rng.random() < 0.01 else Decimal(rng.randint(1, 9999)).scaleb(-2)
            kept += q is not None and p is not None and q * p > 100
            day = start + datetime.timedelta(days=rng.randint(0, 365))
            f.write(f"o-{i:07d},{day},{'' if q is None else q},{'' if p is None else p}\n")
    return kept


def pipeline(work: Path, name: str, plugin_dir: Path, stages: str, report_input: str) -> Path:
    slug = "_".join(name.split()[:2]).replace("-", "_").replace("+", "_")
    out = work / "out" / slug
    file = work / f"{slug}.yaml"
    file.write_text(f"""pipeline: bench_{slug}
paths: {{raw_data: {work}/raw, warehouse: {out}/wh, quarantine: {out}/q, reports: {out}/r, state: {out}/state}}
plugin_dir: {plugin_dir}
stages:
  - name: ingest_lines
    ingest:
      file: lines.csv
      columns:
        - {{ name: order_id, type: text }}
        - {{ name: order_date, type: date }}
        - {{ name: quantity, type: int64 }}
        - {{ name: unit_price, type: "decimal(10,2)" }}
{stages}
  - name: report
    reports:
      - {{ file: out.csv, input: {report_input}, columns: [order_id, order_date, quantity, unit_price], sort_by: [order_id] }}
""")
    return file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--host", type=Path, default=ROOT / "target" / "release" / "host")
    args = parser.parse_args()
    if not args.host.is_file():
        sys.exit(f"bench.py: no host binary at {args.host}")

    work = ROOT / "target" / "py-plugin" / "bench"
    shutil.rmtree(work, ignore_errors=True)
    (work / "raw").mkdir(parents=True)
    kept = generate(work / "raw" / "lines.csv", args.rows)
    py_plugins = work / "plugins"
    subprocess.run([str(SDK / "build.sh"), str(SDK / "examples" / "high_value"), str(py_plugins / "high_value.wasm")], check=True)
    # The SDK's own cost: decode and re-encode every batch, nothing else.
    identity = work / "py_identity"
    identity.mkdir()
    (identity / "app.py").write_text(PY_IDENTITY)
    subprocess.run([str(SDK / "build.sh"), str(identity), str(py_plugins / "py_identity.wasm")], check=True)
    for plugin in ("high_value", "py_identity"):
        # The first load compiles the component (cached by digest afterwards): not part of a run.
        subprocess.run([str(args.host), "plugin", "inspect", str(py_plugins / f"{plugin}.wasm")], check=True, capture_output=True)

    print(f"{args.rows} rows, {kept} of them worth more than 100.00; median of {args.runs} runs")
    print(f"{'pipeline':42} {'stage':14} {'seconds':>8} {'rows/s':>11}")
    for name, (kind, stages, report_input) in PIPELINES.items():
        plugin_dir = py_plugins if kind == "py" else RUST_PLUGINS
        if kind == "rust" and not all((RUST_PLUGINS / f"{p}.wasm").is_file() for p in ("identity", "enrich", "validate")):
            print(f"{name:42} (skipped: build the Rust plugins with `just build-plugins`)")
            continue
        file = pipeline(work, name, plugin_dir, stages, report_input)
        durations: dict = {}
        for _ in range(args.runs):
            shutil.rmtree(work / "out", ignore_errors=True)
            done = subprocess.run([str(args.host), "run", "--pipeline", str(file), "--json"], capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"bench.py: {name} failed:\n{done.stdout}{done.stderr}")
            for stage in json.loads(done.stdout)["stages"]:
                durations.setdefault(stage["name"], []).append(stage["duration_s"])
                if stage["name"] == "stage" and stage["report"]["rows_out"] not in (kept, args.rows):
                    sys.exit(f"bench.py: {name} kept {stage['report']['rows_out']} rows, expected {kept}")
        for stage, seconds in durations.items():
            if stage == "report":
                continue
            median = statistics.median(seconds)
            print(f"{name:42} {stage:14} {median:8.3f} {args.rows / median:11,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
