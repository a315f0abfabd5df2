"""Starts a sandbox for a test module (the same contract tests/support/sandbox.h uses) and
drives it with awscli (subprocess, strict response parsing) or boto3."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/sandbox
PYTHON = os.environ.get("EBSNAP_PYTHON") or subprocess.run(
    [os.path.join(HERE, "..", "..", "scripts", "find-python")], capture_output=True, text=True).stdout.strip()


class AwsCliError(Exception):
    def __init__(self, code: str | None, stderr: str):
        super().__init__(stderr)
        self.code = code
        self.stderr = stderr


class Sandbox:
    def __init__(self, config: dict | None = None, data_plane: bool = False):
        self.dir = tempfile.mkdtemp(prefix="ebsnap-sandbox-test-")
        self.env_file = os.path.join(self.dir, "env")
        self.state_dir = os.path.join(self.dir, "state")
        argv = [PYTHON, os.path.join(HERE, "sandbox.py"), "run",
                "--state-dir", self.state_dir, "--env-file", self.env_file]
        if config:
            path = os.path.join(self.dir, "config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            argv += ["--config", path]
        if not data_plane:
            argv.append("--no-data-plane")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self._stderr)
        deadline = time.time() + 90
        while not os.path.exists(self.env_file):
            if self.proc.poll() is not None:
                raise RuntimeError(f"sandbox exited {self.proc.returncode}: {self.stderr()}")
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("sandbox did not write its env file in time")
            time.sleep(0.05)
        self.env = {}
        with open(self.env_file) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                self.env[k] = v
        self.endpoint = self.env["AWS_ENDPOINT_URL_EC2"]
        self.imds = self.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"].rstrip("/")
        self.control = self.env["EBSNAP_SANDBOX_CONTROL"]
        self.instance_id = self.env["EBSNAP_SANDBOX_INSTANCE_ID"]
        self.az = self.env["EBSNAP_SANDBOX_AZ"]
        self.region = self.env["AWS_REGION"]
        self.dr_region = self.env["EBSNAP_SANDBOX_DR_REGION"]
        self.dr_az = self.env["EBSNAP_SANDBOX_DR_AZ"]
        self.dr_instance_id = self.env["EBSNAP_SANDBOX_DR_INSTANCE_ID"]

    def stderr(self) -> str:
        with open(self.stderr_path) as f:
            return f.read()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode

    # --- control endpoint ----------------------------------------------------------------------
    def _control(self, method: str, path: str, doc=None):
        data = json.dumps(doc).encode() if doc is not None else None
        req = urllib.request.Request(self.control + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def configure(self, patch: dict) -> dict:
        return self._control("POST", "/config", patch)

    def config(self) -> dict:
        return self._control("GET", "/config")

    def bulk_snapshots(self, volume_id: str | list[str], count: int, tags: dict | None = None,
                       **extra) -> list[str]:
        """extra: description, state ("completed", "pending", "error"), start_time (ISO 8601)."""
        which = {"volume_ids": volume_id} if isinstance(volume_id, list) else {"volume_id": volume_id}
        return self._control("POST", "/snapshots/bulk",
                             {**which, "count": count, "tags": tags or {}, **extra})["snapshot_ids"]

    def set_start_times(self, start_times: dict) -> int:
        """{snapshot id: ISO 8601 time}: the StartTime DescribeSnapshots reports from now on."""
        return self._control("POST", "/snapshots/start-time", {"start_times": start_times})["updated"]

    def set_create_times(self, create_times: dict) -> int:
        """{volume id: ISO 8601 time}: the CreateTime DescribeVolumes reports from now on."""
        return self._control("POST", "/volumes/create-time", {"create_times": create_times})["updated"]

    def control_error(self, method: str, path: str, doc=None) -> tuple[int, dict]:
        """A control request expected to fail: (HTTP status, JSON answer)."""
        import urllib.error
        try:
            self._control(method, path, doc)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
        raise AssertionError(f"{method} {path} succeeded")

    def tokens(self, region: str | None = None) -> dict:
        doc = self._control("GET", "/throttling")
        return doc["tokens"] if region is None else doc["regions"][region]

    def pending_copies(self) -> dict:
        """{region: pending CopySnapshot copies into it}."""
        return {r: v["pending"] for r, v in self._control("GET", "/copies").items()}

    def imds_answers(self) -> dict:
        return self._control("GET", "/imds")["answers"]

    def devices(self) -> dict:
        return self._control("GET", "/devices")

    def received(self) -> dict:
        """{action: EC2 requests received so far}, counted on arrival (before latency)."""
        return self._control("GET", "/received")

    def calls(self) -> list[dict]:
        with open(self.env["EBSNAP_SANDBOX_CALL_LOG"]) as f:
            return [json.loads(line) for line in f if line.strip()]

    # --- clients -------------------------------------------------------------------------------
    def client_env(self, **overrides) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=self.env["AWS_ACCESS_KEY_ID"],
                   AWS_SECRET_ACCESS_KEY=self.env["AWS_SECRET_ACCESS_KEY"],
                   AWS_DEFAULT_REGION=self.region, AWS_REGION=self.region,
                   AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        env.update(overrides)
        return env

    def aws(self, *args, env: dict | None = None):
        """Runs `aws ec2 ARGS` with awscli; returns the parsed JSON output, raises AwsCliError."""
        p = subprocess.run([PYTHON, "-m", "awscli", "ec2", *args, "--endpoint-url", self.endpoint,
                            "--output", "json"], capture_output=True, text=True,
                           env=env or self.client_env(), timeout=120)
        if p.returncode != 0:
            code = None
            marker = "An error occurred ("
            if marker in p.stderr:
                code = p.stderr.split(marker, 1)[1].split(")", 1)[0]
            raise AwsCliError(code, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def signed_request(self, params: dict, access_key=None, secret_key=None, token=None,
                       region=None) -> dict:
        """The Query parameters as given (no client-side validation), signed with SigV4:
        {"body": ..., "headers": {...}} for a POST to "/" of the endpoint."""
        import urllib.parse
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        creds = Credentials(access_key or self.env["AWS_ACCESS_KEY_ID"],
                            secret_key or self.env["AWS_SECRET_ACCESS_KEY"], token)
        req = AWSRequest(method="POST", url=self.endpoint, data=urllib.parse.urlencode(params),
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(creds, "ec2", region or self.region).add_auth(req)
        return {"body": req.body, "headers": dict(req.headers)}

    def raw_call(self, params: dict, access_key=None, secret_key=None, token=None,
                 region=None) -> tuple[int, str]:
        """POSTs the Query parameters as given (no client-side validation), signed with SigV4."""
        import http.client
        import urllib.parse
        req = self.signed_request(params, access_key, secret_key, token, region)
        url = urllib.parse.urlsplit(self.endpoint)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        try:
            conn.request("POST", "/", body=req["body"], headers=req["headers"])
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def boto3(self, access_key=None, secret_key=None, token=None, retries=0, region=None):
        import boto3
        from botocore.config import Config
        return boto3.client(
            "ec2", region_name=region or self.region, endpoint_url=self.endpoint,
            aws_access_key_id=access_key or self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=secret_key or self.env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=token,
            config=Config(retries={"total_max_attempts": retries + 1, "mode": "standard"},
                          connect_timeout=10, read_timeout=60))


class SandboxTestCase(unittest.TestCase):
    """One sandbox per test class (started in setUpClass, stopped in tearDownClass)."""
    sandbox_config: dict | None = None
    data_plane = False

    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox(cls.sandbox_config, data_plane=cls.data_plane)
        cls.ec2 = cls.sb.boto3()

    @classmethod
    def tearDownClass(cls):
        rc = cls.sb.stop()
        if rc != 0:
            raise AssertionError(f"sandbox exited {rc}")

    def assertAwsError(self, code: str, *args):
        with self.assertRaises(AwsCliError) as cm:
            self.sb.aws(*args)
        self.assertEqual(cm.exception.code, code, cm.exception.stderr)
        return cm.exception

    def assertBotoError(self, code: str, fn, *args, status: int | None = None, **kwargs):
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], code, err)
        if status is not None:
            self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        return err

    # helpers
    def new_volume(self, size=1, **kwargs) -> str:
        return self.ec2.create_volume(Size=size, AvailabilityZone=self.sb.az, **kwargs)["VolumeId"]

    def wait_volume(self, volume_id: str, state: str, timeout=20):
        deadline = time.time() + timeout
        while True:
            vol = self.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
            if vol["State"] == state:
                return vol
            if time.time() > deadline:
                self.fail(f"{volume_id} stayed {vol['State']}, expected {state}")
            time.sleep(0.05)
