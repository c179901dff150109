#!/usr/bin/env bash
# The test command: installs what the tests need (moto's server, libfaketime), then
# checks formatting and lints and runs every test. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/local-iam.sh
ensure_moto
ensure_libfaketime
echo "local IAM: $KEYTRIM_MOTO_SERVER (libfaketime: $KEYTRIM_LIBFAKETIME)" >&2

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
