"""A bot's key directory on a local HTTPS server, with a certificate from a throwaway CA.

The CA is made for the test run and trusted only by the code under test (through
`BOT_DIRECTORY_CA_FILE` or an SSL context built from it), never by the system. The server runs
in a thread on a free port; `keys`, `cache_control` and `etag` can be changed while it runs
(a key rotation), and `requests` counts what it served.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

WELL_KNOWN = "/.well-known/http-message-signatures-directory"


@dataclass
class ThrowawayCA:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_test_ca(folder: Path, host: str = "localhost") -> ThrowawayCA:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "licensing-api test CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca = ThrowawayCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    ca.cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    ca.key_file.write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ca


@dataclass
class KeyDirectoryServer:
    base_url: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    cache_control: str | None = "max-age=3600"
    etag: str | None = None
    requests: int = 0

    @property
    def directory_url(self) -> str:
        return self.base_url + WELL_KNOWN


@contextmanager
def serve_key_directory(ca: ThrowawayCA, host: str = "localhost") -> Iterator[KeyDirectoryServer]:
    state = KeyDirectoryServer(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            state.requests += 1
            if self.path != WELL_KNOWN:
                self.send_error(404)
                return
            if state.etag is not None and self.headers.get("If-None-Match") == state.etag:
                self.send_response(304)
                self._caching_headers()
                self.end_headers()
                return
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/http-message-signatures-directory+json")
            self.send_header("Content-Length", str(len(body)))
            self._caching_headers()
            self.end_headers()
            self.wfile.write(body)

        def _caching_headers(self) -> None:
            if state.cache_control is not None:
                self.send_header("Cache-Control", state.cache_control)
            if state.etag is not None:
                self.send_header("ETag", state.etag)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca.cert_file, ca.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.base_url = f"https://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="key-directory-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
