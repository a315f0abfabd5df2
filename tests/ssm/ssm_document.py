"""SSM Command documents (etc/ssm/*.yaml) as Systems Manager reads them, for the tests.

    python3 ssm_document.py render DOC.yaml [NAME=VALUE ...]
prints the runCommand script of the document's one aws:runShellScript step with every
{{ NAME }} replaced by the given value or the parameter's default, after the checks Systems
Manager makes: an unknown parameter, a missing required one, a value outside allowedValues or
not matching allowedPattern are refused (exit 2, one line on stderr).
"""
import re
import sys

import yaml

REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_.:/-]+)\s*\}\}")
PARAMETER_TYPES = {"String", "StringList", "Boolean", "Integer", "MapList", "StringMap"}


class DocumentError(Exception):
    pass


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def references(node):
    """Every {{ name }} in the document's strings."""
    found = set()
    if isinstance(node, dict):
        for v in node.values():
            found |= references(v)
    elif isinstance(node, list):
        for v in node:
            found |= references(v)
    elif isinstance(node, str):
        found |= set(REFERENCE.findall(node))
    return found


def check_structure(doc):
    """The shape of a schema 2.2 Command document with aws:runShellScript steps; a list of problems."""
    problems = []
    if not isinstance(doc, dict):
        return ["not a mapping"]
    if doc.get("schemaVersion") != "2.2":
        problems.append("schemaVersion must be the string '2.2'")
    unknown = set(doc) - {"schemaVersion", "description", "parameters", "mainSteps"}
    if unknown:
        problems.append(f"unknown top-level keys {sorted(unknown)}")
    params = doc.get("parameters", {})
    if not isinstance(params, dict):
        problems.append("parameters must be a mapping")
        params = {}
    for name, p in params.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            problems.append(f"parameter name {name!r}")
        if not isinstance(p, dict) or p.get("type") not in PARAMETER_TYPES:
            problems.append(f"parameter {name}: type must be one of {sorted(PARAMETER_TYPES)}")
            continue
        if "default" in p and "allowedValues" in p and p["default"] not in p["allowedValues"]:
            problems.append(f"parameter {name}: default {p['default']!r} not in allowedValues")
        if "default" in p and "allowedPattern" in p and not re.search(p["allowedPattern"], str(p["default"])):
            problems.append(f"parameter {name}: default {p['default']!r} does not match allowedPattern")
        for v in p.get("allowedValues", []):
            if not isinstance(v, str):
                problems.append(f"parameter {name}: allowed value {v!r} is not a string")
    steps = doc.get("mainSteps")
    if not isinstance(steps, list) or not steps:
        problems.append("mainSteps must be a non-empty list")
        steps = []
    names = set()
    for step in steps:
        if step.get("action") != "aws:runShellScript":
            problems.append(f"step {step.get('name')}: action must be aws:runShellScript")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(step.get("name", ""))):
            problems.append(f"step name {step.get('name')!r}")
        if step.get("name") in names:
            problems.append(f"step name {step.get('name')} twice")
        names.add(step.get("name"))
        inputs = step.get("inputs", {})
        commands = inputs.get("runCommand")
        if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
            problems.append(f"step {step.get('name')}: runCommand must be a list of strings")
    missing = references(doc) - set(params)
    if missing:
        problems.append(f"references to undefined parameters {sorted(missing)}")
    unused = set(params) - references(doc.get("mainSteps", []))
    if unused:
        problems.append(f"parameters never used {sorted(unused)}")
    return problems


def values_for(doc, given):
    params = doc.get("parameters", {})
    values = {}
    for name in given:
        if name not in params:
            raise DocumentError(f"unknown parameter {name}")
    for name, p in params.items():
        if name in given:
            value = given[name]
        elif "default" in p:
            value = str(p["default"])
        else:
            raise DocumentError(f"parameter {name} is required")
        if "allowedValues" in p and value not in p["allowedValues"]:
            raise DocumentError(f"parameter {name}: {value!r} is not one of {p['allowedValues']}")
        if "allowedPattern" in p and not re.search(p["allowedPattern"], value):
            raise DocumentError(f"parameter {name}: {value!r} does not match {p['allowedPattern']}")
        values[name] = value
    return values


def render(doc, given):
    """The runCommand script of the document's step, parameters substituted."""
    values = values_for(doc, given)
    step = doc["mainSteps"][0]
    script = "\n".join(step["inputs"]["runCommand"])
    return REFERENCE.sub(lambda m: values[m.group(1)], script)


def main(argv):
    if len(argv) < 3 or argv[1] != "render":
        print(__doc__, file=sys.stderr)
        return 2
    given = {}
    for word in argv[3:]:
        name, _, value = word.partition("=")
        given[name] = value
    try:
        sys.stdout.write(render(load(argv[2]), given))
    except DocumentError as e:
        print(f"ssm_document: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
