"""Web push through pywebpush: the one module that talks to push services.

Only the push worker (server/push_worker.py) sends; a request never waits for a push
service. `send` encrypts a payload for one subscription (aes128gcm) and signs the request
with the server's VAPID key; `new_vapid_keys` makes the key pair for `flask vapid-keys`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from pywebpush import WebPushException
from pywebpush import webpush

# A push service that does not answer within this many seconds is a failed attempt.
TIMEOUT_SECONDS = 10
# How long a push service keeps a message for a phone that is offline (4 days).
TTL_SECONDS = 4 * 24 * 3600
# The statuses by which a push service says the subscription is gone for good.
GONE = frozenset({404, 410})


@dataclass
class Outcome:
    ok: bool
    status: int | None = None
    error: str = ""

    @property
    def gone(self) -> bool:
        return self.status in GONE


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_vapid_keys() -> tuple[str, str]:
    """(private, public): a P-256 key pair, base64url, the private key as its raw 32 bytes
    and the public key as the uncompressed point browsers take as applicationServerKey."""
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.hazmat.primitives.serialization import PublicFormat

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return _b64(private), _b64(public)


def send(subscription: dict, payload: dict, *, private_key: str, subject: str) -> Outcome:
    """Send one message; never raises for what a push service answers or a network fault.

    `subscription` is {"endpoint", "keys": {"p256dh", "auth"}}; the VAPID claims' audience
    is the endpoint's origin (pywebpush derives it) and they expire within a day.
    """
    try:
        response = webpush(subscription, data=json.dumps(payload, ensure_ascii=False),
                           vapid_private_key=private_key, vapid_claims={"sub": subject},
                           content_encoding="aes128gcm", timeout=TIMEOUT_SECONDS,
                           ttl=TTL_SECONDS)
    except WebPushException as e:
        status = e.response.status_code if e.response is not None else None
        return Outcome(False, status, f"{status or ''} {e.message}".strip()[:200])
    except Exception as e:  # a network fault, a bad key: one failed attempt, retried later
        return Outcome(False, None, f"{type(e).__name__}: {e}"[:200])
    return Outcome(True, getattr(response, "status_code", None))
