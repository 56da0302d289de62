#!/usr/bin/env bash
# Debian packages the test suite drives for real: a registry, image tools, a terminal,
# and tini-static for `run --init`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    docker-registry skopeo umoci busybox-static apache2-utils openssl tmux tini nftables zsh \
    python3-venv ca-certificates >/dev/null
