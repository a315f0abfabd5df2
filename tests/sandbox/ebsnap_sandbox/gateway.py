"""The endpoint clients talk to: faults and latency, SigV4, parameter checks, permissions,
throttling, then the EC2 engine; plus the control endpoint under /_sandbox/."""
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import params as model_params
from . import sigv4
from .calllog import CallLog, loggable
from .config import Config, ConfigError
from .credentials import CredentialStore
from .ec2 import Ec2Engine, parse_time
from .errors import Ec2Error, dry_run_ok, error_body, request_limit_exceeded, unauthorized
from .throttle import Throttler


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) overflows when an agent opens many connections at once
    # (16 concurrent CreateVolume calls); SYN retries then cost a second each.
    request_queue_size = 128


CONTROL_PREFIX = "/_sandbox"


class Dropped(Exception):
    """Fault injection: close the connection without answering."""


class Gateway:
    """Serves every region in `engines` ({region: Ec2Engine}) on one port: the credential scope of
    each request's signature picks the region, as the regional endpoint does in EC2. Each region
    has its own token buckets."""

    def __init__(self, config: Config, creds: CredentialStore, engines: dict[str, Ec2Engine],
                 calls: CallLog, region: str):
        self.config = config
        self.creds = creds
        self.engines = engines
        self.engine = engines[region]  # the home region's (control resources without "region")
        self.calls = calls
        self.region = region
        self.throttlers = {r: Throttler() for r in engines}
        for t in self.throttlers.values():
            t.configure(config.view()["throttling"])
        self.throttler = self.throttlers[region]
        self.imds = None  # the ImdsServer, for GET /_sandbox/imds (set by sandbox.py)
        self._rng = random.Random(config.view()["seed"])
        self._rng_lock = threading.Lock()
        # EC2 requests by action as they arrive, before any latency: a request counted here is in
        # flight even if its client dies now (the kill matrix kills with a call in flight).
        self._received: dict[str, int] = {}
        self._received_lock = threading.Lock()
        config.on_change(self._config_changed)
        self.httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,), name="gateway", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def _config_changed(self, old: dict, new: dict, patch: dict) -> None:
        if "throttling" in patch:
            for t in self.throttlers.values():
                t.configure(new["throttling"])
        if "seed" in patch:
            with self._rng_lock:
                self._rng = random.Random(new["seed"])

    def _random(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    # --- the EC2 pipeline ------------------------------------------------------------------------
    def _inject_faults(self, action: str, cfg: dict) -> None:
        scope = cfg["fault_actions"]
        if scope is not None and action not in scope:
            return
        if cfg["drop_fraction"] > 0 and self._random() < cfg["drop_fraction"]:
            raise Dropped()
        if self.config.take_counter("fail_next", "count"):
            fail = self.config.view()["fail_next"]
            raise Ec2Error(fail["code"], "Injected failure (fail_next).", fail["status"])
        if cfg["error_5xx_fraction"] > 0 and self._random() < cfg["error_5xx_fraction"]:
            if self._random() < 0.5:
                raise Ec2Error("InternalError", "An internal error has occurred.", 500)
            raise Ec2Error("Unavailable", "The server is overloaded and can't handle the request.", 503)
        if cfg["throttle_fraction"] > 0 and self._random() < cfg["throttle_fraction"]:
            raise request_limit_exceeded()

    def _reset_after_serving(self, action: str, cfg: dict) -> bool:
        """reset_next, reset_fraction: serve the call, then cut its answer (see Handler._send_cut)."""
        scope = cfg["fault_actions"]
        if scope is not None and action not in scope:
            return False
        if self.config.take_counter("reset_next"):
            return True
        return cfg["reset_fraction"] > 0 and self._random() < cfg["reset_fraction"]

    def serve_ec2(self, method: str, raw_path: str, headers, body: bytes) -> tuple[int, bytes, dict]:
        """Returns (status, body, call-log entry); raises Dropped to close without answering.
        entry["reset"] true: the answer is to be cut by a connection reset after it was served."""
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        query = urlsplit(raw_path).query
        flat = dict(parse_qsl(query, keep_blank_values=True))
        ctype = headers.get("Content-Type", "")
        if body and (method == "POST" or "x-www-form-urlencoded" in ctype):
            flat.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        action = flat.get("Action", "")
        with self._received_lock:
            self._received[action] = self._received.get(action, 0) + 1
        now = time.time()
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
                 "action": action, "params": loggable(flat), "request_id": request_id}
        cfg = self.config.view()
        status, error = 200, None
        try:
            delay_ms = cfg["latency_ms"].get(action, cfg["latency_ms"].get("default", 0))
            if cfg["latency_jitter_ms"]:
                delay_ms += (self._random() * 2 - 1) * cfg["latency_jitter_ms"]
            if delay_ms > 0:
                time.sleep(delay_ms / 1000)
            self._inject_faults(action, cfg)
            if self._reset_after_serving(action, cfg):
                entry["reset"] = True
            issued, region = sigv4.verify(method, raw_path, headers, body, self.creds, self.engines, time.time(),
                                          cfg["max_clock_skew_s"])
            entry["region"] = region
            entry["access_key_id"] = issued.access_key_id  # not a secret (CloudTrail shows it too)
            engine = self.engines[region]
            action, p = model_params.parse(flat)
            if not self.throttlers[region].allow(action):
                raise request_limit_exceeded()
            allowed = cfg["allowed_actions"]
            if allowed is not None and action not in allowed:
                raise unauthorized()
            if p.get("DryRun"):
                raise dry_run_ok()
            with engine.lock:
                handler = Ec2Engine.HANDLERS.get(action)
                if handler is not None:
                    out = engine.render(action, handler(engine, p), request_id)
                else:
                    if action in ("CreateTags", "DeleteTags"):
                        engine.check_resources_exist(p.get("Resources", []))
                    if action == "ModifyInstanceAttribute":
                        engine.check_block_device_mappings(p)
                    # moto picks the region from the signature's credential scope too.
                    status, _, out = engine.forward(method, raw_path, headers, body)
                    if status >= 500:
                        # moto failed (e.g. an action it does not implement): answer as EC2 would.
                        print(f"sandbox: moto answered {status} to {action}: {out[:300]!r}",
                              file=sys.stderr, flush=True)
                        raise Ec2Error("InternalError", f"An internal error has occurred ({action}).", 500)
                    if status >= 400:
                        error = _error_code(out)
        except Ec2Error as e:
            status, error = e.status, e.code
            out = error_body(e.code, e.message, request_id)
        except Dropped:
            entry.update(status=None, error="DroppedConnection",
                         latency_ms=round((time.monotonic() - started) * 1000, 3))
            self.calls.write(entry)
            raise
        except Exception as e:  # a bug of ours or moto's: answer 500, keep serving
            print(f"sandbox: {action} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            status, error = 500, "InternalError"
            out = error_body("InternalError", f"sandbox: {type(e).__name__}", request_id)
        entry.update(status=status, error=error, latency_ms=round((time.monotonic() - started) * 1000, 3))
        self.calls.write(entry)
        return status, out, entry

    # --- control endpoint ------------------------------------------------------------------------
    def serve_control(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        sub = path[len(CONTROL_PREFIX):].rstrip("/")
        try:
            if sub == "/config" and method == "GET":
                return 200, self.config.get()
            if sub == "/config" and method == "POST":
                return 200, self.config.merge(json.loads(body or b"{}"))
            if sub == "/throttling" and method == "GET":
                return 200, {"enabled": self.config.view()["throttling"]["enabled"],
                             "tokens": self.throttler.levels(),
                             "regions": {r: t.levels() for r, t in self.throttlers.items()}}
            if sub == "/imds" and method == "GET" and self.imds is not None:
                return 200, {"answers": self.imds.answer_counts()}
            if sub == "/received" and method == "GET":
                with self._received_lock:
                    return 200, dict(self._received)
            if sub == "/health" and method == "GET":
                return 200, {"ok": True}
            if sub == "/devices" and method == "GET":
                dp = self.engine.dataplane
                with self.engine.lock:
                    vols = [v for e in self.engines.values() for v in e.backend.volumes]
                return 200, {v: dp.device_of(v) for v in vols if dp and dp.device_of(v)}
            if sub == "/snapshots/bulk" and method == "POST":
                return 200, self._bulk_snapshots(_control_object(body, {
                    "volume_id", "volume_ids", "count", "tags", "description", "state", "start_time", "region"}))
            if sub == "/snapshots/start-time" and method == "POST":
                req = _control_object(body, {"start_times", "region"})
                engine = self._engine_of(req)
                with engine.lock:
                    return 200, {"updated": engine.set_start_times(req.get("start_times"))}
            if sub == "/volumes/create-time" and method == "POST":
                req = _control_object(body, {"create_times", "region"})
                engine = self._engine_of(req)
                with engine.lock:
                    return 200, {"updated": engine.set_create_times(req.get("create_times"))}
            if sub == "/copies" and method == "GET":
                with self.engine.lock:
                    return 200, {r: {"pending": e.pending_copies()} for r, e in self.engines.items()}
            return 404, {"error": f"no control resource {method} {sub or '/'}"}
        except (ConfigError, ValueError, KeyError, TypeError) as e:
            return 400, {"error": str(e)}
        except Ec2Error as e:
            return 400, {"error": e.code, "message": e.message}

    def _engine_of(self, req: dict) -> Ec2Engine:
        """The region a control request names ("region"), the home region by default."""
        region = req.get("region", self.region)
        if region not in self.engines:
            raise ValueError(f"region: expected one of {', '.join(self.engines)}, not {region!r}")
        return self.engines[region]

    def _bulk_snapshots(self, req: dict) -> dict:
        if ("volume_id" in req) == ("volume_ids" in req):
            raise ValueError("expected one of volume_id or volume_ids")
        volume_ids = [req["volume_id"]] if "volume_id" in req else req["volume_ids"]
        if (not isinstance(volume_ids, list) or not volume_ids
                or not all(isinstance(v, str) for v in volume_ids)):
            raise ValueError("volume_ids: expected a non-empty list of volume ids")
        count = req.get("count", 0)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count * len(volume_ids) <= 100000:
            raise ValueError("count: expected 1..100000 snapshots in all")
        tags = req.get("tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise ValueError("tags: expected an object of strings")
        description = req.get("description", "")
        if not isinstance(description, str):
            raise ValueError("description: expected a string")
        start_time = None
        if req.get("start_time") is not None:
            try:
                start_time = parse_time(req["start_time"])
            except ValueError as e:
                raise ValueError(f"start_time: {e}") from None
        engine = self._engine_of(req)
        with engine.lock:
            ids = engine.bulk_snapshots(volume_ids, count, tags, description,
                                        req.get("state", "completed"), start_time)
        return {"snapshot_ids": ids}

    def _handler_class(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: with Nagle on, a request that follows
            # another on a kept connection waits ~40 ms for the client\'s delayed ACK.
            disable_nagle_algorithm = True
            server_version = "AmazonEC2"
            sys_version = ""

            def log_message(self, fmt, *args):
                pass

            def _send(self, status: int, body: bytes, ctype: str, extra=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _send_cut(self, status: int, body: bytes, request_id: str):
                """The status line, the headers and half the body, then a TCP reset: SO_LINGER 0 and
                the descriptor closed at once (a shutdown() first would send a FIN, an orderly end)."""
                self.send_response(status)
                self.send_header("Content-Type", "text/xml;charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-amzn-RequestId", request_id)
                self.end_headers()
                self.wfile.write(body[:len(body) // 2])
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                os.close(self.connection.detach())
                self.close_connection = True

            def _serve(self, method: str):
                try:
                    n = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(n) if n else b""
                    path = urlsplit(self.path).path
                    if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
                        status, doc = gateway.serve_control(method, path, body)
                        return self._send(status, json.dumps(doc, indent=2).encode(), "application/json")
                    try:
                        status, out, entry = gateway.serve_ec2(method, self.path, self.headers, body)
                    except Dropped:
                        self.close_connection = True
                        return
                    if entry.get("reset"):
                        return self._send_cut(status, out, entry["request_id"])
                    self._send(status, out, "text/xml;charset=UTF-8",
                               {"x-amzn-RequestId": entry["request_id"]})
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                except Exception:
                    print("sandbox: request failed:\n" + traceback.format_exc(), file=sys.stderr, flush=True)
                    self.close_connection = True

            def do_POST(self):
                self._serve("POST")

            def do_GET(self):
                self._serve("GET")

        return Handler


def _control_object(body: bytes, keys: set[str]) -> dict:
    """A control request's JSON object; an unknown key is refused, as in the configuration."""
    req = json.loads(body or b"{}")
    if not isinstance(req, dict):
        raise ValueError("expected a JSON object")
    unknown = sorted(set(req) - keys)
    if unknown:
        raise ValueError(f"unknown key '{unknown[0]}'")
    return req


def _error_code(body: bytes) -> str | None:
    text = body.decode("utf-8", "replace")
    start = text.find("<Code>")
    end = text.find("</Code>")
    return text[start + 6:end] if 0 <= start < end else None
