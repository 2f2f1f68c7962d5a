"""A throw-away PKI made with ``openssl`` per test session (reliability notes §3).

Two CAs: the one that signed the broker and client certificates, and an unrelated one a
misconfigured box might trust instead. The server certificate names ``localhost`` and
``127.0.0.1`` only (serverAuth), so any other address is a hostname mismatch; the client
certificate is for clientAuth (mutual TLS with ``require_certificate true``).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    wrong_ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def mosquitto_tls_lines(self) -> list[str]:
        """Options for the ``listener`` line just above them: mutual TLS against ``ca_cert``."""
        return [
            f"cafile {self.ca_cert}",
            f"certfile {self.server_cert}",
            f"keyfile {self.server_key}",
            "require_certificate true",
        ]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def _make_leaf(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.pem"
    ext = directory / f"{name}.ext"
    ext.write_text(extensions)
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-sha256", "-extfile", str(ext),
        cwd=directory,
    )  # fmt: skip
    return cert, key


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca = _make_ca(directory, "lepton-test-ca")
    wrong_ca = _make_ca(directory, "some-other-ca")
    server = _make_leaf(
        directory,
        "broker",
        ca,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    client = _make_leaf(
        directory,
        "box-1",
        ca,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    return Pki(ca[0], wrong_ca[0], server[0], server[1], client[0], client[1])


def make_client_cert(pki: Pki, name: str) -> tuple[Path, Path]:
    """Another client certificate (CN ``name``) from ``pki``'s CA: an operator's, say, where the
    broker takes the certificate's CN as the user name (``use_identity_as_username``)."""
    ca = (pki.ca_cert, pki.ca_cert.with_suffix(".key"))
    extensions = (
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
    )
    return _make_leaf(pki.ca_cert.parent, name, ca, extensions)


__all__ = ["Pki", "make_client_cert", "make_pki"]
