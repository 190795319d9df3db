#!/usr/bin/env bash
# Builds a Python stage plugin into a WebAssembly component the host can load.
#
#   plugins/sdk-python/build.sh PLUGIN_DIR OUT.wasm
#
# PLUGIN_DIR holds the plugin's module, app.py (a Stage subclass and `export(...)`), any other
# modules it imports, and optionally a requirements.txt of pure-Python packages it needs.
#
# componentize-py runs from a build venv of its own (requirements-build.txt), made once under
# $ETL_PY_TARGET (default: target/py-plugin of the repository) and rebuilt when the requirements
# files change. It is shown only the plugin, the SDK and a directory holding exactly the SDK's
# guest dependencies (requirements-guest.txt): never the venv's or the system's site-packages,
# which could slip modules like numpy into the component.
set -euo pipefail

die() { echo "build.sh: $*" >&2; exit 2; }

[ $# -eq 2 ] || die "usage: build.sh PLUGIN_DIR OUT.wasm"
sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ -d "$1" ] || die "plugin directory $1 does not exist"
plugin="$(cd "$1" && pwd)"
[ -f "$plugin/app.py" ] || die "$plugin has no app.py: a plugin's module is app.py, defining a Stage subclass and calling etl_stage.export(...)"
out_dir="$(dirname "$2")"
mkdir -p "$out_dir"
out="$(cd "$out_dir" && pwd)/$(basename "$2")"
target="${ETL_PY_TARGET:-$sdk/../../target/py-plugin}"
mkdir -p "$target"
target="$(cd "$target" && pwd)"

wit="$sdk/etl_stage/wit"
contract="$(sed -n 's/^package etl:stage@\(.*\);$/\1/p' "$wit/stage.wit")"
[ -n "$contract" ] || die "cannot read the contract version from $wit/stage.wit"

# The build venv, keyed by the requirements it was made from (like the justfile's `_venv`).
venv="$target/build"
want="$(cat "$sdk/requirements-build.txt" "$sdk/requirements-guest.txt" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ] || [ ! -x "$venv/bin/componentize-py" ]; then
    echo "build.sh: making the build venv $venv" >&2
    "${PYTHON:-python3}" -m venv --clear "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$sdk/requirements-build.txt"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --no-deps \
        --target "$venv/guest" -r "$sdk/requirements-guest.txt"
    echo "$want" > "$venv/.requirements.sha256"
fi

# A scratch directory per build: componentize-py writes files to its working directory.
work="$(mktemp -d "$target/work.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Copies of what componentize-py imports, fresh for every build: it writes bytecode caches
# beside the sources it imports, and neither the plugin's tree nor the SDK's should get them.
copy() { mkdir -p "$2" && tar -C "$1" --exclude=__pycache__ --exclude=.git -cf - . | tar -C "$2" -xf -; }
copy "$plugin" "$work/plugin"
copy "$sdk/etl_stage" "$work/sdk/etl_stage"
copy "$sdk/etl_stage/_componentize" "$work/glue"
paths=(-p "$work/plugin" -p "$work/sdk" -p "$work/glue" -p "$venv/guest")

# The plugin's own dependencies: pure-Python wheels only (there is no native code in the sandbox).
if [ -f "$plugin/requirements.txt" ]; then
    deps="$target/deps/$(sha256sum "$plugin/requirements.txt" | cut -d' ' -f1)"
    if [ ! -f "$deps/.complete" ]; then
        rm -rf "$deps"
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --target "$deps" \
            --only-binary=:all: --platform any --implementation py -r "$plugin/requirements.txt" \
            || die "cannot install $plugin/requirements.txt as pure-Python wheels (packages with native code cannot run in the sandbox)"
        touch "$deps/.complete"
    fi
    paths+=(-p "$deps")
fi

cd "$work"
started=$(date +%s)
env -u VIRTUAL_ENV -u PYTHONPATH -u PYTHONHOME "$venv/bin/componentize-py" \
    -d "$wit" -w plugin \
    --export-interface-name "etl:stage/stage@$contract=etl_stage_exports" \
    componentize etl_stage_app "${paths[@]}" -o "$out.tmp" >"$work/log" 2>&1 \
    || { grep -v '^ *[0-9]*: \|^ *at ' "$work/log" >&2 || true; die "componentize-py failed for $plugin"; }
mv "$out.tmp" "$out"
echo "build.sh: $out ($(du -h "$out" | cut -f1), $(( $(date +%s) - started )) s)" >&2
