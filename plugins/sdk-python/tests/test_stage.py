"""The Stage class, export and the native harness: what the host sees of a stage."""

from decimal import Decimal

import pyarrow as pa
import pytest

from etl_stage import (
    Batch, Failed, InvalidConfig, InvalidInput, Port, Ports, RunContext, Stage, context, export, log, types as t,
)
from etl_stage.stage import exported
from etl_stage.testing import Harness, run


class Echo(Stage):
    """Forwards every batch.

    Longer explanation that is not part of the description."""

    name = "echo"
    version = "1.2.3"
    inputs = {"in": "any batches"}
    outputs = {"out": "the same batches"}
    config_help = """
        Takes no configuration.
    """

    def push(self, port, batch):
        self.count("batches")
        self.count("rows", batch.num_rows)
        self.emit("out", batch)


def test_info_comes_from_the_class():
    info = Echo.info()
    assert (info.name, info.version) == ("echo", "1.2.3")
    assert info.description == "Forwards every batch."
    assert info.inputs == [Port("in", "any batches")] and info.outputs == [Port("out", "the same batches")]
    assert info.config_help == "Takes no configuration."


def test_batches_pass_through_with_metrics():
    table = pa.table({"id": ["a", None], "n": pa.array([1, 2], pa.int64())})
    result = run(Echo, None, {"in": [table, table]})
    assert result.table("out").equals(pa.concat_tables([table, table]))
    assert result.metrics == {"batches": 2, "rows": 4}
    assert result.num_rows("out") == 4
    assert result.rows("out")[0] == {"id": "a", "n": 1}


def test_a_stage_without_config_refuses_any_key():
    with pytest.raises(InvalidConfig, match=r"speed: unknown key \(this stage takes no config here\)"):
        run(Echo, {"speed": 3})
    run(Echo, "")
    run(Echo, "null")
    run(Echo, "{}")


def test_a_config_that_is_not_a_json_object_is_refused():
    with pytest.raises(InvalidConfig, match="the config is not valid JSON"):
        run(Echo, "{nope")
    with pytest.raises(InvalidConfig, match="the config must be a mapping of keys to values, not a list"):
        run(Echo, "[1]")


def test_a_push_on_an_undeclared_port_is_invalid_input():
    harness = Harness(Echo)
    with pytest.raises(InvalidInput, match=r"no input port `other` \(declared: in\)"):
        harness.push("other", {"n": [1]})


def test_undecodable_input_is_invalid_input():
    harness = Harness(Echo)
    with pytest.raises(InvalidInput, match="port `in`: undecodable Arrow IPC: truncated IPC stream"):
        harness.push("in", b"\xff\xff\xff\xff\x10\x00\x00\x00")
    table = pa.table({"t": pa.array([1], pa.timestamp("s"))})
    with pytest.raises(InvalidInput, match="column `t` has Arrow type Timestamp"):
        harness.push("in", table)


class Misrouted(Stage):
    name = "misrouted"
    inputs = {"in": ""}
    outputs = {"out": ""}

    def push(self, port, batch):
        self.emit("elsewhere", batch)


def test_emitting_on_an_undeclared_port_fails():
    with pytest.raises(Failed, match=r"push: the stage emitted on undeclared output port `elsewhere` \(declared: out\)"):
        run(Misrouted, None, {"in": {"n": [1]}})


class Shifty(Stage):
    name = "shifty"
    inputs = {"in": ""}
    outputs = {"out": ""}

    def push(self, port, batch):
        self.emit("out", batch)


def test_an_output_port_keeps_one_schema():
    with pytest.raises(Failed, match=r"output port `out` changed schema between batches: \[n: int64\] then \[n: utf8\]"):
        run(Shifty, None, {"in": [{"n": [1]}, {"n": ["x"]}]})


class Buggy(Stage):
    name = "buggy"
    inputs = {"in": ""}

    def push(self, port, batch):
        return {}["missing"]


def test_a_bug_in_a_stage_is_failed_with_where_and_the_traceback_in_the_log():
    harness = Harness(Buggy)
    with pytest.raises(Failed) as error:
        harness.push("in", {"n": [1]})
    assert str(error.value).startswith("push: KeyError: 'missing' (at test_stage.py:")
    assert isinstance(error.value.__cause__, KeyError)
    level, message = harness._host.records[-1]
    assert level == "error" and message.startswith("push raised:\nTraceback") and "test_stage.py" in message


class Picky(Stage):
    name = "picky"
    inputs = {"in": ""}

    def push(self, port, batch):
        batch["price"]


def test_a_missing_column_is_invalid_input_naming_the_port():
    with pytest.raises(InvalidInput, match=r"^port `in`: no column `price` \(columns: n\)$"):
        run(Picky, None, {"in": {"n": [1]}})


class Joined(Stage):
    """Inputs arrive port by port in the order the opened instance lists them."""

    name = "joined"
    inputs = {"left": "", "right": ""}
    outputs = {"out": ""}

    def open(self, config):
        self.order = []
        if config.bool("right_first", False):
            self.inputs = {"right": "", "left": ""}

    def push(self, port, batch):
        self.order.append(port)

    def finish(self):
        log.info(" ".join(self.order))
        run_ = context.current_run()
        log.debug(f"{run_.run_id} {run_.logical_date} {run_.stage} {run_.attempt}")


def test_inputs_are_pushed_in_the_opened_instance_s_port_order():
    inputs = {"right": [{"n": [1]}], "left": [{"n": [1]}, {"n": [2]}]}
    assert run(Joined, None, inputs).logs[0] == ("info", "left left right")
    result = run(Joined, {"right_first": True}, inputs)
    assert result.logs[0] == ("info", "right left left")


def test_the_harness_sets_the_run_a_stage_sees():
    in_run = RunContext(run_id="r-1", logical_date="2024-06-30", stage="join", attempt=2)
    assert run(Joined, None, {}, context=in_run).logs[1] == ("debug", "r-1 2024-06-30 join 2")
    assert run(Joined, None, {}).logs[1] == ("debug", "   0"), "outside a run"


class Totals(Stage):
    """A stateful stage: sums per key, emits at finish."""

    name = "totals"
    inputs = {"in": "amounts per key"}
    outputs = {"out": "one row per key"}

    def open(self, config):
        self.sums = {}

    def push(self, port, batch):
        for key, amount in batch.rows("key", "amount"):
            self.sums[key] = self.sums.get(key, Decimal(0)) + (amount or 0)

    def finish(self):
        keys = sorted(self.sums)
        self.emit("out", Batch.from_pydict({"key": keys, "total": [self.sums[k] for k in keys]},
                                           schema={"key": t.utf8, "total": t.decimal128(18, 2)}))


def test_a_stateful_stage_emits_at_finish():
    amounts = pa.array([Decimal("1.10"), Decimal("2.00"), None], pa.decimal128(10, 2))
    batch = pa.record_batch([pa.array(["a", "b", "a"]), amounts], ["key", "amount"])
    harness = Harness(Totals)
    assert harness.push("in", batch) == {}
    assert harness.push("in", batch) == {}
    result = harness.finish()
    assert result.pydict("out") == {"key": ["a", "b"], "total": [Decimal("2.20"), Decimal("4.00")]}
    assert result.table("out").schema.field("total").type == pa.decimal128(18, 2)


def test_counters_must_have_names_the_host_accepts():
    class Counting(Stage):
        name = "counting"
        inputs = {"in": ""}

        def push(self, port, batch):
            self.count("rows kept")

    with pytest.raises(Failed, match=r"metric name 'rows kept' is not allowed: it must be 1 to 128 ASCII"):
        run(Counting, None, {"in": {"n": [1]}})


def test_metrics_can_be_computed_and_are_checked():
    class Reported(Stage):
        name = "reported"
        inputs = {"in": ""}

        def push(self, port, batch):
            pass

        def metrics(self):
            return {"ok": 1, "too_big": 1 << 63}

    with pytest.raises(Failed, match="metric `too_big` is 9223372036854775808, outside a signed 64-bit integer"):
        run(Reported, None, {})


def test_an_init_without_super_still_works():
    class Plain(Stage):
        name = "plain"
        inputs = {"in": ""}
        outputs = {"out": ""}

        def __init__(self):
            self.seen = 0

        def push(self, port, batch):
            self.seen += 1
            self.count("seen")
            self.emit("out", batch)

    assert run(Plain, None, {"in": [{"n": [1]}]}).metrics == {"seen": 1}


def test_ports_can_be_overridden():
    class Routed(Stage):
        name = "routed"
        inputs = {"in": ""}

        def open(self, config):
            self.targets = config.strings("targets")

        def ports(self):
            return Ports([Port("in")], [Port(n, f"rows for {n}") for n in self.targets])

        def push(self, port, batch):
            for target in self.targets:
                self.emit(target, batch)

    result = run(Routed, {"targets": ["a", "b"]}, {"in": {"n": [1, 2]}})
    assert result.num_rows("a") == result.num_rows("b") == 2
    with pytest.raises(Failed, match=r"output port 'a b' is not allowed"):
        run(Routed, {"targets": ["a b"]})


@pytest.mark.parametrize(
    "attrs, message",
    [
        ({"name": ""}, r"Bad.name = '' is not allowed"),
        ({"name": "has space"}, r"Bad.name = 'has space' is not allowed"),
        ({"name": "ok", "version": "1"}, r"Bad.version = '1' is not a semver version"),
        ({"name": "ok", "inputs": {"in/out": ""}}, r"input port 'in/out' is not allowed"),
        ({"name": "ok", "outputs": ["a", ("a", "again")]}, r"output port `a` is declared twice"),
    ],
)
def test_export_refuses_a_bad_self_description(attrs, message, fresh_export):
    bad = type("Bad", (Stage,), {"push": lambda self, port, batch: None, **attrs})
    with pytest.raises(ValueError, match=message):
        export(bad)


def test_export_takes_one_stage_per_module(fresh_export):
    assert export(Echo) is Echo and exported() is Echo
    export(Echo)  # again: fine
    with pytest.raises(RuntimeError, match="Echo is already exported; a plugin has one stage"):
        export(Shifty)
    with pytest.raises(TypeError, match="must implement push"):
        export(type("NoPush", (Stage,), {"name": "x"}))
    with pytest.raises(TypeError, match="takes a Stage subclass"):
        export(object)


def test_without_an_export_the_build_says_what_to_do(fresh_export):
    with pytest.raises(RuntimeError, match=r"the plugin's module \(app.py\) must call etl_stage.export\(YourStage\)"):
        exported()
