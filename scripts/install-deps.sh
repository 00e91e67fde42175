#!/usr/bin/env bash
# Installs the Debian (bookworm) packages valmesh builds and tests with, if
# any is missing. Safe to run again: it does nothing when all are present.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libcaf-dev libssl-dev libboost-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  curl
  # The partition tests and tests/bench/cluster_chaos.sh: network
  # namespaces, veth pairs and a bridge (iproute2), packet loss and cut
  # links (nftables).
  iproute2 nftables
  # The TLS tests between nodes make their CA and certificates.
  openssl
  # The Consul interoperability tests (tests/consul): Consul's Python
  # client and VictoriaMetrics' consul_sd_configs.
  python3-consul2
  # The metrics tests: `promtool check metrics` lints the exposition, and a
  # VictoriaMetrics scrapes a node (tests/integration/mesh_metrics_test.cpp;
  # also the Consul discovery test).
  prometheus victoria-metrics
  # The fuzzers (tests/fuzz): clang with libFuzzer and the sanitizers'
  # runtimes; prlimit (util-linux) for the overload tests.
  clang libclang-rt-14-dev util-linux
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done

# The tracing interoperability test (tests/otel) runs the OpenTelemetry JS
# SDK: node and npm, from Debian unless some other install already provides
# the commands (a NodeSource nodejs bundles npm and conflicts with Debian's).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
