#!/usr/bin/env bash
# Debian packages the test suite drives for real: a registry, image tools, a terminal,
# tini-static for `run --init`, podman (runc, buildah) for the build comparison, and
# docker.io + podman for the Docker/Podman backend tests (a private dockerd, podman's service).
# openssh-server + openssh-client carry the ssh:// endpoint test (a loopback sshd of its own).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    docker-registry skopeo umoci busybox-static apache2-utils openssl tmux tini nftables zsh \
    python3-venv ca-certificates podman runc buildah docker.io \
    openssh-server openssh-client >/dev/null
