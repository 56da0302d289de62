#!/usr/bin/env bash
# Quick start on a fresh Debian machine, as root: install tuidock into
# /opt/tuidock, link it onto PATH, set up the offline demo registry when
# Docker Hub cannot be reached, and open tuidock.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    python3-venv docker-registry skopeo umoci busybox-static ca-certificates nftables tini >/dev/null
[ -x /opt/tuidock/bin/python ] || python3 -m venv /opt/tuidock
/opt/tuidock/bin/pip install -q --disable-pip-version-check .
ln -sf /opt/tuidock/bin/tuidock /usr/local/bin/tuidock
tuidock demo
exec tuidock "$@"
