"""tests/sandbox/start and stop: a shell gets the environment with eval, stop cleans up."""
import os
import shutil
import subprocess
import tempfile
import unittest

from tests.support import HERE, PYTHON


class Wrappers(unittest.TestCase):
    def test_start_exports_then_stop_cleans_up(self):
        tmp = tempfile.mkdtemp(prefix="ebsnap-sandbox-wrap-")
        self.addCleanup(shutil.rmtree, tmp, True)
        d = os.path.join(tmp, "sb")
        script = f"""
            set -e
            eval "$({HERE}/start {d} --no-data-plane)"
            test -n "$AWS_ENDPOINT_URL_EC2" && test -n "$EBSNAP_SANDBOX_INSTANCE_ID"
            {PYTHON} -m awscli ec2 describe-instances --endpoint-url "$AWS_ENDPOINT_URL_EC2" \\
                --instance-ids "$EBSNAP_SANDBOX_INSTANCE_ID" --query 'Reservations[0].Instances[0].InstanceId' --output text
            echo "pid=$EBSNAP_SANDBOX_PID"
            {HERE}/stop {d}
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=180)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.split()
        self.assertTrue(lines[0].startswith("i-"), p.stdout)
        pid = int(lines[1].split("=")[1])
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)
        self.assertFalse(os.path.exists(os.path.join(d, "state")))
        self.assertFalse(os.path.exists(os.path.join(d, "pid")))

    def test_start_reports_a_sandbox_that_cannot_start(self):
        tmp = tempfile.mkdtemp(prefix="ebsnap-sandbox-wrap-")
        self.addCleanup(shutil.rmtree, tmp, True)
        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"no_such_key": 1}')
        p = subprocess.run([os.path.join(HERE, "start"), os.path.join(tmp, "sb"), "--config", bad, "--no-data-plane"],
                           capture_output=True, text=True, timeout=180)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("unknown key 'no_such_key'", p.stderr)
        self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    unittest.main()
