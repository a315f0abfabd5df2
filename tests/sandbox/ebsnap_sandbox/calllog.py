"""The JSON-lines call log: one line per EC2 call (for tests and benchmarks)."""
import json
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
        self._file = open(path, "a", buffering=1)

    def write(self, entry: dict) -> None:
        line = json.dumps(entry, default=str, separators=(",", ":"))
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._file.close()
