#!/usr/bin/env bash
# Builds CAF 0.17.6 (libcaf_core, libcaf_io) with -fsanitize=thread from
# Debian's source package of the installed version, for
# `scripts/sanitize.sh tsan`, and prints the install prefix. Cached: a
# second run prints the prefix at once. VALMESH_TSAN_CAF sets the prefix
# (default ~/.cache/valmesh/caf-tsan-<version>).
#
# The source comes from Debian's archive with `apt-get source`, which needs
# a deb-src entry: if none is configured, one is added for bookworm's main
# component (the same mirror as the deb entries).
set -euo pipefail
version="$(dpkg-query -W -f='${Version}' libcaf-dev)"
version="${version%+b*}"  # a binary-only rebuild has the same source
upstream="${version%%-*}"
prefix="${VALMESH_TSAN_CAF:-$HOME/.cache/valmesh/caf-tsan-$upstream}"
if [ -f "$prefix/.built" ]; then
  echo "$prefix"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list \
    /etc/apt/sources.list.d/; then
  echo "build-tsan-caf: adding a deb-src entry for bookworm main" >&2
  "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/valmesh-deb-src.sources \
    >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  "${sudo_cmd[@]}" apt-get update -qq >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Only the upstream tarball is needed (Debian's patches touch packaging):
# a failure to fetch the rest is not fatal.
(cd "$work" && apt-get source --download-only "actor-framework=$version" >&2) ||
  true
tarball="$(ls "$work"/actor-framework_"$upstream".orig.tar.* 2>/dev/null | head -n1)"
if [ -z "$tarball" ]; then
  echo "build-tsan-caf: cannot download actor-framework $version's source" >&2
  exit 1
fi
tar -xf "$tarball" -C "$work"
src="$(find "$work" -maxdepth 1 -mindepth 1 -type d | head -n1)"
# g++ 12 no longer pulls <limits> in through other headers.
sed -i '0,/#include/s//#include <limits>\n#include/' \
  "$src/libcaf_io/caf/io/network/receive_buffer.hpp"

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
  -DCAF_NO_EXAMPLES=ON -DCAF_NO_UNIT_TESTS=ON -DCAF_NO_OPENSSL=ON \
  -DCAF_NO_TOOLS=ON -DCAF_NO_PYTHON=ON -DCAF_NO_OPENCL=ON \
  -DCMAKE_INSTALL_PREFIX="$prefix" "${launcher[@]}" >&2
cmake --build "$work/build" -j "${JOBS:-2}" --target libcaf_core_shared libcaf_io_shared >&2
mkdir -p "$prefix/lib"
cp -a "$work"/build/lib/libcaf_core.so* "$work"/build/lib/libcaf_io.so* \
  "$prefix/lib/"
touch "$prefix/.built"
echo "$prefix"
