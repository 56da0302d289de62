"""Test certificates made with the openssl CLI: a CA with a server cert, and self-signed keys."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Our own minimal config, so the host's openssl.cnf defaults cannot change the result.
_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {san}
[signer]
basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature, keyCertSign
subjectKeyIdentifier = hash
"""


def _openssl(*args: str | Path) -> None:
    proc = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def _cnf(dest: Path, san: str = "DNS:localhost") -> Path:
    path = dest / "openssl.cnf"
    path.write_text(_OPENSSL_CNF.format(san=san))
    return path


@dataclass(frozen=True)
class TestCA:
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it.

    `cert_dir` holds only `ca.crt`: the layout of skopeo's `--cert-dir` and of
    `/etc/docker/certs.d/HOST:PORT/`.
    """

    __test__ = False  # not a pytest test class despite the name

    dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    cert_dir: Path


def make_test_ca(
    dest: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), days: int = 2
) -> TestCA:
    dest.mkdir(parents=True, exist_ok=True)
    san = ",".join(
        f"IP:{h}" if h.replace(".", "").isdigit() or ":" in h else f"DNS:{h}" for h in hosts
    )
    cnf = _cnf(dest, san)
    # EC keys: generated in milliseconds, and every client here accepts them.
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_cert, ca_key = dest / "ca.crt", dest / "ca.key"
    _openssl(
        "req",
        "-x509",
        *ec,
        "-config",
        cnf,
        "-extensions",
        "ca",
        "-subj",
        "/CN=tuidock test CA",
        "-days",
        str(days),
        "-keyout",
        ca_key,
        "-out",
        ca_cert,
    )
    server_cert, server_key, csr = dest / "server.crt", dest / "server.key", dest / "server.csr"
    _openssl(
        "req",
        "-new",
        *ec,
        "-config",
        cnf,
        "-subj",
        f"/CN={hosts[0]}",
        "-keyout",
        server_key,
        "-out",
        csr,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca_cert,
        "-CAkey",
        ca_key,
        "-set_serial",
        str(secrets.randbits(63)),
        "-days",
        str(days),
        "-extfile",
        cnf,
        "-extensions",
        "server",
        "-out",
        server_cert,
    )
    csr.unlink()
    cert_dir = dest / "certs.d"
    cert_dir.mkdir(exist_ok=True)
    (cert_dir / "ca.crt").write_bytes(ca_cert.read_bytes())
    return TestCA(dest, ca_cert, ca_key, server_cert, server_key, cert_dir)


def self_signed_rsa(dest: Path, name: str, cn: str, days: int = 2) -> tuple[Path, Path]:
    """A self-signed RSA certificate and its key (`name.crt`, `name.key`, PEM).

    RSA because the token signer does RS256 with plain integer arithmetic.
    """
    dest.mkdir(parents=True, exist_ok=True)
    cnf = _cnf(dest)
    cert, key = dest / f"{name}.crt", dest / f"{name}.key"
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-config",
        cnf,
        "-extensions",
        "signer",
        "-subj",
        f"/CN={cn}",
        "-days",
        str(days),
        "-keyout",
        key,
        "-out",
        cert,
    )
    return cert, key
