#!/usr/bin/env python3
"""ebsnap's local EC2 + IMDSv2 + loop-device data plane. See README.md.

    $EBSNAP_PYTHON tests/sandbox/sandbox.py run --state-dir DIR --env-file FILE
        [--config FILE.json] [--no-data-plane]
    $EBSNAP_PYTHON tests/sandbox/sandbox.py cleanup --state-dir DIR     (after a SIGKILL)
"""
import argparse
import ctypes
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _write_env(path: str, env: dict) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in env.items())
    os.replace(tmp, path)


# The regions the sandbox serves: the home region, and the disaster-recovery region that
# CopySnapshot copies into (each has its own moto state, token buckets and running instance).
HOME_REGION, HOME_AZ = "eu-west-1", "eu-west-1a"
DR_REGION, DR_AZ = "us-west-2", "us-west-2a"


def _start_moto(placements: list[tuple[str, str]]):
    """moto's server in a thread of this process; returns (server, port, [instance per
    (region, zone)])."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    import boto3
    instances = []
    for region, az in placements:
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=f"http://127.0.0.1:{port}",
                           aws_access_key_id="sandbox-setup", aws_secret_access_key="sandbox-setup")
        # Not one of moto's registered AMIs on purpose: for those moto reports the AMI's root device
        # name (mostly /dev/xvda) while it always attaches the root volume at /dev/sda1, which
        # would break ExcludeBootVolume. Without a registered AMI both are /dev/sda1.
        image_id = "ami-0ebc5a4dbe0000001"
        instances.append(ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="m5.large",
                                           Placement={"AvailabilityZone": az})["Instances"][0])
    return server, port, instances


def run(args) -> int:
    from ebsnap_sandbox.calllog import CallLog
    from ebsnap_sandbox.config import Config, ConfigError
    from ebsnap_sandbox.credentials import CredentialStore
    from ebsnap_sandbox.dataplane import DataPlane
    from ebsnap_sandbox.ec2 import ACCOUNT_ID, Ec2Engine
    from ebsnap_sandbox.gateway import Gateway
    from ebsnap_sandbox.imds import Identity, ImdsServer

    # EC2 serves concurrent calls concurrently; this process serves them on threads that share
    # one GIL. With the default 5 ms switch interval a request thread waking from I/O waits up
    # to 5 ms per hand-over behind a busy one, so 16 calls sent at once were answered over
    # ~60 ms. Handing over every 0.5 ms keeps their answers close together.
    sys.setswitchinterval(0.0005)
    region, az = HOME_REGION, HOME_AZ
    config = Config()
    if args.config:
        try:
            with open(args.config) as f:
                config.merge(json.load(f))
        except (OSError, ValueError, ConfigError) as e:
            print(f"sandbox: {args.config}: {e}", file=sys.stderr)
            return 2
    if not args.no_data_plane and os.geteuid() != 0:
        print("sandbox: the data plane needs root (loop devices, udev rules); "
              "run as root or pass --no-data-plane", file=sys.stderr)
        return 2

    state_dir = os.path.realpath(args.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.exit_with_parent:
        # A test that crashes (an assertion's abort) must not leave its sandbox serving, holding the
        # test runner's output pipe open and its loop devices attached: its death is our SIGTERM.
        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            stop.set()

    dataplane = None
    pieces = []
    try:
        if not args.no_data_plane:
            dataplane = DataPlane(state_dir)
            dataplane.shutdown()  # what a killed run with this state dir may have left
            dataplane.start()
        moto_server, moto_port, (inst, dr_inst) = _start_moto([(region, az), (DR_REGION, DR_AZ)])
        pieces.append(moto_server.stop)
        creds = CredentialStore(config.view()["imds"]["credential_ttl_s"])
        creds.set_refresh_margin(config.view()["imds"]["credential_refresh_margin_s"])

        def on_change(old, new, patch):
            imds = patch.get("imds", {})
            if "credential_ttl_s" in imds:
                creds.set_ttl(new["imds"]["credential_ttl_s"])
            if "credential_refresh_margin_s" in imds:
                creds.set_refresh_margin(new["imds"]["credential_refresh_margin_s"])
            if new["imds"]["credential_generation"] != old["imds"]["credential_generation"]:
                creds.rotate_role()
        config.on_change(on_change)

        calls = CallLog(os.path.join(state_dir, "calls.jsonl"))
        pieces.append(calls.close)
        lock = threading.RLock()  # moto's models, every region's: a copy reads the source region's
        engines = {r: Ec2Engine(config, r, moto_port, dataplane, lock, creds) for r in (region, DR_REGION)}
        for e in engines.values():
            e.peers = engines
            pieces.append(e.shutdown)
        now = time.time()
        identities = {
            name: Identity(ACCOUNT_ID, r, z, i["InstanceId"], i["ImageId"], i["InstanceType"],
                           i.get("PrivateIpAddress", "10.0.0.10"), now)
            for name, r, z, i in (("home", region, az, inst), ("dr", DR_REGION, DR_AZ, dr_inst))}
        imds = ImdsServer(config, creds, identities)
        imds.start()
        pieces.append(imds.stop)
        gateway = Gateway(config, creds, engines, calls, region)
        gateway.imds = imds
        gateway.start()
        pieces.append(gateway.stop)

        endpoint = f"http://127.0.0.1:{gateway.port}/"
        _write_env(args.env_file, {
            "AWS_ENDPOINT_URL_EC2": endpoint,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{imds.port}/",
            "AWS_REGION": region,
            "AWS_ACCESS_KEY_ID": creds.static.access_key_id,
            "AWS_SECRET_ACCESS_KEY": creds.static.secret_access_key,
            "EBSNAP_SANDBOX_INSTANCE_ID": inst["InstanceId"],
            "EBSNAP_SANDBOX_AZ": az,
            "EBSNAP_SANDBOX_DR_REGION": DR_REGION,
            "EBSNAP_SANDBOX_DR_AZ": DR_AZ,
            "EBSNAP_SANDBOX_DR_INSTANCE_ID": dr_inst["InstanceId"],
            "EBSNAP_SANDBOX_CONTROL": f"http://127.0.0.1:{gateway.port}/_sandbox",
            "EBSNAP_SANDBOX_CALL_LOG": os.path.join(state_dir, "calls.jsonl"),
            "EBSNAP_SANDBOX_PID": str(os.getpid()),
            "EBSNAP_SANDBOX_ROLE": config.view()["imds"]["role"] or "",
        })
        print(f"sandbox: serving EC2 at {endpoint} (IMDS port {imds.port}), instance {inst['InstanceId']}",
              file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
        return 0
    finally:
        # Stop serving first, then undo the data plane, then remove the state.
        for undo in reversed(pieces):
            try:
                undo()
            except Exception as e:
                print(f"sandbox: shutdown step failed: {type(e).__name__}: {e}", file=sys.stderr)
        if dataplane is not None:
            dataplane.shutdown()
        shutil.rmtree(state_dir, ignore_errors=True)


def cleanup(args) -> int:
    """What SIGTERM would have done, for a sandbox that was killed (SIGKILL, crash)."""
    from ebsnap_sandbox.dataplane import DataPlane
    state_dir = os.path.realpath(args.state_dir)
    if os.geteuid() == 0:
        DataPlane(state_dir).shutdown()
    shutil.rmtree(state_dir, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the sandbox in the foreground")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--env-file", required=True)
    p.add_argument("--config")
    p.add_argument("--no-data-plane", action="store_true")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="stop (as on SIGTERM) when the process that started it dies")
    c = sub.add_parser("cleanup", help="detach the loop devices, remove the udev rule and the state "
                                       "of a sandbox that was killed")
    c.add_argument("--state-dir", required=True)
    args = parser.parse_args()
    return run(args) if args.command == "run" else cleanup(args)


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is cleaned up by now; skip the interpreter's teardown of moto's large object
    # graph, which takes seconds.
    os._exit(rc)
