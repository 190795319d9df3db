#!/usr/bin/env bash
# Writes tests/airflow/requirements-N.txt (N = 2 or 3, default 3): every package of a fresh
# Python 3.11 venv with Apache Airflow installed from PyPI, pinned (`pip freeze`).
#
#   tests/airflow/lock.sh 3     # Airflow 3.3.2, packages as PyPI had them on 2026-12-02
#   tests/airflow/lock.sh 2     # Airflow 2.10.5, packages as PyPI had them on its release day
#
# Airflow's own constraints files are not reachable from here: pip's --uploaded-prior-to (pip
# 25.3 and later) stands in for them, so that running this again writes the same lock. Change
# the version and the date together to move to a newer Airflow; setup.sh installs the lock.
set -euo pipefail

major="${1:-3}"
case "$major" in
    3) airflow=3.3.2 cutoff=2026-12-02T00:00:00Z ;;
    2) airflow=2.10.5 cutoff=2025-02-11T00:00:00Z ;;
    *) echo "usage: $0 [2|3]" >&2; exit 3 ;;
esac
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || { echo "lock.sh: the locks are for Python 3.11; $python is $("$python" --version)" >&2; exit 3; }

venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet pip==26.3
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
    --uploaded-prior-to "$cutoff" "apache-airflow==$airflow"
{
    echo "# Apache Airflow $airflow on Python 3.11, every package pinned: the \`pip freeze\` of a fresh venv"
    echo "# after \`pip install --uploaded-prior-to $cutoff apache-airflow==$airflow\` (pip 26.3),"
    echo "# PyPI's packages as of that date standing in for Airflow's constraints file."
    echo "# Written by \`tests/airflow/lock.sh $major\`; installed by \`tests/airflow/setup.sh $major\`."
    "$venv/bin/python" -m pip freeze --disable-pip-version-check --exclude pip
} > "$here/requirements-$major.txt"
echo "$here/requirements-$major.txt: apache-airflow==$airflow, $(grep -vc '^#' "$here/requirements-$major.txt") packages"
