"""IMDSv2 on its own port: session tokens, metadata, user-data, identity, role credentials."""
import datetime
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .config import Config
from .credentials import CredentialStore


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) overflows when an agent opens many connections at once
    # (16 concurrent CreateVolume calls); SYN retries then cost a second each.
    request_queue_size = 128


MAX_TOKEN_TTL_S = 21600


def iso8601(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Identity:
    """What IMDS says about the instance (filled in once moto has the instance)."""

    def __init__(self, account_id, region, az, instance_id, image_id, instance_type, private_ip, launched):
        self.account_id = account_id
        self.region = region
        self.az = az
        self.instance_id = instance_id
        self.image_id = image_id
        self.instance_type = instance_type
        self.private_ip = private_ip
        self.launched = launched


class ImdsServer:
    """identities: {"home": Identity, "dr": Identity}; config imds.instance picks the one served."""

    def __init__(self, config: Config, creds: CredentialStore, identities: dict[str, Identity]):
        self.config = config
        self.creds = creds
        self.identities = identities
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()
        # imds.fail_503_for_s: the window starts when it is set (at start, from --config).
        self._unavailable_until = time.monotonic() + config.view()["imds"]["fail_503_for_s"]
        self._answers: dict[str, int] = {}  # HTTP status -> how many answers (GET /_sandbox/imds)
        config.on_change(self._config_changed)
        self.httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,), name="imds", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def _config_changed(self, old: dict, new: dict, patch: dict) -> None:
        window = patch.get("imds", {}).get("fail_503_for_s")
        if window is not None:
            with self._lock:
                self._unavailable_until = time.monotonic() + window

    def count_answer(self, status: int) -> None:
        with self._lock:
            self._answers[str(status)] = self._answers.get(str(status), 0) + 1

    def answer_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._answers)

    def unavailable(self) -> bool:
        """True while the imds.fail_503_for_s window lasts."""
        with self._lock:
            return time.monotonic() < self._unavailable_until

    def new_token(self, ttl: int) -> str:
        """A token that expires after `ttl` seconds, or after imds.token_lifetime_s when set."""
        token = secrets.token_urlsafe(40)
        lifetime = self.config.view()["imds"]["token_lifetime_s"]
        with self._lock:
            now = time.time()
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + (ttl if lifetime is None else min(ttl, lifetime))
        return token

    def token_valid(self, token: str) -> bool:
        with self._lock:
            exp = self._tokens.get(token)
        return exp is not None and exp > time.time()

    def metadata(self, path: str):
        """(status, content type, body) for a GET below /latest/."""
        cfg = self.config.view()["imds"]
        ident = self.identities[cfg["instance"]]
        role = cfg["role"]
        doc = {
            "accountId": ident.account_id, "architecture": "x86_64",
            "availabilityZone": ident.az, "billingProducts": None, "devpayProductCodes": None,
            "marketplaceProductCodes": None, "imageId": ident.image_id,
            "instanceId": ident.instance_id, "instanceType": ident.instance_type,
            "kernelId": None, "pendingTime": iso8601(ident.launched),
            "privateIp": ident.private_ip, "ramdiskId": None, "region": ident.region,
            "version": "2017-09-30",
        }
        simple = {
            "meta-data/instance-id": ident.instance_id,
            "meta-data/ami-id": ident.image_id,
            "meta-data/instance-type": ident.instance_type,
            "meta-data/local-ipv4": ident.private_ip,
            "meta-data/hostname": f"ip-{ident.private_ip.replace('.', '-')}.{ident.region}.compute.internal",
            "meta-data/placement/region": ident.region,
            "meta-data/placement/availability-zone": ident.az,
            "meta-data/placement/": "availability-zone\nregion",
            "meta-data/": "ami-id\nhostname\niam/\ninstance-id\ninstance-type\nlocal-ipv4\nplacement/",
            "dynamic/": "instance-identity/",
            "dynamic/instance-identity/": "document",
            "": "dynamic\nmeta-data\nuser-data" if cfg["user_data"] is not None else "dynamic\nmeta-data",
        }
        if path in simple:
            return 200, "text/plain", simple[path]
        if path == "dynamic/instance-identity/document":
            return 200, "text/plain", json.dumps(doc, indent=2)
        notices = {"meta-data/spot/instance-action": cfg["spot_instance_action"],
                   "meta-data/events/recommendations/rebalance": cfg["rebalance_recommendation"]}
        if path in notices:
            if notices[path] is None:
                return 404, "text/html", "Not Found"
            return 200, "text/plain", notices[path]
        if path == "user-data":
            if cfg["user_data"] is None:
                return 404, "text/html", "Not Found"
            return 200, "application/octet-stream", cfg["user_data"]
        if path == "meta-data/iam/":
            return (200, "text/plain", "info\nsecurity-credentials/") if role else (404, "text/html", "Not Found")
        if path == "meta-data/iam/info" and role:
            return 200, "text/plain", json.dumps({
                "Code": "Success", "LastUpdated": iso8601(time.time()),
                "InstanceProfileArn": f"arn:aws:iam::{ident.account_id}:instance-profile/{role}",
                "InstanceProfileId": "AIPA" + ident.instance_id[2:18].upper()}, indent=2)
        if path == "meta-data/iam/security-credentials/" and role:
            return 200, "text/plain", role
        if role and path == f"meta-data/iam/security-credentials/{role}":
            c = self.creds.role_credentials()
            return 200, "text/plain", json.dumps({
                "Code": "Success", "LastUpdated": iso8601(c.issued_at), "Type": "AWS-HMAC",
                "AccessKeyId": c.access_key_id, "SecretAccessKey": c.secret_access_key,
                "Token": c.session_token, "Expiration": iso8601(c.expiration)}, indent=2)
        return 404, "text/html", "Not Found"

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: with Nagle on, a request that follows
            # another on a kept connection waits ~40 ms for the client\'s delayed ACK.
            disable_nagle_algorithm = True
            server_version = "EC2ws"
            sys_version = ""

            def log_message(self, fmt, *args):  # no access log (it would show paths only, but is noise)
                pass

            def _send(self, status: int, body: str, ctype: str = "text/plain", extra=None):
                data = body.encode()
                server.count_answer(status)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _unavailable(self) -> bool:
                if server.unavailable() or server.config.take_counter("imds", "fail_503_next"):
                    self._send(503, "Service Unavailable", "text/html")
                    return True
                return False

            def _drain(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)

            def do_PUT(self):
                try:
                    self._drain()
                    if self._unavailable():
                        return
                    if self.path != "/latest/api/token":
                        return self._send(404, "Not Found", "text/html")
                    if self.headers.get("X-Forwarded-For"):
                        return self._send(403, "Forbidden", "text/html")
                    ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
                    if ttl is None or not ttl.strip().isdigit() or not 1 <= int(ttl) <= MAX_TOKEN_TTL_S:
                        return self._send(400, "Bad Request", "text/html")
                    token = server.new_token(int(ttl))
                    self._send(200, token, "text/plain", {"X-aws-ec2-metadata-token-ttl-seconds": ttl.strip()})
                except Exception as e:  # one bad request never stops the server
                    print(f"sandbox imds: PUT failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)

            def do_GET(self):
                try:
                    if self._unavailable():
                        return
                    token = self.headers.get("X-aws-ec2-metadata-token")
                    if token is not None:
                        if not server.token_valid(token):
                            return self._send(401, "Unauthorized", "text/html")
                    elif not server.config.view()["imds"]["v1_enabled"]:
                        return self._send(401, "Unauthorized", "text/html")
                    path = self.path.split("?", 1)[0]
                    if path in ("/latest", "/latest/"):
                        rel = ""
                    elif path.startswith("/latest/"):
                        rel = path[len("/latest/"):]
                    else:
                        return self._send(404, "Not Found", "text/html")
                    status, ctype, body = server.metadata(rel)
                    self._send(status, body, ctype)
                except Exception as e:
                    print(f"sandbox imds: GET failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)

            def do_POST(self):
                self._drain()
                self._send(405, "Method Not Allowed", "text/html")

        return Handler
