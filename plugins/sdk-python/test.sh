#!/usr/bin/env bash
# Runs the Python SDK's tests and the example plugin's, natively under CPython:
#
#   plugins/sdk-python/test.sh [pytest args...]
#
# The venv lives at $ETL_PY_TARGET/dev (default: target/py-plugin/dev of the repository), made
# from requirements-dev.txt and rebuilt only when that file changes (like the justfile's `_venv`).
# ETL_STAGE_PROJECT=DIR runs a plugin project's tests instead, from DIR, with the SDK importable
# (what the test.sh of a project made by `host plugin new` does).
# ETL_STAGE_COMPONENT_TEST=1 also builds the example into a component with build.sh and runs it
# in the real sandbox (needs target/release/host; about a minute).
set -euo pipefail

sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${ETL_PY_TARGET:-$sdk/../../target/py-plugin}"
mkdir -p "$target"
venv="$(cd "$target" && pwd)/dev"
want="$(sha256sum "$sdk/requirements-dev.txt" | cut -d' ' -f1)"
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ] || [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv --clear "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$sdk/requirements-dev.txt"
    echo "$want" > "$venv/.requirements.sha256"
    echo "$venv: $("$venv/bin/python" --version), $(grep -v '^#' "$sdk/requirements-dev.txt" | paste -sd' ')"
fi

if [ -n "${ETL_STAGE_PROJECT:-}" ]; then
    cd "$ETL_STAGE_PROJECT"
    export PYTHONPATH="$sdk${PYTHONPATH:+:$PYTHONPATH}"
    set -- -p no:cacheprovider "$@"
else
    cd "$sdk"
fi
# The venv's bin first: the glue test runs its componentize-py.
PYTHONDONTWRITEBYTECODE=1 PATH="$venv/bin:$PATH" exec "$venv/bin/python" -m pytest "$@"
