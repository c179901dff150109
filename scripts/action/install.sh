#!/usr/bin/env bash
# The install step of keytrim's GitHub Action (action.yml): download a released
# keytrim for this runner's OS and architecture, check the archive's SHA-256, unpack
# it and put it on PATH. Everything comes in through the environment, never through
# text pasted into the script:
#   KEYTRIM_VERSION       the release, "0.1.0" or "v0.1.0" (required)
#   KEYTRIM_RELEASES_URL  where releases are, ".../releases/download" (a https:// or,
#                         for tests, a file:// URL)
#   KEYTRIM_SHA256        optional: the archive's expected SHA-256; without it the
#                         release's own <archive>.sha256 is used
#   RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, GITHUB_PATH, GITHUB_OUTPUT  (set by GitHub)
set -euo pipefail

fail() {
  echo "::error title=keytrim install::$1"
  exit 1
}

version="${KEYTRIM_VERSION:-}"
version="${version#v}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] ||
  fail "version '${KEYTRIM_VERSION:-}' is not a release version like 0.1.0"
releases="${KEYTRIM_RELEASES_URL:?KEYTRIM_RELEASES_URL is required}"

os="${RUNNER_OS:-$(uname -s)}"
arch="${RUNNER_ARCH:-$(uname -m)}"
case "$os/$arch" in
  Linux/X64 | Linux/x86_64) target=x86_64-unknown-linux-musl ext=tar.xz ;;
  Linux/ARM64 | Linux/aarch64) target=aarch64-unknown-linux-musl ext=tar.xz ;;
  macOS/X64 | Darwin/x86_64) target=x86_64-apple-darwin ext=tar.xz ;;
  macOS/ARM64 | Darwin/arm64) target=aarch64-apple-darwin ext=tar.xz ;;
  Windows/X64 | MINGW*/x86_64 | MSYS*/x86_64) target=x86_64-pc-windows-msvc ext=zip ;;
  *) fail "keytrim publishes no binary for $os/$arch" ;;
esac

archive="keytrim-$target.$ext"
url="$releases/v$version/$archive"
work="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/keytrim-$version-$target"
rm -rf "$work"
mkdir -p "$work/unpacked"

fetch() {
  curl --fail --silent --show-error --location --proto '=https,file' --retry 3 \
    --output "$2" "$1" || fail "cannot download $1"
}
fetch "$url" "$work/$archive"

expected="${KEYTRIM_SHA256:-}"
if [ -z "$expected" ]; then
  fetch "$url.sha256" "$work/$archive.sha256"
  expected=$(awk 'NR == 1 { print $1 }' "$work/$archive.sha256")
fi
if command -v sha256sum >/dev/null 2>&1; then
  actual=$(sha256sum "$work/$archive" | awk '{ print $1 }')
else
  actual=$(shasum -a 256 "$work/$archive" | awk '{ print $1 }')
fi
expected=$(printf '%s' "$expected" | tr 'A-F' 'a-f')
[[ "$expected" =~ ^[0-9a-f]{64}$ ]] || fail "no SHA-256 to check $archive against"
[ "$actual" = "$expected" ] ||
  fail "checksum mismatch for $archive: expected $expected, got $actual; nothing was installed"

case "$ext" in
  tar.xz) tar -xJf "$work/$archive" -C "$work/unpacked" ;;
  zip) unzip -q "$work/$archive" -d "$work/unpacked" ;;
esac
binary=$(find "$work/unpacked" -maxdepth 2 -type f \( -name keytrim -o -name keytrim.exe \) | head -n 1)
[ -n "$binary" ] || fail "$archive holds no keytrim binary"
chmod +x "$binary"
bin_dir=$(dirname "$binary")
"$binary" --version

[ -z "${GITHUB_PATH:-}" ] || echo "$bin_dir" >>"$GITHUB_PATH"
[ -z "${GITHUB_OUTPUT:-}" ] || echo "path=$binary" >>"$GITHUB_OUTPUT"
