#!/usr/bin/env bash
# Installs the real peers the test suite drives (Debian packages): SIPp, Chromium,
# Redis, Kamailio (the cluster test and the benchmark reference), espeak-ng and sox (prompt synthesis,
# and the engine's own say: speech at run time: docs/dialplans.md).
# Idempotent: does nothing when every binary is already there.
set -euo pipefail
need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v chromium >/dev/null || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
command -v openssl >/dev/null || need+=(openssl)
# tests/cluster drives Kamailio (kamailio + kamcmd, both in the Debian package); /usr/sbin is not
# always on a non-root PATH, hence the second look.
command -v kamailio >/dev/null || [ -x /usr/sbin/kamailio ] || need+=(kamailio)
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
# The engine asks for a 4 MiB SIP receive buffer; the kernel caps it at net.core.rmem_max (often
# 212 992: some 160 INVITEs). Overload control reads that socket's backlog, and
# tests/e2e_tui/test_e2e_overload.py queues 1 500 INVITEs in it: raise the cap when it is lower.
rmem_want=4194304
rmem_have=$(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo 0)
if [ "$rmem_have" -lt "$rmem_want" ]; then
  echo "net.core.rmem_max $rmem_have -> $rmem_want"
  $SUDO sysctl -qw net.core.rmem_max=$rmem_want || echo "could not raise net.core.rmem_max (the overload e2e test needs >= 2 MiB)" >&2
fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
