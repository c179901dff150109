# Sourced by scripts/test.sh and scripts/demo.sh: install what the tests and the demo
# need. moto's server (pinned) goes into .venv when no moto 5.x is found; libfaketime
# (to give seeded keys real ages) comes from Debian when missing; Microsoft's SARIF
# Multitool (to validate SARIF output) goes into .tools via npm. Exports
# KEYTRIM_MOTO_SERVER, KEYTRIM_LIBFAKETIME and KEYTRIM_SARIF_MULTITOOL for the tests.

MOTO_PIN='moto[server]==5.2.1'

moto_major() { # path to moto_server -> major version of the moto it runs, or nothing
  local python
  python=$(head -n 1 "$1" 2>/dev/null | sed -n 's/^#!//p')
  [ -n "$python" ] || return 0
  $python -c 'import moto; print(moto.__version__.split(".")[0])' 2>/dev/null || true
}

ensure_moto() {
  local found=""
  if [ -x .venv/bin/moto_server ]; then
    found="$PWD/.venv/bin/moto_server"
  elif command -v moto_server >/dev/null 2>&1 && [ "$(moto_major "$(command -v moto_server)")" = 5 ]; then
    found=$(command -v moto_server)
  else
    echo "installing $MOTO_PIN into .venv" >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "$MOTO_PIN"
    found="$PWD/.venv/bin/moto_server"
  fi
  export KEYTRIM_MOTO_SERVER="$found"
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

SARIF_MULTITOOL_PIN='@microsoft/sarif-multitool@5.7.0'

ensure_sarif_multitool() {
  local tool="$PWD/.tools/node_modules/.bin/sarif-multitool"
  if [ ! -x "$tool" ]; then
    command -v npm >/dev/null 2>&1 || { echo "npm is needed to install $SARIF_MULTITOOL_PIN" >&2; return 1; }
    echo "installing $SARIF_MULTITOOL_PIN into .tools" >&2
    mkdir -p .tools
    npm install --prefix .tools --silent --no-audit --no-fund "$SARIF_MULTITOOL_PIN" >/dev/null
  fi
  export KEYTRIM_SARIF_MULTITOOL="$tool"
}
