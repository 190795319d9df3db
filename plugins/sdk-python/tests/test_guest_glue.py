"""The componentize-py glue, run natively against the bindings componentize-py generates from the
vendored WIT (with the interface name build.sh gives it). A WIT change that the glue does not
follow fails here in a second, rather than in a 20-second component build or at run time."""

import inspect
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

import etl_stage
from conftest import pa_read, pa_stream
from etl_stage import _host
from etl_stage import stage as stage_module

SDK = Path(__file__).resolve().parents[1]
INTERFACE = f"etl:stage/stage@{etl_stage.CONTRACT_VERSION}=etl_stage_exports"
GENERATED = ("wit_world", "componentize_py_types", "componentize_py_async_support", "poll_loop",
             "etl_stage._guest", "etl_stage_exports", "etl_stage_app")


@pytest.fixture(scope="module")
def bindings(tmp_path_factory):
    exe = shutil.which("componentize-py", path=os.path.dirname(sys.executable)) or shutil.which("componentize-py")
    if exe is None:
        pytest.skip("componentize-py is not installed (plugins/sdk-python/test.sh installs it)")
    out = tmp_path_factory.mktemp("bindings")
    subprocess.run(
        [exe, "-d", str(SDK / "etl_stage" / "wit"), "-w", "plugin", "--export-interface-name", INTERFACE, "bindings", str(out)],
        check=True, capture_output=True,
    )
    sys.path[:0] = [str(out), str(SDK / "etl_stage" / "_componentize")]
    yield out
    sys.path[:] = [p for p in sys.path if p not in (str(out), str(SDK / "etl_stage" / "_componentize"))]
    for name in list(sys.modules):
        if name.split(".")[0] in GENERATED or name in GENERATED:
            del sys.modules[name]


@pytest.fixture
def guest(bindings, monkeypatch):
    """The glue with the WIT imports answered by the test: (log records, glue modules)."""
    import app  # the example plugin, as etl_stage_app imports it
    import wit_world.imports.context as wit_context
    import wit_world.imports.log as wit_log

    records = []
    monkeypatch.setattr(wit_log, "log", lambda level, message: records.append((level.name, message)))
    monkeypatch.setattr(wit_context, "current_run", lambda: wit_context.Run("r-9", "2024-05-01", "high_value", 1))
    saved = stage_module._exported, _host.current(), sys.stdout, sys.stderr
    stage_module._exported = app.HighValue
    import etl_stage_app
    import etl_stage_exports

    yield records, etl_stage_app, etl_stage_exports
    stage_module._exported, host, sys.stdout, sys.stderr = saved
    _host.install(host)


def test_the_glue_implements_what_componentize_py_generated(bindings):
    exports = bindings / "wit_world" / "exports"
    assert (exports / "etl_stage_exports.py").is_file(), sorted(p.name for p in exports.iterdir())
    import wit_world.exports as generated
    import wit_world.exports.etl_stage_exports as generated_resource
    from etl_stage import _guest

    functions = generated.EtlStageExports.__abstractmethods__
    assert functions == {"describe"}
    assert functions <= set(vars(_guest.EtlStageExports))
    methods = generated_resource.Instance.__abstractmethods__
    assert methods == {"open", "ports", "push", "finish", "metrics"}
    for name in methods:
        ours = inspect.signature(getattr(_guest.Instance, name))
        theirs = inspect.signature(getattr(generated_resource.Instance, name))
        assert list(ours.parameters) == list(theirs.parameters), name


def test_describe_open_push_finish_metrics_through_the_glue(guest):
    records, app_module, exports = guest
    info = app_module.EtlStageExports().describe()
    assert (info.name, info.version) == ("high-value", "0.1.0")
    assert [p.name for p in info.inputs] == ["input"] and [p.name for p in info.outputs] == ["output"]
    assert info.config_help.startswith("min_amount (decimal, required)")

    instance = exports.Instance.open('{"min_amount": "100.00"}')
    assert [p.name for p in instance.ports().outputs] == ["output"]
    table = pa.table({
        "quantity": pa.array([1, 3, None], pa.int64()),
        "unit_price": pa.array([Decimal("100.00"), Decimal("33.34"), Decimal("999.00")], pa.decimal128(10, 2)),
    })
    outputs = instance.push("input", pa_stream(table.schema, table))
    assert [o.port for o in outputs] == ["output"]
    assert pa_read(outputs[0].batch).equals(table.slice(1, 1))
    assert instance.finish() == []
    assert [(m.name, m.value) for m in instance.metrics()] == [("rows_kept", 1)]


def test_errors_become_the_wit_variant(guest):
    records, _, exports = guest
    from componentize_py_types import Err
    from wit_world.imports import types as wit

    with pytest.raises(Err) as error:
        exports.Instance.open('{"min_amount": "lots"}')
    assert error.value.value == wit.Error_InvalidConfig("min_amount: expected a decimal, got 'lots'")

    instance = exports.Instance.open('{"min_amount": 1}')
    with pytest.raises(Err) as error:
        instance.push("input", b"\x00")
    assert isinstance(error.value.value, wit.Error_InvalidInput)
    assert error.value.value.value.startswith("port `input`: undecodable Arrow IPC: truncated IPC stream")

    no_price = pa.table({"quantity": pa.array([1], pa.int64())})
    with pytest.raises(Err) as error:
        instance.push("input", pa_stream(no_price.schema, no_price))
    assert error.value.value == wit.Error_InvalidInput("port `input`: no column `unit_price` (columns: quantity)")

    text_price = pa.table({"quantity": pa.array([2], pa.int64()), "unit_price": pa.array(["1.00"])})
    with pytest.raises(Err) as error:
        instance.push("input", pa_stream(text_price.schema, text_price))
    assert isinstance(error.value.value, wit.Error_Failed)
    assert error.value.value.value.startswith("push: TypeError: ") and "(at app.py:" in error.value.value.value
    assert records[-1][0] == "ERROR" and "Traceback" in records[-1][1]


def test_print_and_the_run_context_reach_the_host(guest):
    records, _, exports = guest

    class Chatty(etl_stage.Stage):
        name = "chatty"
        inputs = {"in": ""}

        def open(self, config):
            run = etl_stage.context.current_run()
            print(f"opened for {run.run_id} on {run.logical_date}, attempt {run.attempt}")
            print("partial", end="")

        def push(self, port, batch):
            pass

    stage_module._exported = Chatty
    instance = exports.Instance.open("")
    instance.finish()
    assert ("INFO", "opened for r-9 on 2024-05-01, attempt 1") in records
    assert records[-1] == ("INFO", "partial"), "finish flushes a line without its newline"
