#!/usr/bin/env bash
# Builds this plugin into {{lib}}.wasm, a WebAssembly component, with the etl-stage SDK's
# componentize-py build (its build venv is made on first use). ETL_STAGE_SDK overrides where the
# SDK is.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${ETL_STAGE_SDK:-{{sdk_python}}}/build.sh" "$here" "$here/{{lib}}.wasm"
