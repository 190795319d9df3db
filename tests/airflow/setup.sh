#!/usr/bin/env bash
# The Airflow venv that tests the exported DAGs: target/airflow/venv-N (N = 2 or 3, default 3)
# with tests/airflow/requirements-N.txt installed, rebuilt only when that lock changes (the
# `_venv` recipe of the justfile). Prints the venv's Airflow version.
#
#   tests/airflow/setup.sh [2|3]        # about 1 minute the first time, then instant
set -euo pipefail

major="${1:-3}"
case "$major" in
    2 | 3) ;;
    *) echo "usage: $0 [2|3]" >&2; exit 3 ;;
esac
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
lock="$root/tests/airflow/requirements-$major.txt"
venv="$root/target/airflow/venv-$major"
python="${PYTHON:-python3}"

want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ] || [ ! -x "$venv/bin/airflow" ]; then
    "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
        || { echo "setup.sh: the locks are for Python 3.11; $python is $("$python" --version)" >&2; exit 3; }
    rm -f "$venv/.requirements.sha256"
    "$python" -m venv --clear "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --no-deps -r "$lock"
    echo "$want" > "$venv/.requirements.sha256"
fi
version="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))')"
echo "target/airflow/venv-$major: Apache Airflow $version, $("$venv/bin/python" --version)"
