#!/usr/bin/env bash
# The whole test suite, as root: installs what it needs, then runs pytest on
# Debian's own python3 (the README's interpreter), never on whatever python3 is
# first on PATH: a newer 3.11.x there hides stdlib features the target lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${TUIDOCK_TEST_PYTHON:-/usr/bin/python3}
for tool in docker-registry skopeo umoci busybox htpasswd openssl tmux nft "$PY"; do
    command -v "$tool" >/dev/null || { bash scripts/test-deps.sh; break; }
done
# A venv made from another interpreter (an older checkout's, a pyenv shim) is rebuilt.
want_home=$(dirname "$(readlink -f "$PY")")
have_home=$(sed -n 's/^home = //p' .venv/pyvenv.cfg 2>/dev/null || true)
if [ ! -x .venv/bin/python ] || [ "$(readlink -f "$have_home")" != "$want_home" ]; then
    rm -rf .venv
    "$PY" -m venv .venv
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
