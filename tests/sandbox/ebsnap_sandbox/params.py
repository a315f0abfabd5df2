"""Query-protocol parameters checked against botocore's EC2 service model.

EC2 flattens its input: lists are always "Name.N" (1-based), structures "Name.Member", and
names are the model's serialized names (queryName, else locationName capitalised, else the
member name), e.g. Filter.1.Value.2, TagSpecification.1.Tag.1.Key, VolumeId.1, Owner.1,
InstanceSpecification.ExcludeBootVolume. parse() turns them back into the nested,
boto3-style input (member names: Filters, VolumeIds, OwnerIds...) with types converted, and
refuses what EC2 refuses: an unknown action, an unknown parameter, a value of the wrong type,
a missing required parameter.
"""
import datetime
import functools
import re

from moto.core.utils import get_service_model

from .errors import Ec2Error, invalid_value

API_VERSION = "2016-11-15"


def service_model():
    # moto's copy (cached; the engine loads it before the gateway serves): one model in the
    # process, never loaded by concurrent first requests.
    return get_service_model("ec2")


def _serialized_name(member_name: str, shape) -> str:
    ser = shape.serialization
    if "queryName" in ser:
        return ser["queryName"]
    if "name" in ser:
        return ser["name"][0].upper() + ser["name"][1:]
    return member_name


@functools.lru_cache(maxsize=None)
def _members_by_wire_name(shape_name: str) -> dict:
    shape = service_model().shape_for(shape_name)
    return {_serialized_name(name, m): (name, m) for name, m in shape.members.items()}


def operation(action: str):
    if action not in service_model().operation_names:
        raise Ec2Error("InvalidAction", f"The action {action} is not valid for this web service.", 400)
    return service_model().operation_model(action)


def _convert(wire_name: str, raw: str, shape):
    t = shape.type_name
    if t in ("integer", "long"):
        if not re.fullmatch(r"-?\d+", raw):
            raise invalid_value(f"Value ({raw}) for parameter {wire_name} is invalid. Expected an integer.")
        return int(raw)
    if t in ("float", "double"):
        try:
            return float(raw)
        except ValueError:
            raise invalid_value(f"Value ({raw}) for parameter {wire_name} is invalid. Expected a number.")
    if t == "boolean":
        if raw.lower() not in ("true", "false"):
            raise invalid_value(f"Value ({raw}) for parameter {wire_name} is invalid. Expected: 'true' or 'false'.")
        return raw.lower() == "true"
    if t == "timestamp":
        try:
            return datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise invalid_value(f"Value ({raw}) for parameter {wire_name} is invalid. Expected an ISO 8601 timestamp.")
    if t == "string" and shape.enum and raw not in shape.enum:
        raise invalid_value(f"Value ({raw}) for parameter {wire_name} is invalid. "
                            f"Valid values: {', '.join(shape.enum)}")
    return raw


def _insert(container: dict, tokens: list[str], raw: str, shape, wire_prefix: str) -> None:
    """Places one flattened parameter into the nested structure `container` (a structure)."""
    token = tokens[0]
    members = _members_by_wire_name(shape.name)
    if token not in members:
        raise Ec2Error("UnknownParameter", f"The parameter {wire_prefix}{token} is not recognized", 400)
    name, mshape = members[token]
    _insert_value(container, name, tokens[1:], raw, mshape, f"{wire_prefix}{token}")


def _insert_value(container, key, tokens, raw, shape, wire_name):
    t = shape.type_name
    if t == "structure":
        if not tokens:
            raise Ec2Error("UnknownParameter", f"The parameter {wire_name} is not recognized", 400)
        sub = container.setdefault(key, {})
        if not isinstance(sub, dict):
            raise invalid_value(f"Invalid value for parameter {wire_name}")
        _insert(sub, tokens, raw, shape, wire_name + ".")
    elif t == "list":
        if not tokens or not re.fullmatch(r"[1-9]\d*", tokens[0]):
            raise Ec2Error("UnknownParameter", f"The parameter {wire_name}{'.' + tokens[0] if tokens else ''} is not recognized", 400)
        index = int(tokens[0])
        items = container.setdefault(key, {})  # index -> value; turned into a list at the end
        _insert_value(items, index, tokens[1:], raw, shape.member, f"{wire_name}.{tokens[0]}")
    elif t == "map":
        # Maps flatten as Name.N.Key / Name.N.Value (rare in EC2; kept for completeness).
        if len(tokens) != 2 or not tokens[0].isdigit() or tokens[1] not in ("Key", "Value"):
            raise Ec2Error("UnknownParameter", f"The parameter {wire_name}.{'.'.join(tokens)} is not recognized", 400)
        entry = container.setdefault(key, {}).setdefault(int(tokens[0]), {})
        entry[tokens[1]] = raw
    else:
        if tokens:
            raise Ec2Error("UnknownParameter", f"The parameter {wire_name}.{'.'.join(tokens)} is not recognized", 400)
        container[key] = _convert(wire_name, raw, shape)


def _finish(value, shape):
    """Index dicts -> ordered lists, map entries -> dicts."""
    t = shape.type_name
    if t == "structure":
        return {k: _finish(v, shape.members[k]) for k, v in value.items()}
    if t == "list":
        return [_finish(value[i], shape.member) for i in sorted(value)]
    if t == "map":
        return {e.get("Key"): e.get("Value") for _, e in sorted(value.items())}
    return value


def parse(flat: dict[str, str]) -> tuple[str, dict]:
    """(action, nested params) from the flat Query parameters, or raises EC2's error."""
    action = flat.get("Action")
    if not action:
        raise Ec2Error("MissingAction", "The request must contain the parameter Action", 400)
    op = operation(action)
    version = flat.get("Version")
    if version is None:
        raise Ec2Error("MissingParameter", "The request must contain the parameter Version", 400)
    if version != API_VERSION:
        raise Ec2Error("InvalidParameterValue", f"Value ({version}) for parameter Version is invalid.", 400)
    shape = op.input_shape
    nested: dict = {}
    for key, raw in flat.items():
        if key in ("Action", "Version"):
            continue
        if shape is None:
            raise Ec2Error("UnknownParameter", f"The parameter {key} is not recognized", 400)
        _insert(nested, key.split("."), raw, shape, "")
    params = _finish(nested, shape) if shape is not None else {}
    if shape is not None:
        for req in shape.required_members:
            if req not in params:
                raise Ec2Error("MissingParameter",
                               f"The request must contain the parameter {_serialized_name(req, shape.members[req])}", 400)
    return action, params
