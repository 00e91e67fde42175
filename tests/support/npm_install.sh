#!/usr/bin/env bash
# Installs the pinned npm packages of a test directory (SRC: tests/otel,
# tests/consul) into DEST (outside the source tree, e.g. the build
# directory) with `npm ci`, from SRC's committed package-lock.json. Does nothing when DEST already holds
# exactly this lock file's install. Fails if node or npm cannot run.
set -euo pipefail
here="$(cd "${1:?usage: npm_install.sh SRC DEST}" && pwd)"
dest="${2:?usage: npm_install.sh SRC DEST}"
command -v node >/dev/null || { echo "npm_install.sh: node is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm_install.sh: npm is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
mkdir -p "$dest"
if [ -f "$dest/node_modules/.valmesh-lock" ] &&
   cmp -s "$dest/node_modules/.valmesh-lock" "$here/package-lock.json"; then
  exit 0
fi
cp "$here/package.json" "$here/package-lock.json" "$dest/"
cd "$dest"
npm ci --no-audit --no-fund --loglevel=error
cp "$here/package-lock.json" "$dest/node_modules/.valmesh-lock"
