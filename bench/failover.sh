#!/bin/sh
# Failover benchmark: client-visible outage in the seed guide's lab (network
# namespaces) for keepalived 2.2.7 + HAProxy and for rampart, measured in the
# same run. Needs root, keepalived, haproxy, iproute2. Prints a Markdown
# table; FAILOVER_R runs per cell (default 3; medians).
set -eu
cd "$(dirname "$0")/.."
exec cargo test --release -p rampart --test failover_bench -- --ignored --nocapture --test-threads 1
