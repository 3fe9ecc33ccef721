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
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
