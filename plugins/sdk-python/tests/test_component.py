"""The example built into a real component with build.sh and run by the real host, in its sandbox.

Slow (a componentize-py build, and the host's first compile of the component), so it runs only
with ETL_STAGE_COMPONENT_TEST=1 (``ETL_STAGE_COMPONENT_TEST=1 plugins/sdk-python/test.sh``); it
needs the host binary at target/release/host, or at $ETL_HOST.
"""

import csv
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[1]
HOST = Path(os.environ.get("ETL_HOST", SDK.parents[1] / "target" / "release" / "host"))

pytestmark = pytest.mark.skipif(
    os.environ.get("ETL_STAGE_COMPONENT_TEST") != "1", reason="set ETL_STAGE_COMPONENT_TEST=1 to build and run a component"
)

LINES = """order_id,quantity,unit_price
o-1,1,99.99
o-2,2,50.00
o-3,2,50.01
o-4,10,-20.00
o-5,100,1.01
o-6,,500.00
o-7,5,
o-8,3,33.34
"""


@pytest.fixture(scope="module")
def component(tmp_path_factory):
    assert HOST.is_file(), f"no host binary at {HOST} (build it, or point ETL_HOST at one)"
    out = tmp_path_factory.mktemp("component") / "high_value.wasm"
    subprocess.run([str(SDK / "build.sh"), str(SDK / "examples" / "high_value"), str(out)], check=True)
    return out


def host(*args, cwd=None):
    return subprocess.run([str(HOST), *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_the_host_accepts_the_component(component):
    inspected = host("plugin", "inspect", component)
    assert inspected.returncode == 0, inspected.stderr
    assert inspected.stdout.startswith("high-value 0.1.0\n")
    assert "contract  etl:stage@0.2.0" in inspected.stdout
    assert "input  order lines" in inspected.stdout and "output  the lines" in inspected.stdout


def test_a_pipeline_keeps_the_right_rows(component, tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "lines.csv").write_text(LINES)
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"""pipeline: py_high_value
paths: {{raw_data: {tmp_path}/raw, warehouse: {tmp_path}/wh, quarantine: {tmp_path}/q, reports: {tmp_path}/r, state: {tmp_path}/state}}
plugin_dir: {component.parent}
stages:
  - name: ingest_lines
    ingest:
      file: lines.csv
      columns:
        - {{ name: order_id, type: text }}
        - {{ name: quantity, type: int64 }}
        - {{ name: unit_price, type: "decimal(10,2)" }}
  - name: high_value
    plugin: {component.name}
    inputs: {{ input: ingest_lines }}
    config: {{ min_amount: "100.00" }}
  - name: report
    reports:
      - {{ file: high_value.csv, input: high_value.output, columns: [order_id, quantity, unit_price], sort_by: [order_id] }}
"""
    )
    result = host("run", "--pipeline", pipeline, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    with open(tmp_path / "r" / "high_value.csv") as f:
        rows = [(r["order_id"], int(r["quantity"]), Decimal(r["unit_price"])) for r in csv.DictReader(f)]
    assert rows == [("o-3", 2, Decimal("50.01")), ("o-5", 100, Decimal("1.01")), ("o-8", 3, Decimal("33.34"))]

    pipeline.write_text(pipeline.read_text().replace('min_amount: "100.00"', 'min_amonut: "100.00"'))
    refused = host("run", "--pipeline", pipeline)
    assert refused.returncode != 0
    assert 'min_amount: required (a decimal, e.g. "100.00"); the config has `min_amonut`?' in refused.stderr
