#!/usr/bin/env bash
# Runs this plugin's tests natively under CPython, in the etl-stage SDK's test venv (pytest,
# pyarrow; made on first use). Extra arguments go to pytest. ETL_STAGE_SDK overrides where the
# SDK is.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ETL_STAGE_PROJECT="$here" exec "${ETL_STAGE_SDK:-{{sdk_python}}}/test.sh" "$@"
