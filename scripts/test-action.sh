#!/usr/bin/env bash
# Tests the GitHub Action's scripts (scripts/action/) against a fake release directory
# served as file:// URLs: the right archive is chosen per OS and architecture, a good
# archive is installed and put on PATH, a wrong checksum (the release's own or a pinned
# one) is refused with nothing installed, and the audit step reports its exit code and
# plans. Run by scripts/test.sh; needs bash, curl, tar with xz, and sha256sum or shasum.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failures=0

check() { # check DESCRIPTION COMMAND...: run a test, report it
  if ( "${@:2}" ) >"$scratch/out" 2>&1; then
    echo "ok   $1"
  else
    echo "FAIL $1"
    sed 's/^/     /' "$scratch/out"
    failures=$((failures + 1))
  fi
}

# A release v9.9.9 with a fake keytrim for two targets; the macOS one says so.
releases="$scratch/releases"
mkdir -p "$releases/v9.9.9"
for target in x86_64-unknown-linux-musl aarch64-apple-darwin; do
  dir="$scratch/build/keytrim-$target"
  mkdir -p "$dir"
  cat >"$dir/keytrim" <<FAKE
#!/usr/bin/env bash
if [ "\${1:-}" = --version ]; then echo "keytrim 9.9.9 ($target)"; exit 0; fi
echo "fake keytrim: \$*" >&2
exit 0
FAKE
  chmod +x "$dir/keytrim"
  tar -cJf "$releases/v9.9.9/keytrim-$target.tar.xz" -C "$scratch/build" "keytrim-$target"
  (cd "$releases/v9.9.9" && { sha256sum "keytrim-$target.tar.xz" 2>/dev/null || shasum -a 256 "keytrim-$target.tar.xz"; } >"keytrim-$target.tar.xz.sha256")
done

install() { # install OS ARCH [extra env...]: run the install step as GitHub would
  local home="$scratch/runner-$1-$2-$RANDOM"
  mkdir -p "$home/temp"
  : >"$home/path"
  : >"$home/output"
  env RUNNER_OS="$1" RUNNER_ARCH="$2" RUNNER_TEMP="$home/temp" \
    GITHUB_PATH="$home/path" GITHUB_OUTPUT="$home/output" \
    KEYTRIM_VERSION="${VERSION:-v9.9.9}" KEYTRIM_RELEASES_URL="file://$releases" \
    "${@:3}" "$root/scripts/action/install.sh" || return
  echo "$home"
}

installs_linux_x64() {
  local home
  home=$(install Linux X64 | tail -n 1)
  local dir
  dir=$(cat "$home/path")
  [ -x "$dir/keytrim" ]
  "$dir/keytrim" --version | grep -q 'x86_64-unknown-linux-musl'
  grep -qx "path=$dir/keytrim" "$home/output"
}

installs_macos_arm64() {
  local home
  home=$(install macOS ARM64 | tail -n 1)
  "$(cat "$home/path")/keytrim" --version | grep -q 'aarch64-apple-darwin'
}

refuses() { # refuses MESSAGE COMMAND...: the command fails, says MESSAGE, installs nothing
  local out
  if out=$("${@:2}" 2>&1); then
    echo "succeeded but should not have: $out"
    return 1
  fi
  grep -q -- "$1" <<<"$out" || { echo "no '$1' in: $out"; return 1; }
  ! grep -q '^ok$' <<<"$out"
}

wrong_release_checksum() {
  cp "$releases/v9.9.9/keytrim-x86_64-unknown-linux-musl.tar.xz.sha256" "$scratch/good.sha256"
  echo "$(printf '0%.0s' {1..64})  keytrim-x86_64-unknown-linux-musl.tar.xz" \
    >"$releases/v9.9.9/keytrim-x86_64-unknown-linux-musl.tar.xz.sha256"
  local status=0 before
  before=$(cat "$scratch"/runner-*/path 2>/dev/null | wc -l)
  refuses "checksum mismatch" install Linux X64 || status=1
  cp "$scratch/good.sha256" "$releases/v9.9.9/keytrim-x86_64-unknown-linux-musl.tar.xz.sha256"
  [ "$status" -eq 0 ]
  # Nothing was added to PATH.
  [ "$(cat "$scratch"/runner-*/path | wc -l)" -eq "$before" ]
}

wrong_pinned_checksum() {
  refuses "checksum mismatch" install Linux X64 KEYTRIM_SHA256="$(printf 'a%.0s' {1..64})"
}

right_pinned_checksum() {
  local sum
  sum=$(awk '{ print $1 }' "$releases/v9.9.9/keytrim-x86_64-unknown-linux-musl.tar.xz.sha256")
  install Linux X64 KEYTRIM_SHA256="$sum" >/dev/null
}

unknown_platform() {
  refuses "no binary for Linux/ARM" install Linux ARM
}

bad_version() {
  VERSION='latest; rm -rf /' refuses "is not a release version" install Linux X64
}

missing_release() {
  VERSION=1.2.3 refuses "cannot download" install Linux X64
}

audit_reports_exit_code_and_plans() {
  local bin="$scratch/fake-bin" work="$scratch/audit-work"
  mkdir -p "$bin" "$work"
  cat >"$bin/keytrim" <<'FAKE'
#!/usr/bin/env bash
[ "$1" = audit ] || exit 64
[ "$2 $3" = "--max-key-age 30" ] || { echo "args: $*" >&2; exit 64; }
mkdir -p plans
echo "version: 1" > plans/123456789012.yaml
exit 3
FAKE
  chmod +x "$bin/keytrim"
  (cd "$work" && touch -d '-1 hour' old.yaml 2>/dev/null || true)
  : >"$work/output"
  (cd "$work" && PATH="$bin:$PATH" GITHUB_OUTPUT="$work/output" \
    KEYTRIM_AUDIT_ARGS="--max-key-age 30" "$root/scripts/action/audit.sh")
  grep -qx 'exit-code=3' "$work/output"
  grep -qx 'plans/123456789012.yaml' "$work/output"
}

audit_fails_on_an_error() {
  local bin="$scratch/failing-bin" work="$scratch/audit-fail"
  mkdir -p "$bin" "$work"
  printf '#!/usr/bin/env bash\necho "keytrim: error: no credentials" >&2\nexit 1\n' >"$bin/keytrim"
  chmod +x "$bin/keytrim"
  : >"$work/output"
  local code=0
  (cd "$work" && PATH="$bin:$PATH" GITHUB_OUTPUT="$work/output" "$root/scripts/action/audit.sh") || code=$?
  [ "$code" -eq 1 ]
  grep -qx 'exit-code=1' "$work/output"
}

check "installs the Linux x86_64 archive and puts it on PATH" installs_linux_x64
check "picks the macOS arm64 archive on an Apple silicon runner" installs_macos_arm64
check "refuses an archive whose release checksum does not match" wrong_release_checksum
check "refuses an archive that does not match a pinned checksum" wrong_pinned_checksum
check "accepts an archive that matches a pinned checksum" right_pinned_checksum
check "names a platform without a binary" unknown_platform
check "refuses a version that is not a release version" bad_version
check "says which download failed" missing_release
check "audit step reports exit code 3 and the plans written" audit_reports_exit_code_and_plans
check "audit step fails on exit code 1 and still reports it" audit_fails_on_an_error

if [ "$failures" -gt 0 ]; then
  echo "test-action: $failures failed" >&2
  exit 1
fi
echo "test-action: all passed"
