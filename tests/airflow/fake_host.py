#!/usr/bin/env python3
"""A stand-in for `target/release/host` when testing the exported Airflow DAGs.

It appends one JSON line per call to $FAKE_HOST_LOG, {"argv": [...], "stage": ..., "attempt": ...,
"code": ..., "cwd": ..., "time": ...}, then exits with the code that $FAKE_HOST_CODES gives it:

    FAKE_HOST_CODES="validate_orders=2 generate_reports=1 finish=2"

A stage not listed exits 0; `finish` stands for `--finish`. A code list separated by commas is
read per attempt: `transform_orders=2,0` exits 2 on attempt 1 and 0 on attempt 2 and later (the
last code repeats).

It reads its argv the way the host's `run` does (the options the exported tasks may pass, each
once but `--set`, which repeats) and exits 3 (usage), printing why on stderr, when the command
is not `run`, an option is unknown or lacks its value, the run id or the date is missing or
malformed, there is not exactly one of `--stage` and `--finish`, `--attempt` is not a positive
number given with `--stage`, or `--trigger` is not `manual` or `airflow`. Run ids must match the
host's grammar with at most 64 characters (what `run_slug` promises; the host takes 128).
"""

import json
import os
import re
import sys
import time

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
VALUED = {"--pipeline", "--env", "--set", "--run-id", "--date", "--trigger", "--stage", "--attempt", "--max-attempts"}
FLAGS = {"--no-progress", "--finish"}


def parse(argv):
    """The options of `run ARGS` as {name: [values]} (flags: [True]); raises ValueError."""
    if argv[:1] != ["run"]:
        raise ValueError(f"expected the `run` command, got {argv[:1]}")
    options = {}
    rest = argv[1:]
    while rest:
        name, rest = rest[0], rest[1:]
        if name in FLAGS:
            value = True
        elif name in VALUED:
            if not rest or rest[0].startswith("--"):
                raise ValueError(f"{name} needs a value")
            value, rest = rest[0], rest[1:]
        else:
            raise ValueError(f"unexpected argument {name!r}")
        if name in options and name != "--set":
            raise ValueError(f"{name} given twice")
        options.setdefault(name, []).append(value)
    one = {name: values[0] for name, values in options.items()}
    if not RUN_ID.fullmatch(one.get("--run-id", "")):
        raise ValueError(f"bad or missing --run-id {one.get('--run-id')!r}")
    if not DATE.fullmatch(one.get("--date", "")):
        raise ValueError(f"bad or missing --date {one.get('--date')!r}")
    if ("--stage" in one) == ("--finish" in one):
        raise ValueError("expected exactly one of --stage and --finish")
    if "--attempt" in one and ("--stage" not in one or not re.fullmatch(r"[1-9][0-9]*", one["--attempt"])):
        raise ValueError(f"--attempt {one['--attempt']!r} needs --stage and a number from 1")
    if "--max-attempts" in one and ("--attempt" not in one or not re.fullmatch(r"[1-9][0-9]*", one["--max-attempts"])):
        raise ValueError(f"--max-attempts {one['--max-attempts']!r} needs --attempt and a number from 1")
    if one.get("--trigger", "manual") not in ("manual", "airflow"):
        raise ValueError(f"--trigger {one['--trigger']!r}: expected manual or airflow")
    return one


def main(argv):
    try:
        parse(argv)
        problem = None
    except ValueError as error:
        problem = str(error)
    stage = "finish" if "--finish" in argv else (argv[argv.index("--stage") + 1] if "--stage" in argv[:-1] else None)
    try:
        attempt = int(argv[argv.index("--attempt") + 1]) if "--attempt" in argv[:-1] else 1
    except ValueError:
        attempt = 1
    codes = dict(item.split("=", 1) for item in os.environ.get("FAKE_HOST_CODES", "").split())
    listed = [int(c) for c in codes.get(stage, "0").split(",")]
    code = 3 if problem else listed[min(max(attempt, 1), len(listed)) - 1]
    with open(os.environ.get("FAKE_HOST_LOG", "/dev/null"), "a") as log:
        call = {"argv": argv, "stage": stage, "attempt": attempt, "code": code, "cwd": os.getcwd()}
        log.write(json.dumps(call | {"time": time.time()}) + "\n")
    if problem:
        print(f"fake host: usage: {problem}", file=sys.stderr)
    print(f"fake host: stage {stage} attempt {attempt} exits {code}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
