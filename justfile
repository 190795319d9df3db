# Contributors: `just build-plugins && just test` is exactly what CI runs.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Every stage plugin and test fixture in the workspace, built as wasm32-wasip2 components.
plugins := "-p identity -p validate -p cleanse -p enrich -p aggregate -p high-value -p hostile -p future-contract -p bad-describe -p slow-describe"

default:
    @just --list

# Build every plugin into target/wasm32-wasip2/plugin/*.wasm (adds the wasm target if missing).
build-plugins:
    @rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
    cargo build --profile plugin --target wasm32-wasip2 {{ plugins }}

# Build the host binary (target/release/host).
build:
    cargo build --release

# Build everything, generate sample data if there is none, and run the e-commerce pipeline.
run *args:
    just build-plugins
    cargo build --release
    @[ -f data/raw/orders.csv ] || target/release/host generate-data --orders 100000 --seed 42 --out data/raw
    target/release/host run --pipeline config/ecommerce.yaml {{ args }}

# Build everything and run the example pipeline on its checked-in data (config/examples/weblogs.yaml).
example *args:
    just build-plugins
    cargo build --release
    target/release/host run --pipeline config/examples/weblogs.yaml {{ args }}

# Formatting and clippy (`just lint`), then every test: unit, SDK harness, plugins natively,
# end-to-end on real wasm.
test: interop-env browser-env airflow-env lint
    cargo test --release --workspace
    just python-sdk-test

# The Python SDK's tests under CPython (its Arrow IPC codec against pyarrow, the example stage),
# then the example built with componentize-py and run by the host in the sandbox.
python-sdk-test:
    ETL_STAGE_COMPONENT_TEST=1 plugins/sdk-python/test.sh -q

# The DuckDB interoperability test's Python venv: target/py-interop from tests/interop/requirements.txt.
interop-env:
    @just _venv target/py-interop tests/interop/requirements.txt

# Apache Airflow 3 for the exported DAG's test (`tests/e2e/airflow.rs`): target/airflow/venv-3 from
# the pinned lock tests/airflow/requirements-3.txt (Python 3.11); instant when up to date.
airflow-env:
    @tests/airflow/setup.sh 3

# The exported DAGs' failure paths (retries, skips, a failed run, a scheduled DAG in Paris) on real
# Airflow 3 and 2 with a stand-in host (tests/airflow/check_export.sh; about 4 minutes, not in CI).
airflow-check: build
    tests/airflow/check_export.sh

# Debian's chromium for the dashboard's headless-browser test (`tests/e2e/serve.rs`); instant when
# installed. Uses sudo when not root.
browser-env:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v chromium >/dev/null && exit 0
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y --no-install-recommends chromium
    chromium --version

# A Python venv at `dir` with `requirements` installed; rebuilt only when the file changes.
_venv dir requirements:
    #!/usr/bin/env bash
    set -euo pipefail
    want="$(sha256sum {{ requirements }} | cut -d' ' -f1)"
    if [ "$(cat {{ dir }}/.requirements.sha256 2>/dev/null)" = "$want" ] && [ -x {{ dir }}/bin/python ]; then
        exit 0
    fi
    "${PYTHON:-python3}" -m venv --clear {{ dir }}
    {{ dir }}/bin/python -m pip install --disable-pip-version-check --quiet -r {{ requirements }}
    echo "$want" > {{ dir }}/.requirements.sha256
    echo "{{ dir }}: $({{ dir }}/bin/python --version), $(grep -v '^#' {{ requirements }} | paste -sd' ')"

# Clippy with warnings as errors, on the host, the SDK and the plugins (native and wasm).
lint:
    cargo fmt --all --check
    cargo clippy --release --workspace --all-targets -- -D warnings
    cargo clippy --release -p host --features native-stages -- -D warnings
    cargo clippy --profile plugin --target wasm32-wasip2 {{ plugins }} -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p etl-sdk -p etl-format

# End-to-end benchmark vs DuckDB and Polars, outputs checked equal (BENCHMARKS.md): `just bench sizes=1000000 runs=1`.
bench *args:
    just build-plugins
    cargo build --release -p host --features native-stages
    cp target/release/host target/release/host-native
    cargo build --release
    just bench-venv
    target/py-bench/bin/python bench/run.py {{ args }}

# The benchmark's Python venv: target/py-bench from bench/requirements.txt.
bench-venv:
    @just _venv target/py-bench bench/requirements.txt

# The boundary benchmark: identity plugin in the sandbox vs the same stage natively.
bench-boundary rows="1000000" batches="8":
    just build-plugins
    cargo bench -p host --bench boundary -- --rows {{ rows }} --batches {{ batches }}

# Per-stage throughput: every plugin stage of config/ecommerce.yaml on generated data, wasm vs native.
bench-stages rows="1000000":
    just build-plugins
    cargo bench -p host --bench stages -- --rows {{ rows }}

# What CI runs (.ci/run).
ci:
    just build-plugins
    just test
