"""A push service on 127.0.0.1 for tests: it takes what pywebpush sends, checks the VAPID
signature, and decrypts the message as the browser would (aes128gcm).

`Browser` is a fake browser subscription: its own P-256 key pair and auth secret, with an
endpoint at the receiver. The receiver answers each endpoint with the statuses queued for
it (then 201), and can hold requests until a condition lets them through.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.serialization import PublicFormat


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Delivery:
    path: str
    payload: dict
    claims: dict
    vapid_key: str
    status: int


@dataclass
class Browser:
    """One subscribed browser: decrypts what is pushed to its endpoint."""

    name: str
    origin: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(
        ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def path(self) -> str:
        return f"/push/{self.name}"

    @property
    def endpoint(self) -> str:
        return self.origin + self.path

    def subscription(self) -> dict:
        point = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64(point), "auth": b64(self.auth)}}


def verify_vapid(header: str, origin: str) -> tuple[dict, str]:
    """Check `Authorization: vapid t=<jwt>, k=<key>`: an ES256 signature by key k over the
    JWT, its audience the push service's origin, not expired. Returns (claims, k)."""
    scheme, _, rest = header.partition(" ")
    assert scheme == "vapid", header
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    token, key = parts["t"], parts["k"]
    head, body, signature = token.split(".")
    assert json.loads(unb64(head)) == {"typ": "JWT", "alg": "ES256"}
    raw = unb64(signature)
    assert len(raw) == 64
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AssertionError("the VAPID signature does not verify") from None
    claims = json.loads(unb64(body))
    assert claims["aud"] == origin, claims
    assert claims["exp"] > time.time(), claims
    return claims, key


class Receiver:
    """The HTTP server; `deliveries` holds every decrypted message, in order."""

    def __init__(self) -> None:
        self.browsers: dict[str, Browser] = {}
        self.statuses: dict[str, list[int]] = {}
        self.deliveries: list[Delivery] = []
        # What failed a check in the receiver (a bad signature, a payload that won't decrypt).
        self.errors: list[str] = []
        self.hold = None  # a callable that returns once the request may be answered
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    receiver.handle(self, body)
                except Exception as e:  # kept for the test to see; the sender gets a 400
                    receiver.errors.append(f"{type(e).__name__}: {e}")
                    self.send_response(400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def browser(self, name: str) -> Browser:
        browser = Browser(name, self.origin)
        self.browsers[browser.path] = browser
        return browser

    def handle(self, request, body: bytes) -> None:
        if self.hold is not None:
            self.hold()
        browser = self.browsers.get(request.path)
        with self.lock:
            queued = self.statuses.get(request.path) or []
            status = queued.pop(0) if queued else 201
        if browser is not None:
            # Header names arrive lower-case from pywebpush; http.server matches any case.
            assert request.headers["content-encoding"] == "aes128gcm"
            assert int(request.headers["ttl"]) > 0
            claims, key = verify_vapid(request.headers["authorization"], self.origin)
            plain = http_ece.decrypt(body, private_key=browser.key, auth_secret=browser.auth,
                                     version="aes128gcm")
            with self.lock:
                self.deliveries.append(Delivery(request.path, json.loads(plain), claims, key,
                                                status))
        request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def delivered(self, browser: Browser | None = None, ok_only: bool = True) -> list[dict]:
        return [d.payload for d in self.deliveries
                if (browser is None or d.path == browser.path)
                and (not ok_only or d.status < 300)]
