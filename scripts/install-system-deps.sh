#!/usr/bin/env bash
# Debian packages the tests, the benchmarks and the dev cluster's real node need:
#   wrk (load generator), promtool (from Debian's prometheus package; only the promtool binary
#   is used, the Go-built Prometheus 3 runs the cluster), openssl (certificates);
#   the node: containerd + runc (containers), containernetworking-plugins (CNI), iptables and
#   conntrack (kube-proxy), iproute2 (the network namespace);
#   the image: docker.io (the builder; its daemon runs only while building) and mmdebstrap
#   (the Python base image made from Debian's packages: no registry is reachable here).
# Idempotent; needs root (CI and dev machines run as root).
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have wrk || need+=(wrk)
have promtool || need+=(prometheus)
have openssl || need+=(openssl)
have containerd || need+=(containerd)
have runc || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
have iptables || need+=(iptables)
have conntrack || need+=(conntrack)
have ip || need+=(iproute2)
have dockerd || need+=(docker.io)
have mmdebstrap || need+=(mmdebstrap)
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
# Packages may start services where an init system exists: the dev cluster starts its own.
if command -v systemctl >/dev/null; then
  for svc in prometheus containerd docker; do
    systemctl is-active --quiet "$svc" 2>/dev/null && systemctl stop "$svc" || true
  done
fi
