"""Credentials the sandbox issues: one static key pair, and the IMDS role's temporary ones."""
import secrets
import string
import threading
import time
from dataclasses import dataclass

_UPPER = string.ascii_uppercase + "234567"
_SECRET = string.ascii_letters + string.digits + "+/"


def _key_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_UPPER) for _ in range(16))


def _secret_key() -> str:
    return "".join(secrets.choice(_SECRET) for _ in range(40))


@dataclass
class Issued:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    expiration: float | None = None  # epoch seconds; None: never expires
    issued_at: float = 0.0


class CredentialStore:
    def __init__(self, credential_ttl_s: float):
        self._lock = threading.Lock()
        self.static = Issued(_key_id("AKIA"), _secret_key(), issued_at=time.time())
        self._by_key = {self.static.access_key_id: self.static}
        self._role_current: Issued | None = None
        self._ttl = credential_ttl_s
        self._margin: float | None = None

    def lookup(self, access_key_id: str) -> Issued | None:
        with self._lock:
            return self._by_key.get(access_key_id)

    def set_ttl(self, ttl_s: float) -> None:
        with self._lock:
            self._ttl = ttl_s

    def set_refresh_margin(self, margin_s: float | None) -> None:
        """None: IMDS's own margin (below); 0: new credentials only once the current ones expired."""
        with self._lock:
            self._margin = margin_s

    def role_credentials(self) -> Issued:
        """The role's current credentials. As IMDS does, new ones are issued some time before the
        current ones expire (5 minutes; a third of the lifetime when that is shorter; or the
        margin set), so a client always gets credentials with that much time left. Earlier ones
        stay valid until their own expiration."""
        now = time.time()
        with self._lock:
            cur = self._role_current
            margin = min(300.0, self._ttl / 3) if self._margin is None else self._margin
            # With a margin of 0 the old ones are served up to their last instant: issue new ones
            # only once they are expired (the gateway refuses them from that instant too).
            if cur is None or cur.expiration - now <= margin:
                cur = Issued(_key_id("ASIA"), _secret_key(),
                             session_token=secrets.token_urlsafe(96),
                             expiration=now + self._ttl, issued_at=now)
                self._by_key[cur.access_key_id] = cur
                self._role_current = cur
            return cur

    def rotate_role(self) -> None:
        """Every role credential issued so far expires now; IMDS hands out new ones."""
        now = time.time()
        with self._lock:
            for issued in self._by_key.values():
                if issued.session_token is not None and issued.expiration > now:
                    issued.expiration = now
            self._role_current = None
