"""etc/ssm/*.yaml parse as SSM Command documents and follow their contracts (structure only;
tests/e2e/agent_freeze_hold_test.cpp runs their scripts against the sandbox)."""
import os
import re
import subprocess
import sys
import unittest

import ssm_document

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DLM = os.path.join(ROOT, "etc", "ssm", "ebsnap-dlm-scripts.yaml")
SNAPSHOT = os.path.join(ROOT, "etc", "ssm", "ebsnap-snapshot.yaml")


class Documents(unittest.TestCase):
    def test_each_document_is_a_schema_22_command_document_naming_only_its_parameters(self):
        for path in (DLM, SNAPSHOT):
            with self.subTest(path=path):
                self.assertEqual(ssm_document.check_structure(ssm_document.load(path)), [])

    def test_the_checker_sees_an_undefined_reference(self):
        doc = ssm_document.load(DLM)
        doc["mainSteps"][0]["inputs"]["runCommand"].append("echo {{ nosuch }}")
        self.assertIn("references to undefined parameters ['nosuch']", ssm_document.check_structure(doc))

    def test_dlm_contract_command_parameter(self):
        doc = ssm_document.load(DLM)
        command = doc["parameters"]["command"]
        self.assertEqual(command["type"], "String")
        self.assertEqual(command["allowedValues"], ["pre-script", "post-script", "dry-run"])
        self.assertIn("executionId", doc["parameters"])  # DLM passes it

    def test_dlm_step_timeout_is_the_hold_bound(self):
        doc = ssm_document.load(DLM)
        step = doc["mainSteps"][0]
        self.assertEqual(step["inputs"]["timeoutSeconds"], "{{ executionTimeout }}")
        for value in ("pre-script", "dry-run"):
            script = ssm_document.render(doc, {"command": value, "executionTimeout": "45"})
            self.assertIn("bound='45'", script)
            self.assertRegex(script, r'--hold --timeout "\$\{bound\}s"')
        pattern = doc["parameters"]["executionTimeout"]["allowedPattern"]
        accepted = [n for n in range(0, 200) if re.search(pattern, str(n))]
        self.assertEqual(accepted, list(range(1, 121)))  # the guardian's bound: 1..120 s

    def test_render_refuses_values_ssm_would_refuse(self):
        doc = ssm_document.load(DLM)
        for given in ({"command": "thaw"}, {"group": "a b"}, {"group": "$(reboot)"}, {"nosuch": "1"},
                      {"executionTimeout": "121"}):
            with self.subTest(given=given), self.assertRaises(ssm_document.DocumentError):
                ssm_document.render(doc, given)
        with self.assertRaises(ssm_document.DocumentError):
            ssm_document.render(ssm_document.load(SNAPSHOT), {})  # groups is required
        with self.assertRaises(ssm_document.DocumentError):
            ssm_document.render(ssm_document.load(SNAPSHOT), {"groups": "a;reboot"})

    def test_every_rendered_script_is_valid_bash(self):
        cases = [(DLM, {"command": c}) for c in ("pre-script", "post-script", "dry-run")]
        cases += [(SNAPSHOT, {"groups": "a b", "prune": p, "dryRun": d}) for p in ("no", "yes") for d in ("no", "yes")]
        for path, given in cases:
            with self.subTest(path=os.path.basename(path), given=given):
                script = ssm_document.render(ssm_document.load(path), given)
                self.assertNotIn("{{", script)
                r = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_command_line_render(self):
        r = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "ssm_document.py"), "render", DLM, "command=bogus"],
                           text=True, capture_output=True)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
