"""The JSON-lines call log: one line per EC2 call (for tests and benchmarks)."""
import json
import os
import threading

# Never logged: signatures, credentials, tokens, and user data (it may hold secrets).
_SECRET_PARAMS = {"Signature", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token",
                  "AWSAccessKeyId", "SecurityToken", "UserData", "PresignedUrl", "Password"}


def loggable(flat: dict) -> dict:
    return {k: v for k, v in flat.items()
            if k not in _SECRET_PARAMS and k.split(".")[0] not in _SECRET_PARAMS}


class CallLog:
    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def write(self, entry: dict) -> None:
        # One write(2) per line: a reader polling the file never sees half a line.
        line = (json.dumps(entry, default=str, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self._fd >= 0:
                os.write(self._fd, line)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
