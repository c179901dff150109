#!/usr/bin/env bash
# The test command: installs what the tests need (moto's server, libfaketime, the
# SARIF Multitool, cfn-lint, Chromium with pdftotext, and the release files'
# linters), checks the release files (workflows, Dockerfile, scripts, the GitHub
# Action), then checks formatting and lints and runs every test. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh
ensure_moto
ensure_libfaketime
ensure_sarif_multitool
ensure_cfn_lint
ensure_chromium
echo "local IAM: $KEYTRIM_MOTO_SERVER (libfaketime: $KEYTRIM_LIBFAKETIME); SARIF validator: $KEYTRIM_SARIF_MULTITOOL" >&2

scripts/check-release-files.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
