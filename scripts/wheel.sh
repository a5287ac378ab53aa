#!/usr/bin/env bash
# Release readiness: builds the wheel (abi3: one file for CPython 3.10 and later), installs it
# into a fresh virtualenv whose PATH holds no Rust toolchain, and runs the README's main job
# from there (an incremental flow from an emulated org to Parquet, twice). Prints the wheel's
# size. The wheel is left in dist/ (or $WHEEL_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
out="${WHEEL_DIR:-$root/dist}"
python="$(python3 -c 'import sys; print(sys.executable)')"

echo "== build the wheel (release profile)"
"$python" -m venv .venv-wheel
.venv-wheel/bin/python -m pip install --quiet --upgrade pip "maturin>=1.16,<2"
rm -f "$out"/sfarrow-*.whl
.venv-wheel/bin/maturin build --release --locked --out "$out"
wheel="$(ls -t "$out"/sfarrow-*.whl | head -n 1)"
echo "wheel: $(basename "$wheel"), $(du -k "$wheel" | cut -f1) KiB ($(stat -c %s "$wheel") bytes)"

echo "== install it where there is no cargo, and run the main job"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"
clean_path="$work/venv/bin:/usr/bin:/bin"
if PATH="$clean_path" command -v cargo >/dev/null || PATH="$clean_path" command -v rustc >/dev/null; then
    echo "a Rust toolchain is on the clean PATH: the check would prove nothing" >&2
    exit 1
fi
PATH="$clean_path" "$work/venv/bin/python" -m pip install --quiet "$wheel"
cp examples/accounts_to_parquet.toml "$work/"
cd "$work"
PATH="$clean_path" sfarrow run accounts_to_parquet.toml --times 2 | tee run.log
grep -q "^read [1-9][0-9,]* records" run.log
grep -q "^read 0 records" run.log
test -n "$(ls out/accounts/*.parquet)"
echo "the wheel works without a Rust toolchain"
