"""The end-to-end benchmark: our pipeline against DuckDB and Polars on the same generated data.

    target/py-bench/bin/python bench/run.py [--sizes 1000000,5000000] [--runs 3]
        [--engines ours,native,duckdb,polars] [--no-edge] [--regenerate]

(`just bench sizes=1000000 runs=1` builds the host and the plugins first and runs this; a word
`key=value` means `--key value`.)

For every size N:

1. Sample data: `host generate-data --orders N --seed 42`, cached under `target/bench-data/<N>/raw`
   (regenerated when its `generate.json` does not match, or with `--regenerate`).
2. Every engine runs the whole pipeline `--runs` times, interleaved, each round starting with the
   next engine (ours, native, duckdb, polars; then native, duckdb, polars, ours; ...), each run on
   fresh output directories under `target/bench-data/<N>/out/<engine>`:
   - ours: `host run --pipeline config/ecommerce.yaml --set paths.*=... --json`, with its own
     plugin compile cache (`ETL_CACHE_DIR=target/bench-data/plugin-cache`), warmed before timing;
   - native: the same with `--native-stages` on a host built with `--features native-stages`
     (`target/release/host-native`, which `just bench` builds): every plugin stage runs its crate
     natively, outside the sandbox, so ours ÷ native is the sandbox's cost end to end (the WASM
     tax), and the per-stage table shows it stage by stage;
   - duckdb, polars: `bench/duckdb_pipeline.py`, `bench/polars_pipeline.py` (the same spec).
   Each run is measured from outside: wall time, CPU time (user + sys) and peak RSS of the child
   (through GNU time, `/usr/bin/time`; see `measure`).
3. The outputs of each comparison engine's last run are compared with ours (`bench/compare.py`):
   fact rows, sum of `total_amount`, rows per partition, every table row by row, both reports byte
   for byte, the quarantine per reason and row by row. Any difference is printed, with the rows.

Before that, unless `--no-edge`, every engine runs once on `bench/edge_cases.py`'s hand-written
data (malformed quoting, quoted line breaks, CRLF, BOM, Unicode whitespace, ...) and the outputs
are compared the same way.

It prints (stdout, Markdown) the medians per engine with ratios, our per-stage breakdown (from
the run's `summary.json`) and the comparison engines' step timings, and writes every measurement
as JSON to `target/bench-results/bench-<time>.json` and the report to `latest.md` beside it.
Exit status: 0 when every run succeeded and every output matched ours, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import compare_outputs, quarantine_counts  # noqa: E402
from edge_cases import write_edge_cases  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ["ours", "native", "duckdb", "polars"]
# Our host, in the sandbox and with the plugin stages native.
HOSTS = ("ours", "native")
SCRIPTS = {"duckdb": ROOT / "bench" / "duckdb_pipeline.py", "polars": ROOT / "bench" / "polars_pipeline.py"}


@dataclass
class Measurement:
    """One run of one engine."""

    engine: str
    size: int
    run: int
    exit_code: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mib: float
    #: The 1-minute load average just before the run: above ~0.5 on 2 cores, something else ran.
    load_before: float = 0.0
    #: Ours: stage -> {duration_s, start_s, rows_in, rows_out}; the others: step -> seconds.
    stages: dict = field(default_factory=dict)
    #: Ours: the run's own span, the time outside it, and the time after the last stage.
    overhead: dict = field(default_factory=dict)

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fmt_size(size: int) -> str:
    return f"{size // 1_000_000}M" if size % 1_000_000 == 0 else f"{size:,}"


# --- running one engine -----------------------------------------------------------------------


#: GNU time, which reports a child it forked itself: the peak RSS `os.wait4` gives for a child of
#: this process would include this process's own RSS at the fork (Linux keeps the pre-exec high
#: water mark in the child's `ru_maxrss`).
GNU_TIME = Path("/usr/bin/time")


@dataclass
class Usage:
    exit_code: int
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_kib: int


def measure(cmd: list[str], logs: Path, env: dict[str, str] | None = None) -> Usage:
    """Runs `cmd` from the repository root, stdout and stderr to files in `logs`, and returns its
    exit code, wall time, CPU time and peak RSS (through GNU time when it is installed, else from
    `os.wait4`, whose peak RSS is then at least this process's own)."""
    logs.mkdir(parents=True, exist_ok=True)
    report = logs / "time"
    timed = [str(GNU_TIME), "-f", "BENCH %U %S %M", "-o", str(report), *cmd] if GNU_TIME.is_file() else cmd
    with open(logs / "stdout", "wb") as stdout, open(logs / "stderr", "wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(timed, cwd=ROOT, stdout=stdout, stderr=stderr, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if timed is cmd:
        return Usage(proc.returncode, wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss)
    line = next((ln for ln in report.read_text().splitlines() if ln.startswith("BENCH ")), "BENCH 0 0 0")
    user, sys_, rss = line.split()[1:]
    return Usage(proc.returncode, wall, float(user), float(sys_), int(rss))


def engine_command(engine: str, args: argparse.Namespace, raw: Path, out: Path) -> list[str]:
    if engine not in HOSTS:
        return [sys.executable, str(SCRIPTS[engine]), "--raw", str(raw), "--out", str(out)]
    host = args.host if engine == "ours" else args.host_native
    cmd = [str(host), "run", "--pipeline", str(args.pipeline), "--json", "--set", f"plugin_dir={args.plugins}"]
    if engine == "native":
        cmd.append("--native-stages")
    for key in ["warehouse", "quarantine", "reports", "state"]:
        cmd += ["--set", f"paths.{key}={out / key}"]
    return cmd + ["--set", f"paths.raw_data={raw}"]


def our_breakdown(out: Path, wall: float) -> tuple[dict, dict]:
    """Per-stage figures of our run, from its summary.json, and the time outside the stages."""
    outcome = json.loads((out / "logs" / "stdout").read_text())
    summary = json.loads((out / "state" / "runs" / outcome["run_id"] / "summary.json").read_text())
    run_start = summary["run"]["started_at"]["unix_ms"]
    waits = {s["name"]: (s.get("report") or {}).get("input_wait_s", 0.0) for s in outcome["stages"]}
    stages = {}
    last_end = run_start
    for stage in summary["stages"]:
        start = (stage.get("started_at") or {}).get("unix_ms", run_start)
        end = (stage.get("ended_at") or {}).get("unix_ms", start)
        last_end = max(last_end, end)
        wait = waits.get(stage["stage"], 0.0)
        stages[stage["stage"]] = {
            "duration_s": stage.get("duration_seconds") or 0.0,
            # Without the time spent waiting for running upstreams to write more.
            "busy_s": (stage.get("duration_seconds") or 0.0) - wait,
            "start_s": (start - run_start) / 1000,
            "rows_in": stage.get("rows_in"),
            "rows_out": stage.get("rows_out"),
            # Arrow IPC through the sandbox boundary (plugin stages only).
            "bytes_in": stage.get("bytes_in") if stage.get("plugin_sha256") else None,
            "bytes_out": stage.get("bytes_out") if stage.get("plugin_sha256") else None,
        }
    run_s = summary["run"]["duration_seconds"]
    overhead = {
        "run_s": run_s,
        # Before the run starts and after it ends: process start, config, plugin loading, run store.
        "outside_run_s": round(wall - run_s, 3),
        # After the last stage: the quarantine and the checks.
        "after_stages_s": round((summary["run"]["ended_at"]["unix_ms"] - last_end) / 1000, 3),
    }
    return stages, overhead


def run_engine(engine: str, size: int, run: int, args: argparse.Namespace, raw: Path, out: Path) -> Measurement:
    """One measured run of `engine` on fresh output directories."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "ETL_CACHE_DIR": str(args.cache)} if engine in HOSTS else None
    load = os.getloadavg()[0]
    usage = measure(engine_command(engine, args, raw, out), out / "logs", env)
    m = Measurement(
        engine=engine,
        size=size,
        run=run,
        exit_code=usage.exit_code,
        wall_s=round(usage.wall_s, 3),
        user_s=round(usage.user_s, 3),
        sys_s=round(usage.sys_s, 3),
        peak_rss_mib=round(usage.peak_rss_kib / 1024, 1),
        load_before=round(load, 2),
    )
    if usage.exit_code != 0:
        tail = (out / "logs" / "stderr").read_text(errors="replace")[-3000:]
        log(f"  {engine} run {run} FAILED (exit {usage.exit_code}):\n{tail}")
        return m
    if engine in HOSTS:
        m.stages, m.overhead = our_breakdown(out, usage.wall_s)
        # Every stage's output is kept as an Arrow IPC artifact: gigabytes at 5M orders, not needed.
        for artifacts in (out / "state" / "runs").glob("*/artifacts"):
            shutil.rmtree(artifacts, ignore_errors=True)
    else:
        m.stages = json.loads((out / "logs" / "stdout").read_text().strip().splitlines()[-1])
    log(
        f"  {engine:<7} run {run}: {m.wall_s:7.2f} s wall, {m.cpu_s:7.2f} s CPU, {m.peak_rss_mib:8.1f} MiB peak RSS"
        f" (load before {m.load_before:.2f})"
    )
    return m


# --- the build under test -----------------------------------------------------------------------


def snapshot_build(args: argparse.Namespace, engines: list[str]) -> dict[str, str]:
    """Copies the hosts and the plugins to `target/bench-data/build/`, so that a rebuild during the
    benchmark (the tree is shared) cannot mix builds; points `args.host`, `args.host_native` and
    `args.plugins` at the copies and returns their sha256."""
    build = args.data / "build"
    shutil.rmtree(build, ignore_errors=True)
    (build / "plugins").mkdir(parents=True)
    digests = {}
    hosts = [(args.host, build / "host")] if "ours" in engines else []
    if "native" in engines:
        hosts.append((args.host_native, build / "host-native"))
    sources = hosts + [(wasm, build / "plugins" / wasm.name) for wasm in sorted(args.plugins.glob("*.wasm"))]
    for source, target in sources:
        shutil.copy2(source, target)
        digest = hashlib.sha256()
        with open(target, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
        digests[source.name] = digest.hexdigest()
    args.host, args.host_native, args.plugins = build / "host", build / "host-native", build / "plugins"
    return digests


def git_state() -> str:
    """The commit and whether the tree has changes (read-only git commands)."""
    try:
        git = ["git", "-C", str(ROOT)]
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=False
        )
        return f"{commit.stdout.strip()}{' with uncommitted changes' if dirty.stdout.strip() else ''}"
    except OSError:
        return "unknown"


# --- data -------------------------------------------------------------------------------------


def sample_data(args: argparse.Namespace, size: int) -> Path:
    """`target/bench-data/<size>/raw`, generated unless a matching copy is there."""
    raw = args.data / str(size) / "raw"
    stamp = raw / "generate.json"
    wanted = {"orders": size, "seed": args.seed}
    if not args.regenerate and stamp.is_file():
        summary = json.loads(stamp.read_text())
        if {k: summary.get(k) for k in wanted} == wanted and all(
            (raw / f).is_file() for f in ("orders.csv", "customers.csv", "products.csv")
        ):
            return raw
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir(parents=True)
    log(f"generating {size:,} orders into {raw}")
    result = subprocess.run(
        [str(args.host), "generate-data", "--orders", str(size), "--seed", str(args.seed), "--out", str(raw)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    stamp.write_text(result.stdout)
    return raw


# --- the report -------------------------------------------------------------------------------


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    versions = {}
    for module in ("duckdb", "polars"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = "not installed"
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        **versions,
        "load_average_at_start": os.getloadavg(),
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary_table(size: int, measurements: list[Measurement], engines: list[str]) -> list[str]:
    ok = {e: [m for m in measurements if m.engine == e and m.size == size and m.exit_code == 0] for e in engines}
    med = {
        e: (median([m.wall_s for m in ms]), median([m.cpu_s for m in ms]), median([m.peak_rss_mib for m in ms]))
        for e, ms in ok.items()
    }
    lines = [
        f"### {fmt_size(size)} orders (median of {max((len(ms) for ms in ok.values()), default=0)} runs)",
        "",
        "Load average (1 min) before the runs: "
        + ", ".join(f"{m.load_before:.2f}" for m in measurements if m.size == size)
        + ".",
        "",
        "| engine | wall | CPU (user+sys) | peak RSS | ours ÷ it: wall | CPU | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ours = med.get("ours")
    for engine in engines:
        if not ok[engine]:
            lines.append(f"| {engine} | failed | | | | | |")
            continue
        wall, cpu, rss = med[engine]
        if engine == "ours":
            ratios = "1.00 | 1.00 | 1.00"
        elif ours and ok.get("ours"):
            ratios = f"{ours[0] / wall:.2f} | {ours[1] / cpu:.2f} | {ours[2] / rss:.2f}"
        else:
            ratios = " | | "
        lines.append(f"| {engine} | {wall:.2f} s | {cpu:.2f} s | {rss:,.0f} MiB | {ratios} |")
    return lines


def our_stage_table(size: int, measurements: list[Measurement]) -> list[str]:
    ours = [m for m in measurements if m.engine == "ours" and m.size == size and m.exit_code == 0]
    if not ours:
        return []
    native = [m for m in measurements if m.engine == "native" and m.size == size and m.exit_code == 0]
    names = list(ours[0].stages)
    lines = [
        f"#### Our stages at {fmt_size(size)} orders (median; a stage starts beside the stages it reads and "
        "follows their output, so durations overlap; busy = duration minus the time spent waiting for "
        "running upstreams to write more)",
        "",
        "| stage | starts at | duration | busy | busy, native stages | ÷ native | rows in | rows out | "
        "IPC into / out of the sandbox |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def med(runs: list[Measurement], name: str, key: str) -> float:
        return median([m.stages[name][key] for m in runs if name in m.stages])

    for name in names:
        first = ours[0].stages[name]
        ipc = (
            f"{first['bytes_in'] / 1e6:,.0f} / {first['bytes_out'] / 1e6:,.0f} MB"
            if first.get("bytes_in") is not None
            else ""
        )
        busy = med(ours, name, "busy_s")
        native_busy = med(native, name, "busy_s") if native else float("nan")
        tax = f"{busy / native_busy:.2f}" if native and first.get("bytes_in") is not None and native_busy > 0 else ""
        lines.append(
            f"| {name} | {med(ours, name, 'start_s'):.2f} s | {med(ours, name, 'duration_s'):.2f} s | {busy:.2f} s | "
            f"{f'{native_busy:.2f} s' if native else ''} | {tax} | {first['rows_in'] or 0:,} | "
            f"{first['rows_out'] or 0:,} | {ipc} |"
        )
    blank = " | " * 6
    lines.append(
        f"| (after the last stage: quarantine, checks) | | {median([m.overhead['after_stages_s'] for m in ours]):.2f} s{blank}"
    )
    lines.append(
        f"| (outside the run: start, config, plugin loading) | | {median([m.overhead['outside_run_s'] for m in ours]):.2f} s{blank}"
    )
    lines.append(f"| **run** | | {median([m.overhead['run_s'] for m in ours]):.2f} s{blank}")
    return lines


def step_table(size: int, measurements: list[Measurement], engines: list[str]) -> list[str]:
    others = [e for e in engines if e not in HOSTS]
    runs = {e: [m for m in measurements if m.engine == e and m.size == size and m.exit_code == 0] for e in others}
    if not any(runs.values()):
        return []
    steps: list[str] = []
    for ms in runs.values():
        for m in ms:
            steps += [s for s in m.stages if s not in steps]
    lines = [
        f"#### Comparison engines' steps at {fmt_size(size)} orders (median, sequential)",
        "",
        "| step | " + " | ".join(others) + " |",
        "| --- | " + " | ".join("---:" for _ in others) + " |",
    ]
    for step in steps:
        cells = [f"{median([m.stages.get(step, 0.0) for m in runs[e]]):.2f} s" if runs[e] else "" for e in others]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return lines


# --- main -------------------------------------------------------------------------------------


def compare_all(engines: list[str], outs: dict[str, Path], label: str) -> tuple[bool, list[str]]:
    lines = [f"#### Output equality with ours: {label}", ""]
    equal = True
    for engine in engines:
        if engine == "ours":
            continue
        differences, figures = compare_outputs(outs["ours"], outs[engine])
        status = "equal" if not differences else f"{len(differences)} difference(s)"
        lines.append(
            f"- {engine}: **{status}** (fact rows {figures.fact_rows:,}, sum(total_amount) {figures.total_amount}, "
            f"quarantined {', '.join(f'{s} {n:,}' for s, n in figures.quarantined.items())})"
        )
        lines += [f"    - {d}" for d in differences[:60]]
        equal &= not differences
    return equal, lines


def edge_check(args: argparse.Namespace, engines: list[str]) -> tuple[bool, list[str]]:
    """Every engine once on the hand-written edge cases; outputs compared with ours."""
    raw = args.data / "edge" / "raw"
    shutil.rmtree(raw, ignore_errors=True)
    write_edge_cases(raw)
    outs = {}
    for engine in engines:
        out = args.data / "edge" / "out" / engine
        m = run_engine(engine, 0, 0, args, raw, out)
        if m.exit_code != 0:
            return False, [f"edge cases: {engine} failed (exit {m.exit_code}); see {out / 'logs'}"]
        outs[engine] = out
    if "ours" not in outs:
        return True, []
    equal, lines = compare_all(engines, outs, "hand-written edge cases (bench/edge_cases.py)")
    counts = quarantine_counts(outs["ours"])
    lines.append(f"- quarantined by ours: {json.dumps(counts)}")
    return equal, lines


def main() -> int:
    parser = argparse.ArgumentParser(description="End-to-end benchmark: ours vs DuckDB and Polars on the same data.")
    parser.add_argument(
        "--sizes", default="1000000,5000000", help="comma-separated order counts (default 1000000,5000000)"
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs per engine and size (default 3)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated: ours,native,duckdb,polars")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--host", type=Path, default=ROOT / "target" / "release" / "host")
    parser.add_argument(
        "--host-native",
        type=Path,
        default=ROOT / "target" / "release" / "host-native",
        help="a host built with --features native-stages (engine `native`)",
    )
    parser.add_argument(
        "--plugins", type=Path, default=ROOT / "target" / "wasm32-wasip2" / "plugin", help="the .wasm plugins"
    )
    parser.add_argument("--pipeline", type=Path, default=Path("config/ecommerce.yaml"))
    parser.add_argument("--data", type=Path, default=ROOT / "target" / "bench-data", help="data and outputs")
    parser.add_argument("--results", type=Path, default=ROOT / "target" / "bench-results")
    parser.add_argument("--regenerate", action="store_true", help="generate the sample data even if cached")
    parser.add_argument("--no-edge", action="store_true", help="skip the edge-case equality check")
    # `just bench sizes=1000000 runs=1` passes `key=value` words: they mean `--key value`.
    argv = []
    for word in sys.argv[1:]:
        key, eq, value = word.partition("=")
        argv += [f"--{key}", value] if eq and not word.startswith("-") else [word]
    args = parser.parse_args(argv)
    args.cache = args.data / "plugin-cache"
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or args.runs < 1 or not sizes:
        parser.error(f"engines must be among {ENGINES}, runs >= 1, at least one size")
    if "ours" in engines and not args.host.is_file():
        parser.error(f"{args.host} does not exist: build it first (cargo build --release)")
    if "native" in engines and not args.host_native.is_file():
        parser.error(f"{args.host_native} does not exist: build it first (see the justfile's bench recipe)")

    build = snapshot_build(args, engines) if set(HOSTS) & set(engines) else {}
    info = machine() | {"build": git_state()}
    report = [
        "## End-to-end benchmark",
        "",
        (
            f"{info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB, Linux {info['kernel']}; "
            f"Python {info['python']}, duckdb {info['duckdb']}, polars {info['polars']}; "
            f"load average at start {', '.join(f'{x:.2f}' for x in info['load_average_at_start'])}; "
            f"build {info['build']}."
        ),
        "",
    ]
    ok = True
    if "ours" in engines:
        log("warming the plugin compile cache")
        edge_raw = args.data / "edge" / "raw"
        write_edge_cases(edge_raw)
        run_engine("ours", 0, 0, args, edge_raw, args.data / "edge" / "out" / "warm-up")
    if not args.no_edge and len(engines) > 1:
        log("edge cases")
        equal, lines = edge_check(args, engines)
        ok &= equal
        report += lines + [""]

    measurements: list[Measurement] = []
    for size in sizes:
        raw = sample_data(args, size)
        outs = {engine: args.data / str(size) / "out" / engine for engine in engines}
        for run in range(1, args.runs + 1):
            log(f"{fmt_size(size)} orders, run {run}/{args.runs}")
            # Each run starts with the next engine, so none always follows the same one (a run
            # right after Polars' or DuckDB's 4 GiB was measured up to 20% slower).
            shift = (run - 1) % len(engines)
            for engine in engines[shift:] + engines[:shift]:
                m = run_engine(engine, size, run, args, raw, outs[engine])
                measurements.append(m)
                ok &= m.exit_code == 0
        report += summary_table(size, measurements, engines) + [""]
        if (
            "ours" in engines
            and len(engines) > 1
            and all(
                any(m.engine == e and m.size == size and m.exit_code == 0 and m.run == args.runs for m in measurements)
                for e in engines
            )
        ):
            log("comparing outputs")
            equal, lines = compare_all(engines, outs, f"{fmt_size(size)} orders")
            ok &= equal
            report += lines + [""]
        report += our_stage_table(size, measurements) + [""]
        report += step_table(size, measurements, engines) + [""]

    args.results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    results = {
        "machine": info,
        "build_sha256": build,
        "sizes": sizes,
        "runs": args.runs,
        "engines": engines,
        "measurements": [asdict(m) | {"cpu_s": round(m.cpu_s, 3)} for m in measurements],
        "all_equal_and_successful": ok,
    }
    (args.results / f"bench-{stamp}.json").write_text(json.dumps(results, indent=2))
    text = "\n".join(report).rstrip() + "\n"
    (args.results / "latest.md").write_text(text)
    print(text)
    log(f"results: {args.results / f'bench-{stamp}.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
