"""A throw-away certificate authority made with openssl, for the demo and the tests: a CA and a
server certificate for the loopback address, made exactly as systemd/README-mqtt.md tells the
central administrators to make theirs. Never for production (the CA key lies next to it)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bus.brokerconf import TlsFiles

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def _run(d: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)


def make_ca(d: Path, cn: str = "palvelupiste throw-away CA", days: int = 2) -> TlsFiles:
    """ca.crt, server.crt and server.key in `d`; the server certificate names 127.0.0.1 and
    localhost in subjectAltName (clients check it there, never in the CN)."""
    if not openssl_available():
        raise RuntimeError("openssl is not installed: it makes the throw-away CA of the TLS link")
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    _run(d, "req", "-x509", *_EC, "-keyout", "ca.key", "-out", "ca.crt", "-days", str(days), "-subj", f"/CN={cn}")
    _run(d, "req", *_EC, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=central.test")
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                                  "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    _run(d, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.crt", "-days", str(days), "-extfile", "server.ext")
    return TlsFiles(str(d / "ca.crt"), str(d / "server.crt"), str(d / "server.key"))


def make_client_cert(d: Path, name: str, cn: str, days: int = 2) -> tuple[str, str]:
    """A client certificate `name`.crt / `name`.key signed by the CA in `d` (made by make_ca)."""
    d = Path(d)
    _run(d, "req", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")
    (d / f"{name}.ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                                   "extendedKeyUsage=clientAuth\n")
    _run(d, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", f"{name}.crt", "-days", str(days), "-extfile", f"{name}.ext")
    return str(d / f"{name}.crt"), str(d / f"{name}.key")
