#!/usr/bin/env bash
# The optional audit step of keytrim's GitHub Action (action.yml): run
# `keytrim audit` with the given arguments and report what happened as step outputs,
# without failing the job for exit code 3 (a plan with work was written), which is the
# expected result of an audit that found something.
#   KEYTRIM_AUDIT_ARGS  extra arguments, split on whitespace (no shell expansion)
#   KEYTRIM_PLANS_DIR   where the plans are written (default plans)
#   GITHUB_OUTPUT       exit-code, plans (the plan files this audit wrote, one per line)
set -euo pipefail

plans_dir="${KEYTRIM_PLANS_DIR:-plans}"
read -r -a args <<<"${KEYTRIM_AUDIT_ARGS:-}"
mkdir -p "$plans_dir"
marker=$(mktemp)
# The marker's time must be strictly before any plan this audit writes.
touch -d '-1 second' "$marker" 2>/dev/null || touch "$marker"

set +e
# ${args[@]+...}: macOS runners' bash 3.2 calls an empty array unbound under set -u.
keytrim audit ${args[@]+"${args[@]}"}
code=$?
set -e

plans=$(find "$plans_dir" -maxdepth 1 -name '*.yaml' -newer "$marker" | LC_ALL=C sort)
rm -f "$marker"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "exit-code=$code" >>"$GITHUB_OUTPUT"
  {
    echo "plans<<KEYTRIM_PLANS_END"
    [ -z "$plans" ] || echo "$plans"
    echo "KEYTRIM_PLANS_END"
  } >>"$GITHUB_OUTPUT"
fi
# 0: compliant; 3: a plan with work. Anything else is an error and fails the step.
case "$code" in
  0 | 3) exit 0 ;;
  *) exit "$code" ;;
esac
