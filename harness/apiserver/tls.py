"""A self-signed certificate, so that kubectl sends the bearer token.

NB: kubectl (client-go) sends the credentials of a kubeconfig only over TLS;
against a plain-HTTP server it sends no Authorization header at all, and
every request gets 401. The Python clients do send a token over HTTP, so TLS
is an option (``--tls``) rather than the default.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigurationError

logger = logging.getLogger(__name__)

CERTIFICATE_DAYS = 30
"""How long the generated certificate is valid."""


@dataclass(frozen=True, slots=True)
class Certificate:
    """Certificate is a PEM certificate and its key, on disk."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """Return an SSL context that serves with this certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificate(directory: Path, host: str) -> Certificate:
    """Write a self-signed certificate for ``host``, localhost and 127.0.0.1.

    It is its own certificate authority: the kubeconfig carries it as
    ``certificate-authority-data``, so clients verify the server as usual.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ConfigurationError(
            "--tls needs the openssl command to make a certificate, and it is not "
            "on PATH; install openssl or run without --tls"
        )

    names = {"DNS:localhost", "IP:127.0.0.1", "IP:::1"}
    if host not in ("", "0.0.0.0", "::"):
        names.add(f"IP:{host}" if host[0].isdigit() or ":" in host else f"DNS:{host}")
    cert, key = directory / "apiserver.crt", directory / "apiserver.key"
    command = [
        openssl,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(cert),
        "-days",
        str(CERTIFICATE_DAYS),
        "-subj",
        "/CN=leakhunt-apiserver",
        "-addext",
        "subjectAltName=" + ",".join(sorted(names)),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigurationError(
            f"openssl could not make a certificate (exit {result.returncode}): "
            f"{result.stderr.strip()[-500:]}"
        )
    logger.info("Made a self-signed certificate for %s.", ", ".join(sorted(names)))
    return Certificate(cert, key)
