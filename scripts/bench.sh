#!/usr/bin/env bash
# The benchmark: keytrim against Cloud Custodian and the CIS procedure's own method, on
# a local IAM with added latency. Writes BENCHMARKS.md. Never reaches AWS.
# Usage: scripts/bench.sh [--part main|scale|all] [--users N] [--scale-users N] [--concurrency N] [--sample N]
#        (--part scale: an Organization's audit and apply under throttling; see examples/bench/scale.rs)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh
ensure_moto
ensure_libfaketime
# Custodian and the AWS CLI are compared in the main part only.
if [[ " $* " != *" --part scale "* ]] && { [ ! -x .venv-bench/bin/custodian ] || [ ! -x .venv-bench/bin/aws ]; }; then
  echo "installing Cloud Custodian (c7n) and the AWS CLI into .venv-bench" >&2
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install --quiet --disable-pip-version-check c7n awscli
fi
# The benchmark's local IAM: the same moto, served by waitress (scripts/lib/moto_bench_server.py).
WAITRESS_PIN='waitress==3.0.2'
if [ ! -x .venv-bench-iam/bin/python ] || ! .venv-bench-iam/bin/python -c 'import moto, waitress' 2>/dev/null; then
  echo "installing $MOTO_PIN and $WAITRESS_PIN into .venv-bench-iam" >&2
  python3 -m venv .venv-bench-iam
  .venv-bench-iam/bin/pip install --quiet --disable-pip-version-check "$MOTO_PIN" "$WAITRESS_PIN"
fi
cargo build --locked --release --bin keytrim --example bench
KEYTRIM_BIN="${CARGO_TARGET_DIR:-target}/release/keytrim" \
  "${CARGO_TARGET_DIR:-target}/release/examples/bench" --tools .venv-bench/bin --out BENCHMARKS.md "$@"
