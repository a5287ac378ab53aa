#!/usr/bin/env bash
# Installs everything the checks need into ./.venv and runs every check: Rust formatting, lints
# and unit tests; the compiled module against its stubs; the Python tests against the emulator.
# This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# The destination tests start a PostgreSQL server of their own (tests/pg_server.py): they need
# the server programs, Debian's postgresql package.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    echo "== install PostgreSQL (Debian's package)"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "maturin>=1.16,<2"

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The decoders' entry points and their benchmarks (a feature the workspace build leaves out).
cargo clippy -p sfarrow-client --all-targets --features internals --locked -- -D warnings
echo "== cargo test"
cargo test --locked -p sfarrow-soql -p sfarrow-client -p sfarrow-files -p sfarrow-emulator -p sfarrow-pubsub-proto

echo "== fuzz (15 s a target; a long run: bash scripts/fuzz.sh 600 --grow)"
bash scripts/fuzz.sh 15

echo "== build and install (dev profile)"
maturin develop --locked --extras test

echo "== ruff"
python -m ruff check python tests benchmarks
python -m ruff format --check python tests benchmarks

echo "== stubs"
python -m mypy.stubtest sfarrow._sfarrow
python -m mypy python/sfarrow

echo "== pytest"
python -m pytest -q -p no:cacheprovider
