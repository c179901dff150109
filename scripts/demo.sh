#!/usr/bin/env bash
# The demo: a local IAM on loopback with an account that shows every decision, then
# `keytrim audit` and `keytrim show`. Needs no AWS account; never reaches AWS.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh
ensure_moto
ensure_libfaketime
cargo build --locked --quiet --bin keytrim --example demo
KEYTRIM_BIN="${CARGO_TARGET_DIR:-target}/debug/keytrim" cargo run --locked --quiet --example demo
