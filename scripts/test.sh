#!/usr/bin/env bash
# The whole test suite, as root: installs what it needs, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in docker-registry skopeo umoci busybox htpasswd openssl tmux nft; do
    command -v "$tool" >/dev/null || { bash scripts/test-deps.sh; break; }
done
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# compat mode: a .pth path, not an import hook that costs ~25 ms per CLI start
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]' --config-settings editable_mode=compat
.venv/bin/ruff check tuidock tests bench
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing on purpose" >&2
    exit 1
fi
exit "$rc"
