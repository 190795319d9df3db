# Contributors: `just build-plugins && just test` is exactly what CI runs.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Every stage plugin and test fixture in the workspace, built as wasm32-wasip2 components.
plugins := "-p identity -p validate -p cleanse -p enrich -p aggregate -p hostile -p future-contract"

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

# Formatting check, then every test: unit, SDK harness, plugins natively, end-to-end on real wasm.
test:
    cargo fmt --all --check
    cargo test --release --workspace

# Clippy with warnings as errors, on the host, the SDK and the plugins (native and wasm).
lint:
    cargo fmt --all --check
    cargo clippy --release --workspace --all-targets -- -D warnings
    cargo clippy --profile plugin --target wasm32-wasip2 {{ plugins }} -- -D warnings

# The boundary benchmark: identity plugin in the sandbox vs the same stage natively.
bench rows="1000000" batches="8":
    just build-plugins
    cargo bench -p host --bench boundary -- --rows {{ rows }} --batches {{ batches }}

# What CI runs (.ci/run).
ci:
    just build-plugins
    just test
