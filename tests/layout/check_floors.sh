#!/usr/bin/env bash
# Checks the floors of the code (docs/ARCHITECTURE.md, "Floors"): each folder
# includes only what lies at or below its floor.
#
#   node/     may include anything
#   http/     no node/
#   actors/   no node/, no http/, no asio or Beast
#   runtime/  plain logic: no node/, http/ or actors/, no CAF, no asio or Beast
#
# Prints every offending line and exits 1 if there is one.
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$root"

status=0
# check FOLDER PATTERN WHY
check() {
  local folder="$1" pattern="$2" why="$3" hits
  hits=$(grep -rnE --include='*.hpp' --include='*.cpp' "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" "$folder" || true)
  if [ -n "$hits" ]; then
    printf '%s may not include %s:\n%s\n\n' "$folder/" "$why" "$hits"
    status=1
  fi
}

check runtime 'node/|http/|actors/' 'the floors above it (node/, http/, actors/)'
check runtime 'caf/' 'CAF (plain logic is tested without an actor system)'
check runtime 'boost/asio|boost/beast' 'asio or Beast (plain logic does no network I/O)'
check actors 'node/|http/' 'node/ or http/ (actors lie below the HTTP front end)'
check actors 'boost/asio|boost/beast' 'asio or Beast (actors talk to I/O through interfaces in runtime/)'
check http 'node/' 'node/ (the node assembles http/, not the other way round)'

# Every source file lies in one of the floors' folders.
stray=$(find . -path ./build -prune -o -path './build-*' -prune -o -path ./.git -prune -o \
  \( -name '*.cpp' -o -name '*.hpp' \) -print |
  grep -vE '^\./(runtime|actors|http|node|tests|examples)/' || true)
if [ -n "$stray" ]; then
  printf 'source files outside the floors:\n%s\n' "$stray"
  status=1
fi

if [ "$status" -eq 0 ]; then
  echo "floors: every include respects its floor"
fi
exit "$status"
