#!/usr/bin/env bash
# Proves `host export airflow` on real Airflow: installs target/airflow/venv-N with setup.sh,
# then runs check_export.py in it, which exports config/ecommerce.yaml and scheduled.yaml with
# target/release/host (build it first: this script does not) and runs the scenarios on them
# with fake_host.py: about 2-3 minutes for 3.x and 1-1.5 for 2.x once the venvs exist.
#
#   tests/airflow/check_export.sh        # Airflow 3, then Airflow 2
#   tests/airflow/check_export.sh 3      # one of them
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(3 2)
status=0
for major in "${majors[@]}"; do
    "$here/setup.sh" "$major"
    python3 "$here/check_export.py" "$here/../../target/airflow/venv-$major" || status=1
done
exit "$status"
