#!/usr/bin/env bash
# Install Debian's `prometheus` package (the server and promtool) when missing.
# Used by `make check-deploy` and the real-Prometheus test; idempotent.
# The package's maintainer scripts would start a system-wide Prometheus on
# :9090; we only want the binaries, so service starts are refused during the
# install (policy-rc.d exit 101, see /usr/share/doc/init-system-helpers/README.policy-rc.d)
# and any unit that got enabled is stopped and disabled afterwards.
set -euo pipefail

if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-prometheus: promtool/prometheus missing; install Debian's 'prometheus' package (needs root)" >&2
  exit 1
fi

policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if [[ $own_policy -eq 1 ]]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# One `apt-get update`, then the package without Recommends (node-exporter).
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Belt and braces on a machine where systemd runs: no lingering :9090 server.
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
elif command -v update-rc.d >/dev/null; then
  update-rc.d prometheus disable >/dev/null 2>&1 || true
fi
command -v promtool >/dev/null && command -v prometheus >/dev/null
echo "install-prometheus: $(prometheus --version 2>&1 | head -1)"
