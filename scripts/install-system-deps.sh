#!/usr/bin/env bash
# Debian packages the tests and benchmarks need: wrk (load generator), promtool (from Debian's
# prometheus package; only the promtool binary is used, the Go-built Prometheus 3 runs the cluster),
# openssl (dev-cluster certificates). Idempotent; needs root (CI and dev machines run as root).
set -euo pipefail
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v promtool >/dev/null || need+=(prometheus)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing ${need[*]}; run as root or install them: apt-get install ${need[*]}" >&2
  exit 1
fi
echo "install-system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's prometheus package may start a service where an init system exists; we only want promtool.
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
fi
