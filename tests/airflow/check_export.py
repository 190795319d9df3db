#!/usr/bin/env python3
"""Proves `host export airflow` on real Airflow, with fake_host.py standing in for the host.

    python3 tests/airflow/check_export.py target/airflow/venv-3

Exports two DAGs with target/release/host ($HOST_BIN overrides it), from the repository's root
and with `--host tests/airflow/fake_host.py`, into the DAGs folder of a throwaway AIRFLOW_HOME
(sqlite, no examples): config/ecommerce.yaml (with two `--set`s, one of them quoted) and
tests/airflow/scheduled.yaml (a `schedule:` in Europe/Paris; `--max-active-runs 3`), and checks
that it refuses three pipelines. Then, with the Airflow of the venv given: `airflow db migrate`,
no import errors, both DAGs listed, the DAGs' settings as Airflow reads them (per task and the
timetable), the ETL_* overrides, run_slug, and one `airflow dags test` per scenario, each
checked against the task states Airflow recorded and every host call fake_host.py logged (exact argv, working directory, attempts). Nothing in the
environment tells the DAGs where the host, pipeline or working directory are: the exported
values are what runs. Prints one line per check and `N passed, N failed`; exits 1 when a check
failed (the scratch folder under target/airflow/ is then kept). check_export.sh runs it for
2.x and 3.x.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
HOST_BIN = Path(os.environ.get("HOST_BIN", ROOT / "target/release/host"))
FAKE_HOST = HERE / "fake_host.py"

# What each DAG is exported from: the pipeline as given to `--pipeline` (relative to the root or
# not), the same path absolute (what the tasks pass the host), the `--set`s and other options.
PIPELINES = {
    "ecommerce": {
        "arg": str(ROOT / "config/ecommerce.yaml"),
        "path": str(ROOT / "config/ecommerce.yaml"),
        "set": ["paths.reports=out/it's reports", "stages.generate_reports.retries=2"],
        "options": [],
        "file": "ecommerce.py",
    },
    "orders_nightly": {
        "arg": "tests/airflow/scheduled.yaml",
        "path": str(HERE / "scheduled.yaml"),
        "set": [],
        "options": ["--max-active-runs", "3"],
        "file": "orders_nightly.py",
    },
}

# The stages of each DAG as Airflow must see them: (critical, retries, retry delay in seconds,
# the pipeline's timeout_s, upstream). Development environment; ecommerce with
# stages.generate_reports.retries=2 from `--set`.
STAGES = {
    "ecommerce": {
        "ingest_orders": (True, 1, 0.2, 1800, []),
        "ingest_customers": (True, 1, 0.2, 1800, []),
        "ingest_products": (True, 1, 0.2, 1800, []),
        "validate_orders": (True, 1, 0.2, 1800, ["ingest_orders"]),
        "cleanse_orders": (True, 1, 0.2, 1800, ["validate_orders"]),
        "transform_customers": (True, 1, 0.2, 1800, ["ingest_customers"]),
        "transform_products": (True, 1, 0.2, 1800, ["ingest_products"]),
        "transform_orders": (True, 1, 0.2, 1800, ["cleanse_orders", "transform_customers", "transform_products"]),
        "aggregate_sales": (True, 1, 0.2, 1800, ["transform_orders"]),
        "load_warehouse": (
            True, 1, 0.2, 1800, ["aggregate_sales", "transform_customers", "transform_orders", "transform_products"]
        ),
        "generate_reports": (False, 2, 0.2, 1800, ["aggregate_sales", "load_warehouse"]),
    },
    "orders_nightly": {
        "ingest_orders": (True, 2, 1.0, 600, []),
        "validate_orders": (True, 0, 1.0, 120, ["ingest_orders"]),
        "cleanse_orders": (False, 2, 1.0, 600, ["validate_orders"]),
        "report_orders": (False, 2, 1.0, 600, ["cleanse_orders", "validate_orders"]),
    },
}

# The DAGs' own settings, and the first fire times the timetable gives (logical dates, UTC):
# the first from start_date, then the one after 2024-07-01T00:30Z (02:30 in Paris, summer time).
DAGS = {
    "ecommerce": {
        "timetable": {"__type": "airflow.timetables.simple.NullTimetable", "__var": {}},
        "timezone": "UTC",
        "start_date": "2024-01-01T00:00:00+00:00",
        "catchup": False,
        "max_active_runs": 1,
        "tags": ["etl-host"],
        "description": "Orders, customers and products from CSV to a Parquet warehouse and daily reports",
        "first_run": None,
        "after_2024_07_01": None,
    },
    "orders_nightly": {
        "timetable": {
            "__type": "airflow.timetables.trigger.CronTriggerTimetable",
            "__var": {"expression": "30 2 * * *", "timezone": "Europe/Paris"},
        },
        "timezone": "Europe/Paris",
        "start_date": "2024-02-29T23:00:00+00:00",
        "catchup": False,
        "max_active_runs": 3,  # --max-active-runs 3 over the schedule's 1
        "tags": ["etl-host"],
        "description": "Nightly orders: validated, deduplicated, and a report of the day's sales",
        "first_run": "2024-03-01T01:30:00+00:00",
        "after_2024_07_01": "2024-07-02T00:30:00+00:00",
    },
}

# Run in the venv: what Airflow reads from each exported file, as JSON on the last line.
PROBE = r"""
import json, runpy, sys
from datetime import datetime, timezone
try:  # Airflow 3
    from airflow.serialization.serialized_objects import DagSerialization as Serialization
except ImportError:  # Airflow 2
    from airflow.serialization.serialized_objects import SerializedDAG as Serialization
from airflow.timetables.base import DataInterval, TimeRestriction

def seconds(delta):
    return None if delta is None else delta.total_seconds()

def iso(when):
    return None if when is None else when.astimezone(timezone.utc).isoformat()

out = {}
for path in sys.argv[1:]:
    module = runpy.run_path(path)
    dag = module["dag"]
    data = Serialization.to_dict(dag)["dag"]
    timetable = Serialization.from_dict(Serialization.to_dict(dag)).timetable
    def next_run(after):
        last = None if after is None else DataInterval(after, after)
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last,
            restriction=TimeRestriction(earliest=dag.start_date, latest=None, catchup=True),
        )
        return None if info is None else iso(info.logical_date if hasattr(info, "logical_date") else info.data_interval.start)
    tasks = {
        task.task_id: {
            "retries": task.retries,
            "retry_delay": seconds(task.retry_delay),
            "backoff": bool(task.retry_exponential_backoff),
            "execution_timeout": seconds(task.execution_timeout),
            "skip_on_exit_code": sorted(task.skip_on_exit_code or []),
            "trigger_rule": str(getattr(task.trigger_rule, "value", task.trigger_rule)),
            "cwd": task.cwd,
            "upstream": sorted(task.upstream_task_ids),
            "queue": task.queue,
            "command": task.bash_command,
        }
        for task in dag.tasks
    }
    tt = data.get("timetable") or {"__type": "airflow.timetables.simple.NullTimetable", "__var": {}}
    tt["__var"] = {k: v for k, v in tt["__var"].items() if k in ("expression", "timezone")}
    out[dag.dag_id] = {
        "dag": {
            "timetable": tt,
            "timezone": str(data.get("timezone")),
            "start_date": iso(dag.start_date),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tags": sorted(dag.tags),
            "description": dag.description,
            "first_run": next_run(None),
            "after_2024_07_01": next_run(datetime(2024, 7, 1, 0, 30, tzinfo=timezone.utc)),
        },
        "tasks": tasks,
        "module": {k: module[k] for k in ("HOST", "PIPELINE", "ENV", "WORKDIR", "SET", "TIMEZONE")},
    }
    if dag.dag_id == "ecommerce":
        ids = json.loads(sys.stdin.read())
        out["run_slug"] = {i: module["run_slug"](i) for i in ids}
print(json.dumps(out))
"""


class Airflow:
    """The `airflow` CLI of one venv, in a throwaway AIRFLOW_HOME."""

    def __init__(self, venv: Path, scratch: Path):
        self.venv = venv
        self.scratch = scratch
        self.dags = scratch / "dags"
        self.dags.mkdir()
        # No ETL_*: the DAGs must run what they were exported with.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ETL_", "FAKE_HOST"))}
        self.env |= {
            "AIRFLOW_HOME": str(scratch / "home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONWARNINGS": "ignore",  # Airflow 3 logs Python warnings on stdout, before the JSON
        }
        self.version = self.python("import airflow; print(airflow.__version__)")
        self.major = int(self.version.split(".")[0])

    def python(self, code: str, *args: str, stdin: str = "", **env: str) -> str:
        """The last line `python -c CODE ARGS` prints."""
        out = subprocess.run(
            [self.venv / "bin/python", "-c", code, *args], env=self.env | env, input=stdin,
            capture_output=True, text=True,
        )
        if out.returncode != 0:
            raise RuntimeError(f"python -c failed:\n{out.stderr[-3000:]}")
        return out.stdout.strip().splitlines()[-1]

    def run(self, *args: str, log: str | None = None, **env: str) -> tuple[int, str, float]:
        """Runs `airflow ARGS`; returns its exit code, its output and how long it took."""
        start = time.monotonic()
        out = subprocess.run(
            [self.venv / "bin/airflow", *args], env=self.env | env, capture_output=True, text=True
        )
        seconds = time.monotonic() - start
        if log:
            (self.scratch / log).write_text(out.stdout + out.stderr)
        return out.returncode, out.stdout + out.stderr, seconds

    def json(self, *args: str):
        """The JSON that `airflow ARGS -o json` prints as its last line of stdout."""
        out = subprocess.run(
            [self.venv / "bin/airflow", *args, "-o", "json"], env=self.env, capture_output=True, text=True
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith(("[", "{"))]
        return out.returncode, json.loads(lines[-1]) if lines else None


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name: str, problems: list[str], note: str = "") -> None:
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for problem in problems:
                print(f"     {problem}")
        else:
            self.passed += 1
            print(f"ok   {name}{f' ({note})' if note else ''}")
        sys.stdout.flush()


def expected_argv(dag_id: str, run_id: str, date: str, stage: str, attempt: int) -> list[str]:
    """The host call of one task: the pipeline, environment and `--set`s of the export, the run,
    `--trigger airflow --no-progress`, then `--stage S --attempt N --max-attempts M` (M: the
    stage's retries + 1, Airflow's `ti.max_tries + 1` in a run nobody cleared) or `--finish`."""
    sets = [arg for kv in PIPELINES[dag_id]["set"] for arg in ("--set", kv)]
    if stage == "finish":
        tail = ["--finish"]
    else:
        attempts = STAGES[dag_id][stage][1] + 1
        tail = ["--stage", stage, "--attempt", str(attempt), "--max-attempts", str(attempts)]
    return [
        "run", "--pipeline", PIPELINES[dag_id]["path"], "--env", "development", *sets,
        "--run-id", run_id, "--date", date, "--trigger", "airflow", "--no-progress", *tail,
    ]


def export(airflow: Airflow, checks: Checks) -> None:
    """`host export airflow` of both pipelines into the DAGs folder, from the repository's root."""
    for dag_id, source in PIPELINES.items():
        out = airflow.dags / source["file"]
        argv = [
            str(HOST_BIN), "export", "airflow", "--pipeline", source["arg"], *[a for kv in source["set"] for a in ("--set", kv)],
            *source["options"], "--out", str(out), "--host", str(FAKE_HOST.relative_to(ROOT)),
        ]
        start = time.monotonic()
        result = subprocess.run(argv, cwd=ROOT, env=airflow.env, capture_output=True, text=True)
        seconds = time.monotonic() - start
        problems = []
        stages = len(STAGES[dag_id])
        if result.returncode != 0 or result.stdout != f"{out}: DAG `{dag_id}`, {stages} stage tasks and `finish`\n":
            problems.append(f"exit {result.returncode}, stdout {result.stdout!r}, stderr {result.stderr[-2000:]!r}")
        elif not out.exists():
            problems.append(f"{out} not written")
        else:
            sha256 = hashlib.sha256(Path(source["path"]).read_bytes()).hexdigest()
            head = out.read_text().splitlines()[:2]
            want = [
                f"# Generated by `host export airflow` (etl-host {version()}) from {source['path']}",
                f"# (sha256 {sha256}, environment development).",
            ]
            if head != want:
                problems.append(f"header {head}, expected {want}")
        options = " ".join(shlex.quote(a) for a in argv[3:] if a not in ("--out", str(out)))
        checks.check(f"host export airflow {options}", problems, f"{seconds:.1f} s")


def check_refusals(airflow: Airflow, checks: Checks) -> None:
    """`host export airflow` refuses what Airflow would run differently from the host: exit 3,
    no file written, the reason on stderr."""
    source = (HERE / "scheduled.yaml").read_text()
    cases = {
        "6-field cron": (source.replace('cron: "30 2 * * *"', 'cron: "0 */10 * * * *"'),
                         "Airflow's cron has no seconds field"),
        "catchup: all without start_date": (
            source.replace("catchup: latest", "catchup: all").replace("  start_date: 2024-03-01\n", ""),
            "catchup: all needs schedule.start_date"),
        "a stage named finish": (source.replace("name: report_orders", "name: finish"),
                                 "would clash with the DAG's own `finish` task"),
    }
    problems = []
    for name, (text, reason) in cases.items():
        if text == source:
            problems.append(f"{name}: scheduled.yaml changed, the case no longer applies")
            continue
        pipeline = airflow.scratch / "refused.yaml"
        pipeline.write_text(text)
        out = airflow.scratch / "refused.py"
        result = subprocess.run(
            [str(HOST_BIN), "export", "airflow", "--pipeline", str(pipeline), "--out", str(out)],
            cwd=ROOT, env=airflow.env, capture_output=True, text=True,
        )
        if result.returncode != 3 or reason not in result.stderr or out.exists():
            problems.append(f"{name}: exit {result.returncode}, stderr {result.stderr.strip()!r}, expected 3 and {reason!r}")
    checks.check("host export airflow refuses " + ", ".join(cases), problems)


def version() -> str:
    out = subprocess.run([str(HOST_BIN), "--version"], capture_output=True, text=True).stdout.split()
    return out[-1] if out else "?"


def check_dags(airflow: Airflow, checks: Checks, probe: dict) -> None:
    """The DAGs' and tasks' settings as Airflow parsed them, against the pipelines'."""
    for dag_id, stages in STAGES.items():
        got = probe.get(dag_id)
        if got is None:
            checks.check(f"{dag_id}: settings", [f"not in the parsed files: {sorted(probe)}"])
            continue
        problems = []
        for key, want in DAGS[dag_id].items():
            if got["dag"][key] != want:
                problems.append(f"DAG {key} {got['dag'][key]!r}, expected {want!r}")
        want_module = {
            "HOST": str(FAKE_HOST), "PIPELINE": PIPELINES[dag_id]["path"], "ENV": "development",
            "WORKDIR": str(ROOT), "SET": PIPELINES[dag_id]["set"], "TIMEZONE": DAGS[dag_id]["timezone"],
        }
        if got["module"] != want_module:
            problems.append(f"module constants {got['module']}, expected {want_module}")
        want_tasks = {
            stage: {
                "retries": retries,
                "retry_delay": delay,
                "backoff": True,
                "execution_timeout": float(timeout_s + 60),  # the host's own timeout fires first
                "skip_on_exit_code": [] if critical else [1],
                "trigger_rule": "all_success",
                "cwd": str(ROOT),
                "upstream": upstream,
                "queue": "default",
            }
            for stage, (critical, retries, delay, timeout_s, upstream) in stages.items()
        }
        want_tasks["finish"] = {
            "retries": 0, "backoff": False, "execution_timeout": None, "skip_on_exit_code": [],
            "trigger_rule": "all_done", "cwd": str(ROOT), "upstream": sorted(stages), "queue": "default",
        }
        for task, want in want_tasks.items():
            have = got["tasks"].get(task)
            if have is None:
                problems.append(f"no task {task}")
                continue
            diff = {k: (have[k], v) for k, v in want.items() if have[k] != v}
            if diff:
                problems.append(f"{task}: " + ", ".join(f"{k} {g!r}, expected {w!r}" for k, (g, w) in diff.items()))
        if set(got["tasks"]) != set(want_tasks):
            problems.append(f"tasks {sorted(got['tasks'])}, expected {sorted(want_tasks)}")
        first = got["dag"]["first_run"]
        checks.check(f"{dag_id}: settings as Airflow reads them (tasks, timetable)", problems,
                     f"first fire time {first}" if first else "no schedule")


def check_overrides(airflow: Airflow, checks: Checks) -> None:
    """ETL_HOST, ETL_PIPELINE and ETL_WORKDIR override the exported paths (quoted), ETL_FINISH_QUEUE
    routes `finish` (only); ETL_ENV does not change the environment (the retries and delays are
    the exported one's)."""
    env = {"ETL_HOST": "/opt/etl host/bin/host", "ETL_PIPELINE": "/srv/it's/p.yaml", "ETL_WORKDIR": "/srv/work",
           "ETL_ENV": "production", "ETL_FINISH_QUEUE": "etl-store"}
    probe = json.loads(airflow.python(PROBE, str(airflow.dags / "ecommerce.py"), stdin="[]", **env))
    tasks = probe["ecommerce"]["tasks"]
    sets = [a for kv in PIPELINES["ecommerce"]["set"] for a in ("--set", kv)]
    problems = []
    for task in ("validate_orders", "finish"):
        words = shlex.split(tasks[task]["command"])
        want = [env["ETL_HOST"], "run", "--pipeline", env["ETL_PIPELINE"], "--env", "development", *sets, "--run-id"]
        if words[: len(want)] != want or tasks[task]["cwd"] != env["ETL_WORKDIR"]:
            problems.append(f"{task}: {words} in {tasks[task]['cwd']}, expected {want}... in {env['ETL_WORKDIR']}")
    queues = {task: tasks[task]["queue"] for task in tasks}
    if queues != dict.fromkeys(STAGES["ecommerce"], "default") | {"finish": env["ETL_FINISH_QUEUE"]}:
        problems.append(f"queues {queues}, expected `finish` on {env['ETL_FINISH_QUEUE']}, the stages on default")
    retries = {task: tasks[task]["retries"] for task in STAGES["ecommerce"]}
    if retries != {stage: spec[1] for stage, spec in STAGES["ecommerce"].items()}:
        problems.append(f"with ETL_ENV=production the retries are {retries}, expected the exported ones")
    checks.check("ETL_HOST, ETL_PIPELINE, ETL_WORKDIR and ETL_FINISH_QUEUE override the exported values;"
                 " ETL_ENV does not", problems)


RUN_SLUGS = {
    "scheduled__2024-01-01T00:00:00+00:00": "scheduled__2024-01-01T00_00_00_00_00",
    "manual__2024-06-30T12:34:56.789012+00:00": "manual__2024-06-30T12_34_56.789012_00_00",
    "manual__2026-12-02T20:04:37.882861+00:00_wFJH3BUy": "manual__2026-12-02T20_04_37.882861_00_00_wFJH3BUy",
    "backfill__2024-01-01T00:00:00+00:00": "backfill__2024-01-01T00_00_00_00_00",
    "asset_triggered__2024-01-01T00:00:00+00:00": "asset_triggered__2024-01-01T00_00_00_00_00",
    "my run": "my_run",
    "__weird": "r__weird",
    "": "r",
    "été 2024": "r_t__2024",
}
LONG_ID = "manual__" + "x" * 100


def check_run_slug(checks: Checks, got: dict[str, str]) -> None:
    problems = [f"run_slug({i!r}) = {got[i]!r}, expected {want!r}" for i, want in RUN_SLUGS.items() if got[i] != want]
    for i, s in got.items():
        ok = 1 <= len(s) <= 64 and s[0].isascii() and s[0].isalnum()
        if not ok or any(not (c.isascii() and (c.isalnum() or c in "._-")) for c in s):
            problems.append(f"run_slug({i!r}) = {s!r} is not a host run id")
    want_long = LONG_ID[:55] + "-" + hashlib.sha256(LONG_ID.encode()).hexdigest()[:8]
    if got[LONG_ID] != want_long or got[LONG_ID] == got[LONG_ID + "y"] or len(got[LONG_ID + "y"]) != 64:
        problems.append(f"long ids: {got[LONG_ID]!r} (expected {want_long!r}) and {got[LONG_ID + 'y']!r}")
    examples = ", ".join(f"{i} -> {got[i]}" for i in list(RUN_SLUGS)[:2]) + f", {LONG_ID[:12]}... -> {got[LONG_ID]}"
    checks.check("run_slug maps Airflow run ids to host run ids", problems, examples)


def scenario(
    airflow: Airflow,
    checks: Checks,
    name: str,
    dag_id: str,
    logical_date: str,
    codes: str,
    *,
    dag_run: str,
    states: dict[str, str],
    attempts: dict[str, int],
    host_date: str,
) -> None:
    """Runs `airflow dags test DAG_ID LOGICAL_DATE` with fake_host.py exiting per CODES, and
    checks the DAG run's outcome, every task's final state (`states`, default success), how
    many times the host ran each stage (`attempts`, default 1; 0 for a stage never started)
    and the argv and working directory of every host call."""
    host_log = airflow.scratch / f"{name}.host.jsonl"
    rc, output, seconds = airflow.run(
        "dags", "test", dag_id, logical_date,
        log=f"{name}.log", FAKE_HOST_LOG=str(host_log), FAKE_HOST_CODES=codes,
    )
    problems = []
    failed = rc != 0 and "DagRun failed" in output
    if dag_run == "success" and rc != 0:
        problems.append(f"`dags test` exited {rc}, expected 0 (log: {airflow.scratch / (name + '.log')})")
    if dag_run == "failed" and not failed:
        problems.append(f"`dags test` exited {rc} without `DagRun failed`, expected a failed run")

    _, rows = airflow.json("tasks", "states-for-dag-run", dag_id, logical_date)
    got = {row["task_id"]: row["state"] for row in rows or []}
    want = {stage: states.get(stage, "success") for stage in [*STAGES[dag_id], "finish"]}
    if got != want:
        problems.append(f"task states {got}, expected {want}")

    calls = [json.loads(line) for line in host_log.read_text().splitlines()] if host_log.exists() else []
    ran = {stage: [c["attempt"] for c in calls if c["stage"] == stage] for stage in want}
    for stage in want:
        expected = list(range(1, attempts.get(stage, 1) + 1))
        if ran[stage] != expected:
            problems.append(f"{stage}: host ran attempts {ran[stage]}, expected {expected}")
    if any(c["stage"] not in want for c in calls):
        problems.append(f"host calls for no known task: {[c['argv'] for c in calls if c['stage'] not in want]}")
    run_ids = {c["argv"][c["argv"].index("--run-id") + 1] for c in calls if "--run-id" in c["argv"][:-1]}
    run_id = min(run_ids) if run_ids else "?"
    if len(run_ids) != 1:
        problems.append(f"the tasks of one DAG run gave the host run ids {sorted(run_ids)}, expected one")
    wrong = []
    for call in calls:
        expected = expected_argv(dag_id, run_id, host_date, call["stage"], call["attempt"])
        if call["argv"] != expected or call["cwd"] != str(ROOT) or call["code"] == 3:
            wrong.append(f"host called with {call['argv']} in {call['cwd']}, expected {expected} in {ROOT}")
    problems += wrong[:2] + ([f"... and {len(wrong) - 2} more host calls like those"] if len(wrong) > 2 else [])
    if calls and calls[-1]["stage"] != "finish":
        problems.append(f"the last host call was {calls[-1]['argv']}, expected --finish")

    retries = [
        f"{c['stage']} attempt {c['attempt']} {c['time'] - prev['time']:.1f} s after attempt {prev['attempt']}"
        for c in calls for prev in calls if prev["stage"] == c["stage"] and prev["attempt"] == c["attempt"] - 1
    ]
    note = f"dags test {seconds:.1f} s, exit {rc}, run id {run_id}" + (f"; {', '.join(retries)}" if retries else "")
    checks.check(f"{name}: {dag_id} {logical_date} with {codes or 'every stage succeeding'}", problems, note)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 3
    venv = Path(sys.argv[1]).resolve()
    if not os.access(HOST_BIN, os.X_OK):
        print(f"check_export.py: no host binary at {HOST_BIN}: build it (cargo build --release)", file=sys.stderr)
        return 3
    if not os.access(FAKE_HOST, os.X_OK):
        print(f"check_export.py: {FAKE_HOST} is not executable (chmod +x)", file=sys.stderr)
        return 3
    started = time.monotonic()
    checks = Checks()
    (ROOT / "target/airflow").mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="airflow-check-", dir=ROOT / "target/airflow"))
    airflow = Airflow(venv, scratch)
    print(f"Airflow {airflow.version} ({venv}), {HOST_BIN} {version()}, scratch {scratch}")

    export(airflow, checks)
    check_refusals(airflow, checks)

    rc, output, seconds = airflow.run("db", "migrate", log="db-migrate.log")
    checks.check("airflow db migrate", [f"exited {rc}: {output[-2000:]}"] if rc else [], f"{seconds:.1f} s")

    local = ["--local"] if airflow.major >= 3 else []  # Airflow 3 reads import errors from the DB
    rc, errors = airflow.json("dags", "list-import-errors", *local)
    checks.check("no import errors", [] if rc == 0 and errors == [] else [f"exit {rc}: {errors}"])
    rc, dags = airflow.json("dags", "list", *local)
    listed = sorted(d["dag_id"] for d in dags or [])
    checks.check("both DAGs listed", [] if listed == ["ecommerce", "orders_nightly"] else [f"{listed}"])

    files = [str(airflow.dags / p["file"]) for p in PIPELINES.values()]
    try:
        probe = json.loads(airflow.python(PROBE, *files, stdin=json.dumps([*RUN_SLUGS, LONG_ID, LONG_ID + "y"])))
    except RuntimeError as error:
        checks.check("the exported files load", [str(error)])
    else:
        check_dags(airflow, checks, probe)
        check_run_slug(checks, probe["run_slug"])
    try:
        check_overrides(airflow, checks)
    except RuntimeError as error:
        checks.check("ETL_* overrides", [str(error)])

    scenario(airflow, checks, "success", "ecommerce", "2024-06-01", "",
             dag_run="success", states={}, attempts={}, host_date="2024-06-01")
    # generate_reports has retries 2 (--set): 3 attempts, the last exits 1 (a non-critical
    # stage failed for good) and ends skipped.
    scenario(airflow, checks, "non-critical-skipped", "ecommerce", "2024-06-02",
             "generate_reports=2,2,1 transform_products=2,0",
             dag_run="success", states={"generate_reports": "skipped"},
             attempts={"generate_reports": 3, "transform_products": 2}, host_date="2024-06-02")
    upstream_failed = ["cleanse_orders", "transform_orders", "aggregate_sales", "load_warehouse", "generate_reports"]
    scenario(airflow, checks, "critical-failed", "ecommerce", "2024-06-03", "validate_orders=2 finish=2",
             dag_run="failed",
             states={"validate_orders": "failed", "finish": "failed"} | dict.fromkeys(upstream_failed, "upstream_failed"),
             attempts={"validate_orders": 2} | dict.fromkeys(upstream_failed, 0), host_date="2024-06-03")
    # 23:00 UTC is the next day in Europe/Paris, the pipeline's time zone: the host's date.
    scenario(airflow, checks, "skip-cascades", "orders_nightly", "2024-03-30T23:00:00+00:00", "cleanse_orders=2,2,1",
             dag_run="success", states={"cleanse_orders": "skipped", "report_orders": "skipped"},
             attempts={"cleanse_orders": 3, "report_orders": 0}, host_date="2024-03-31")
    scenario(airflow, checks, "critical-never-skips", "orders_nightly", "2024-07-01T00:30:00+00:00",
             "validate_orders=99 finish=2",
             dag_run="failed",
             states={"validate_orders": "failed", "cleanse_orders": "upstream_failed",
                     "report_orders": "upstream_failed", "finish": "failed"},
             attempts={"cleanse_orders": 0, "report_orders": 0}, host_date="2024-07-01")

    print(f"Airflow {airflow.version}: {checks.passed} passed, {checks.failed} failed"
          f" in {time.monotonic() - started:.0f} s")
    if checks.failed == 0:
        shutil.rmtree(scratch)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
