#!/usr/bin/env bash
# The demo: a local IAM (moto's server on 127.0.0.1, under libfaketime so that keys can
# be given ages) with an account that shows every decision, then the whole cycle against
# it: audit, show, apply (with verification), apply again, rollback, and the evidence
# report. Needs no AWS account and never reaches AWS. Works from any directory, with
# or without CARGO_TARGET_DIR. Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

fail() {
  echo "demo: $*" >&2
  exit 1
}
# shellcheck disable=SC2154 # status is assigned inside the trap
trap 'status=$?; [ "$status" -eq 0 ] || echo "demo: stopped (exit $status) at line $LINENO: $BASH_COMMAND" >&2' EXIT

. scripts/lib/tools.sh
# A sudo password prompt must not hide among cargo's output: ask it first.
if ! find_libfaketime >/dev/null && [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
  ensure_libfaketime || fail "libfaketime is needed to give the seeded keys their ages"
fi

# What must be installed installs while cargo builds: they are the first run's cost.
found=$(mktemp)
(
  ensure_libfaketime || { echo "demo: libfaketime is needed to give the seeded keys their ages" >&2; exit 1; }
  ensure_moto || { echo "demo: moto's server could not be installed" >&2; exit 1; }
  printf '%s\n%s\n%s\n' "$KEYTRIM_LIBFAKETIME" "$KEYTRIM_MOTO_PYTHON" "$KEYTRIM_MOTO_SERVER" >"$found"
) &
installs=$!

echo "building keytrim (the binary only; the first build compiles the AWS SDK, about 4 minutes on 2 cores; later runs take seconds)" >&2
cargo build --locked --bin keytrim || fail "cargo could not build keytrim"
wait "$installs" || fail "what the demo needs could not be installed (see above)"
{ read -r KEYTRIM_LIBFAKETIME && read -r KEYTRIM_MOTO_PYTHON && read -r KEYTRIM_MOTO_SERVER; } <"$found"
rm -f "$found"

# Where cargo put the binary, as an absolute path (CARGO_TARGET_DIR may be relative,
# or set in a cargo config file).
target_dir=$(cargo metadata --locked --no-deps --format-version 1 |
  "$KEYTRIM_MOTO_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
keytrim="$target_dir/debug/keytrim"
[ -x "$keytrim" ] || fail "the build did not produce $keytrim"

work=$(mktemp -d)
server=""
cleanup() {
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap 'status=$?; cleanup; [ "$status" -eq 0 ] || echo "demo: stopped (exit $status) at line $LINENO: $BASH_COMMAND" >&2' EXIT

port=$("$KEYTRIM_MOTO_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port"
echo "+0" >"$work/clock"
echo "Starting a local IAM (moto under libfaketime) at $endpoint ..."
(
  cd "$work"
  LD_PRELOAD="$KEYTRIM_LIBFAKETIME" FAKETIME_TIMESTAMP_FILE="$work/clock" FAKETIME_NO_CACHE=1 \
    exec "$KEYTRIM_MOTO_SERVER" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1
) &
server=$!
"$KEYTRIM_MOTO_PYTHON" scripts/lib/demo_seed.py "$endpoint" "$work/clock" ||
  fail "could not seed the local IAM; its log: $(tail -n 3 "$work/moto.log" | tr '\n' ' ')"

# keytrim reaches the local IAM and nothing else: no inherited AWS settings, empty
# config files, no instance metadata.
mkdir -p "$work/home" "$work/account"
: >"$work/empty"
keytrim_here() {
  (cd "$work/account" && env -i PATH="$PATH" HOME="$work/home" TERM="${TERM:-dumb}" \
    AWS_CONFIG_FILE="$work/empty" AWS_SHARED_CREDENTIALS_FILE="$work/empty" \
    AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL="$endpoint" \
    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "$keytrim" "$@")
}

# Run `keytrim ARGS...`, show what it printed and its exit code, which must be EXPECTED.
step() {
  local expected=$1 code=0
  shift
  printf '\n$ keytrim %s\n' "$*"
  keytrim_here "$@" || code=$?
  echo "(exit code $code)"
  [ "$code" -eq "$expected" ] || fail "keytrim $* exited $code, expected $expected"
}

plan=plans/123456789012.yaml
step 3 audit # not compliant: a plan with work was written
step 0 show "$plan"
step 0 show "$plan" --format markdown
printf '\nThe plan file (%s):\n' "$plan"
cat "$work/account/$plan"

echo
echo "Applying it: alice's old key is deactivated and verified, so are frank's and ivan's idle"
echo "keys (no key of theirs is fresh: each keeps the key in use, marked for rotation);"
echo "hank and rita are held for review."
step 4 apply --yes "$plan" # 4: finished, hank and rita held
"$KEYTRIM_MOTO_PYTHON" scripts/lib/demo_seed.py "$endpoint" "$work/clock" --check-one-active frank ivan ||
  fail "frank and ivan do not each have one active key, the one in use"
journal=$(cd "$work/account" && ls plans/*.journal.jsonl)
printf '\nThe journal (%s):\n' "$journal"
cat "$work/account/$journal"
step 4 apply --yes "$plan" # a re-run is a no-op
echo
echo "Rolling the apply back from its journal:"
step 0 rollback --yes "$journal"

echo
echo "The evidence for an auditor: one HTML file from the plan and both journals."
mapfile -t journals < <(cd "$work/account" && ls plans/*.journal.jsonl)
step 0 report "$plan" "${journals[@]}" --commit "demo" -o evidence.html
grep -q 'Outcome: rolled back' "$work/account/evidence.html" || fail "the evidence report does not show the rollback"

echo
echo "Demo finished in $((SECONDS - started)) s: local IAM stopped, nothing reached AWS."
