"""The sandbox's running configuration: defaults, deep merge, validation.

The schema is documented in ../README.md ("Configuration"). A patch (from --config or
POST /_sandbox/config) is deep-merged into the running configuration: objects merge key by key,
every other value replaces. Unknown keys and wrong types are refused, so a typo in a test's
configuration fails loudly instead of being ignored.
"""
import copy
import threading

# EC2's request-rate defaults (token buckets: burst size, refill per second), per account and
# region: "Request throttling for the Amazon EC2 API", request token bucket sizes and refill
# rates, https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html (formerly
# .../AWSEC2/latest/APIReference/throttling.html). DeleteSnapshot and DeleteVolume have buckets
# of their own, 100 and 5/s, shared by every caller in the account and region; issue 12 paces
# prune's deletes below the DeleteSnapshot one.
DEFAULT_BUCKETS = {
    "describe": {"burst": 100, "rate": 20},
    "mutating": {"burst": 50, "rate": 5},
    "CreateVolume": {"burst": 100, "rate": 5},
    "DeleteVolume": {"burst": 100, "rate": 5},
    "CreateSnapshot": {"burst": 100, "rate": 5},
    "CreateSnapshots": {"burst": 100, "rate": 5},
    "DeleteSnapshot": {"burst": 100, "rate": 5},
    "CreateTags": {"burst": 100, "rate": 10},
}

DEFAULTS = {
    "seed": None,
    # Added to every EC2 call before it is served: "default" plus one key per action name.
    "latency_ms": {"default": 0},
    "latency_jitter_ms": 0,
    "timing": {
        "volume_create_s": 0.0,        # creating -> available
        "attach_s": 0.0,               # attaching -> attached
        "detach_s": 0.0,               # detaching -> detached
        "snapshot_complete_s": 0.0,    # pending -> completed (CreateSnapshot(s), CopySnapshot)
        "snapshot_rate_window_s": 0.0, # one CreateSnapshot per volume per window (EC2: ~15 s)
        "copy_complete_s": 0.0,        # CopySnapshot: the copy pending -> completed (or error)
    },
    # CopySnapshot (called in the destination region; the sandbox serves HOME_REGION and DR_REGION):
    # at most max_pending copies pending per destination region (EC2: 20) -> ResourceLimitExceeded;
    # KmsKeyId must be one of kms_key_ids (an ARN also names the destination region), else the copy
    # ends in state error, as EC2 ends a copy whose key it cannot use.
    "copy": {
        "max_pending": 20,
        "kms_key_ids": ["alias/aws/ebs"],
    },
    "throttling": {"enabled": False, "buckets": copy.deepcopy(DEFAULT_BUCKETS)},
    # Fault injection; "fault_actions" limits it to some actions (null: every action).
    "fault_actions": None,
    "throttle_fraction": 0.0,
    "error_5xx_fraction": 0.0,
    "drop_fraction": 0.0,
    # The call is served (its effect happens), then the answer is cut after its headers and half
    # its body by a TCP reset: the client cannot tell whether the call was served.
    "reset_fraction": 0.0,
    "reset_next": 0,  # the next N calls are cut so (a fault that surely meets a short run)
    "fail_next": {"count": 0, "status": 503, "code": "Unavailable"},
    # The next N volumes / snapshots created end in state "error" instead of available/completed.
    "volume_error_next": 0,
    "snapshot_error_next": 0,
    # The next N volumes created from a snapshot without VolumeInitializationRate report
    # FastRestored true, as if the snapshot had fast snapshot restore enabled in their zone.
    "fast_restored_next": 0,
    "allowed_actions": None,
    "max_clock_skew_s": 900,
    # How attached volumes appear: "nitro" (NVMe serial vol0123..., by-id link) or "xen"
    # (/dev/sdf appears as /dev/xvdf).
    "device_naming": "nitro",
    "imds": {
        "v1_enabled": False,
        "fail_503_next": 0,
        # IMDS answers 503 to every request for this many seconds from the change (or start):
        # an instance whose metadata service is not up yet at boot. 0: off.
        "fail_503_for_s": 0.0,
        # Tokens expire after this many seconds whatever TTL was asked for (the answer's TTL header
        # still says the TTL asked for): a GET with the expired token gets 401, as after an IMDS
        # restart. null: the TTL asked for.
        "token_lifetime_s": None,
        "user_data": None,
        "role": "ebsnap-sandbox-role",
        "credential_ttl_s": 21600,
        "credential_generation": 0,
        # How long before the current role credentials expire IMDS starts handing out new ones.
        # null: 5 minutes, or a third of the lifetime when that is shorter (as IMDS does); 0: only
        # once they have expired, so a client that refreshes early gets the old ones again.
        "credential_refresh_margin_s": None,
        # The documents EC2 serves once it announces a spot interruption
        # (meta-data/spot/instance-action, e.g. {"action": "terminate", "time": "..."}) or
        # recommends a rebalance (meta-data/events/recommendations/rebalance, {"noticeTime": "..."}),
        # served as given; null: 404, as before any notice.
        "spot_instance_action": None,
        "rebalance_recommendation": None,
        # Which instance IMDS answers for: "home" (EBSNAP_SANDBOX_INSTANCE_ID in HOME_REGION) or
        # "dr" (EBSNAP_SANDBOX_DR_INSTANCE_ID in DR_REGION): a DR instance after a failover.
        "instance": "home",
    },
}

_NUMBER = (int, float)
# Keys whose value may be null, or where any key is allowed (maps).
_NULLABLE = {("seed",), ("fault_actions",), ("allowed_actions",), ("imds", "user_data"), ("imds", "role"),
             ("imds", "token_lifetime_s"), ("imds", "credential_refresh_margin_s"),
             ("imds", "spot_instance_action"), ("imds", "rebalance_recommendation")}
_MAPS = {("latency_ms",), ("throttling", "buckets")}
_COUNTERS = {"count", "max_pending", "reset_next", "fail_503_next", "volume_error_next", "snapshot_error_next", "fast_restored_next",
             "credential_generation"}


class ConfigError(ValueError):
    pass


def _check(path: tuple, value, default) -> None:
    where = ".".join(path) or "(root)"
    if value is None:
        if path in _NULLABLE:
            return
        raise ConfigError(f"{where}: null is not allowed")
    if path in _MAPS:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected an object")
        for k, v in value.items():
            sub = default.get(k) if isinstance(default, dict) else None
            if path == ("latency_ms",):
                if not isinstance(v, _NUMBER) or isinstance(v, bool) or v < 0:
                    raise ConfigError(f"{where}.{k}: expected a number >= 0")
            else:
                _check(path + (k,), v, sub if sub is not None else {"burst": 1, "rate": 1.0})
        return
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected an object")
        for k, v in value.items():
            if k not in default:
                raise ConfigError(f"{where}: unknown key '{k}'")
            _check(path + (k,), v, default[k])
        return
    if path in (("fault_actions",), ("allowed_actions",)):
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise ConfigError(f"{where}: expected null or a list of action names")
        return
    if path == ("copy", "kms_key_ids"):
        if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
            raise ConfigError(f"{where}: expected a list of KMS key ids, aliases or ARNs")
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false")
        return
    if isinstance(default, _NUMBER) or path in (("seed",), ("imds", "token_lifetime_s"),
                                                 ("imds", "credential_refresh_margin_s")):
        if not isinstance(value, _NUMBER) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number")
        if value < 0:
            raise ConfigError(f"{where}: expected a number >= 0")
        if path[-1] in _COUNTERS and not isinstance(value, int):
            raise ConfigError(f"{where}: expected a whole number")
        if path[-1].endswith("_fraction") and value > 1:
            raise ConfigError(f"{where}: expected a fraction between 0 and 1")
        return
    if isinstance(default, str) or path in _NULLABLE:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string")
        if path == ("device_naming",) and value not in ("nitro", "xen"):
            raise ConfigError(f"{where}: expected \"nitro\" or \"xen\"")
        if path == ("imds", "instance") and value not in ("home", "dr"):
            raise ConfigError(f"{where}: expected \"home\" or \"dr\"")
        return
    raise ConfigError(f"{where}: unexpected value")


def deep_merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class Config:
    """Thread-safe holder of the running configuration; listeners run after each change."""

    def __init__(self):
        self._lock = threading.Lock()
        self._data = copy.deepcopy(DEFAULTS)
        self._listeners = []

    def on_change(self, listener) -> None:
        self._listeners.append(listener)

    def merge(self, patch) -> dict:
        if not isinstance(patch, dict):
            raise ConfigError("the configuration must be a JSON object")
        _check((), patch, DEFAULTS)
        fail_next = patch.get("fail_next")
        if isinstance(fail_next, dict) and "status" in fail_next and not 400 <= fail_next["status"] <= 599:
            raise ConfigError("fail_next.status: expected an HTTP error status (400..599)")
        with self._lock:
            old = self._data
            self._data = deep_merge(self._data, patch)
            new = copy.deepcopy(self._data)
        for listener in self._listeners:
            listener(old, new, patch)
        return new

    def get(self) -> dict:
        with self._lock:
            return copy.deepcopy(self._data)

    def view(self):
        """The live dict, for hot paths that only read. Never mutate it."""
        return self._data

    def take_counter(self, *path) -> bool:
        """Decrements a count (e.g. fail_next.count) if positive; True when one was taken."""
        with self._lock:
            node = self._data
            for p in path[:-1]:
                node = node[p]
            if node[path[-1]] > 0:
                node[path[-1]] -= 1
                return True
            return False
