"""cloudtap's enrolment function: Traffic Mirroring sessions for instances launched after `up`.

Runs in AWS Lambda (Python, boto3 only). Invoked by EventBridge for every EC2 instance state
change to ``running`` or ``terminated`` (that instance only) and every few minutes by a schedule
(everything: the backstop for events that were never delivered). Each invocation converges the
sessions this function owns towards what its configuration selects:

- every interface (not only the primary) of every selected instance gets one session to the
  stack's target (with zone-local targets, ``zone_target_ids``: the target of the instance's own
  availability zone), filter and VNI, with the lowest session number not taken on that interface,
  unless the interface already has 3 sessions (AWS's limit) or is already mirrored to the same
  target by someone else (a Pulumi session, another tool): both are skipped, with the reason;
- an instance type AWS cannot mirror (the same data as the preview, ``mirror_support.json``) is
  left to the gateway mirror when the gateway copies its subnet, else logged as uncovered;
- a session it owns whose interface is gone, no longer selected, or that points at an old
  target or filter is deleted. Sessions without its owner tag are never touched.

Creating is idempotent: a session that exists is not created again, and the request's client
token is derived from the owner, the interface and the target, so a retried call returns the
same session. The function runs with a reserved concurrency of 1, so two invocations never
race on one interface.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

OWNER_TAG = "cloudtap:owner"
ENROLLED_BY_TAG = "cloudtap:enrolled-by"
ENROLLED_BY = "function"
CONFIG_VARIABLE = "CLOUDTAP_ENROL"
SESSIONS_PER_INTERFACE = 3
MAX_SESSION_NUMBER = 32766
MIRRORABLE_INTERFACE_TYPES = frozenset({"interface", None})
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
STATE_CHANGE = "EC2 Instance State-change Notification"
SUPPORT_FILE = Path(__file__).with_name("mirror_support.json")

log = logging.getLogger("cloudtap.enrol")
log.setLevel(logging.INFO)


def load_support(path: Path = SUPPORT_FILE) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def verdict(  # noqa: PLR0911 - the preview's decision table, in its order
    instance_type: str, data: Mapping[str, Any], assumed: Iterable[str] = ()
) -> tuple[str, str]:
    """(``supported``/``unsupported``/``unconfirmed``, why): the preview's rule, in its order
    (``components/aws/mirror_support.py``), read from the data it ships."""
    family, _, size = instance_type.partition(".")
    assumed = set(assumed)
    if instance_type in assumed or family in assumed:
        return "supported", f"{instance_type} is in mirrorable_instance_types"
    retrieved = data["retrieved"]
    if size == "metal" or size.startswith("metal-"):
        return "unsupported", f"{instance_type} is bare metal, which AWS never mirrors"
    if family in data["allowed_non_nitro"]:
        return "supported", f"{family} is on AWS's short list of mirrorable non-Nitro types"
    if family in data["other_xen"]:
        return "unsupported", f"{family} is not a Nitro type and not in AWS's allowed list"
    if family in data["excluded"]:
        return "unsupported", f"{family} is on AWS's list of Nitro types it does not mirror"
    if family in data["nitro_v5_v6"]:
        return "unsupported", f"{family} is a Nitro v5+ type, which AWS does not mirror"
    if family in data["nitro_v2_v3"]:
        return "supported", f"{family} is a Nitro type AWS mirrors"
    if family in data["nitro_v4"]:
        return "unconfirmed", f"{family} is a Nitro v4 type AWS may not mirror (data {retrieved})"
    return "unconfirmed", f"{family} is not in cloudtap's instance-type data ({retrieved})"


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """The Lambda entry point."""
    import boto3  # noqa: PLC0415 - the Lambda runtime provides it

    config = json.loads(os.environ[CONFIG_VARIABLE])
    return handle(event, boto3.client("ec2"), config, load_support())


def handle(
    event: Mapping[str, Any], ec2: Any, config: Mapping[str, Any], support: Mapping[str, Any]
) -> dict[str, Any]:
    """One invocation: an instance's state change, or (anything else) a full reconcile."""
    if event.get("detail-type") == STATE_CHANGE:
        instance_id = str(event["detail"]["instance-id"])
        log.info("state change: %s is %s", instance_id, event["detail"].get("state"))
        return reconcile(ec2, config, support, instance_ids=[instance_id])
    return reconcile(ec2, config, support)


def _tags(raw: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw.get("Tags") or []}


def _pages(ec2: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    pages = ec2.get_paginator(operation).paginate(**kwargs)
    return [item for page in pages for item in page.get(key, [])]


def owned(session: Mapping[str, Any], owner: str) -> bool:
    return _tags(session).get(OWNER_TAG) == owner


def _selected_instances(
    ec2: Any, config: Mapping[str, Any], instance_ids: list[str] | None
) -> list[dict[str, Any]]:
    filters = [{"Name": "instance-state-name", "Values": LIVE_STATES}]
    if config.get("vpc_id"):
        filters.append({"Name": "vpc-id", "Values": [config["vpc_id"]]})
    for key, value in sorted(config.get("tags", {}).items()):
        filters.append({"Name": f"tag:{key}", "Values": [value]})
    if instance_ids is not None:
        filters.append({"Name": "instance-id", "Values": instance_ids})
    reservations = _pages(ec2, "describe_instances", "Reservations", Filters=filters)
    return [i for r in reservations for i in r.get("Instances", [])]


def _in_selected_subnets(eni: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    if config.get("subnet_ids"):
        return eni.get("SubnetId") in config["subnet_ids"]
    address = _address(eni)
    return address is not None and any(
        address in ipaddress.IPv4Network(c) for c in config.get("subnet_cidrs", [])
    )


def _address(eni: Mapping[str, Any]) -> ipaddress.IPv4Address | None:
    raw = eni.get("PrivateIpAddress")
    return ipaddress.IPv4Address(raw) if raw else None


def _gateway_copies(eni: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    address = _address(eni)
    return address is not None and any(
        address in ipaddress.IPv4Network(c) for c in config.get("gateway_cidrs", [])
    )


def target_of(instance: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """The mirror target for ``instance``: its own zone's with zone-local targets (a fleet's GWLB
    endpoint per zone, which saves cross-zone charges), else the one target."""
    by_zone: Mapping[str, str] = config.get("zone_target_ids") or {}
    if not by_zone:
        return str(config["target_id"])
    zone = str((instance.get("Placement") or {}).get("AvailabilityZone"))
    if zone in by_zone:
        return by_zone[zone]
    log.warning(
        "%s: its zone %s has no target of its own: the first zone's (cross-zone copies)",
        instance.get("InstanceId"), zone,
    )  # fmt: skip
    return str(config["target_id"])


def _wanted(
    instances: list[dict[str, Any]],
    config: Mapping[str, Any],
    support: Mapping[str, Any],
    result: dict[str, Any],
) -> dict[str, tuple[str, str]]:
    """Interface id -> (filter id, target id), for every interface the function should mirror."""
    wanted: dict[str, tuple[str, str]] = {}
    filters = config["filter_ids"]
    for instance in instances:
        instance_id, instance_type = instance["InstanceId"], instance["InstanceType"]
        enis = [
            e
            for e in instance.get("NetworkInterfaces", [])
            if _in_selected_subnets(e, config)
            and e.get("InterfaceType") in MIRRORABLE_INTERFACE_TYPES
        ]
        if not enis:
            continue
        kind, why = verdict(instance_type, support, config.get("mirrorable_instance_types", []))
        for eni in enis:
            eni_id = eni["NetworkInterfaceId"]
            gateway = _gateway_copies(eni, config)
            if kind != "supported":
                if gateway and config.get("method") == "auto":
                    result["gateway"][eni_id] = f"{instance_id} ({instance_type}): {why}"
                    log.info(
                        "%s %s (%s): gateway mirror, north-south only: %s",
                        instance_id, eni_id, instance_type, why,
                    )  # fmt: skip
                else:
                    result["uncovered"][eni_id] = f"{instance_id} ({instance_type}): {why}"
                    log.warning(
                        "%s %s (%s): not covered: %s", instance_id, eni_id, instance_type, why
                    )
                continue
            scope = "east-west" if gateway and "east-west" in filters else "all"
            if scope not in filters:
                result["uncovered"][eni_id] = f"{instance_id}: no filter for {scope} traffic"
                log.warning("%s %s: not covered: no %s filter", instance_id, eni_id, scope)
                continue
            wanted[eni_id] = (filters[scope], target_of(instance, config))
    return wanted


def reconcile(
    ec2: Any,
    config: Mapping[str, Any],
    support: Mapping[str, Any],
    instance_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Converge the function's sessions (of ``instance_ids`` only, when given). Returns what it
    did: ``created``, ``deleted`` (session ids), ``skipped``, ``gateway``, ``uncovered``
    (interface id -> why)."""
    owner = config["owner"]
    result: dict[str, Any] = {
        "created": [],
        "deleted": [],
        "skipped": {},
        "gateway": {},
        "uncovered": {},
    }
    instances = _selected_instances(ec2, config, instance_ids)
    wanted = _wanted(instances, config, support, result)
    sessions = _pages(ec2, "describe_traffic_mirror_sessions", "TrafficMirrorSessions")
    mine = [s for s in sessions if owned(s, owner)]
    # Interfaces whose owned sessions may go: all of them in a full reconcile; in an instance's
    # event, that instance's interfaces and any interface that is gone or detached.
    existing = _existing_interfaces(ec2, {s["NetworkInterfaceId"] for s in mine})
    for session in mine:
        eni_id = session["NetworkInterfaceId"]
        attached_to = existing.get(eni_id)
        in_scope = instance_ids is None or attached_to is None or attached_to in instance_ids
        keep = wanted.get(eni_id) == (
            session["TrafficMirrorFilterId"],
            session["TrafficMirrorTargetId"],
        )
        if in_scope and not keep:
            ec2.delete_traffic_mirror_session(
                TrafficMirrorSessionId=session["TrafficMirrorSessionId"]
            )
            result["deleted"].append(session["TrafficMirrorSessionId"])
            log.info("%s: deleted session %s", eni_id, session["TrafficMirrorSessionId"])
    gone = set(result["deleted"])
    live = [s for s in sessions if s["TrafficMirrorSessionId"] not in gone]
    for eni_id, (filter_id, target) in wanted.items():
        _ensure(
            ec2,
            config,
            eni_id,
            (filter_id, target),
            [s for s in live if s["NetworkInterfaceId"] == eni_id],
            result,
        )
    return result


def _existing_interfaces(ec2: Any, eni_ids: set[str]) -> dict[str, str | None]:
    """Interface id -> its instance (``None`` when detached), for those that still exist."""
    if not eni_ids:
        return {}
    found = _pages(
        ec2,
        "describe_network_interfaces",
        "NetworkInterfaces",
        Filters=[{"Name": "network-interface-id", "Values": sorted(eni_ids)}],
    )
    return {e["NetworkInterfaceId"]: (e.get("Attachment") or {}).get("InstanceId") for e in found}


def _ensure(  # noqa: PLR0917 - one internal step of reconcile
    ec2: Any,
    config: Mapping[str, Any],
    eni_id: str,
    filter_and_target: tuple[str, str],
    on_interface: list[dict[str, Any]],
    result: dict[str, Any],
) -> None:
    owner = config["owner"]
    filter_id, target = filter_and_target
    if any(owned(s, owner) for s in on_interface):
        return
    same_target = [s for s in on_interface if s["TrafficMirrorTargetId"] == target]
    if same_target:
        reason = (
            f"already mirrored to the target by {same_target[0]['TrafficMirrorSessionId']}, "
            "which the function does not own"
        )
    elif len(on_interface) >= SESSIONS_PER_INTERFACE:
        reason = f"already has {len(on_interface)} sessions, AWS's limit per interface"
    else:
        reason = ""
    if reason:
        result["skipped"][eni_id] = reason
        log.warning("%s: skipped: %s", eni_id, reason)
        return
    taken = {int(s["SessionNumber"]) for s in on_interface}
    number = int(config.get("session_number") or 1)
    while number in taken and number < MAX_SESSION_NUMBER:
        number += 1
    token = hashlib.sha256(f"{owner}/{eni_id}/{target}/{filter_id}".encode()).hexdigest()[:64]
    tags = {**config.get("session_tags", {}), OWNER_TAG: owner, ENROLLED_BY_TAG: ENROLLED_BY}
    request: dict[str, Any] = {
        "NetworkInterfaceId": eni_id,
        "TrafficMirrorTargetId": target,
        "TrafficMirrorFilterId": filter_id,
        "SessionNumber": number,
        "Description": f"cloudtap enrolment: {owner}",
        "ClientToken": token,
        "TagSpecifications": [
            {
                "ResourceType": "traffic-mirror-session",
                "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            }
        ],
    }
    if config.get("virtual_network_id") is not None:
        request["VirtualNetworkId"] = int(config["virtual_network_id"])
    if config.get("packet_length") is not None:
        request["PacketLength"] = int(config["packet_length"])
    created = ec2.create_traffic_mirror_session(**request)["TrafficMirrorSession"]
    result["created"].append(created["TrafficMirrorSessionId"])
    log.info(
        "%s: created session %s (number %d)", eni_id, created["TrafficMirrorSessionId"], number
    )


def remove_owned(ec2: Any, owner: str) -> list[str]:
    """Delete every session ``owner`` owns (``pulumi destroy``); returns their ids."""
    sessions = _pages(ec2, "describe_traffic_mirror_sessions", "TrafficMirrorSessions")
    deleted = []
    for session in sessions:
        if owned(session, owner):
            ec2.delete_traffic_mirror_session(
                TrafficMirrorSessionId=session["TrafficMirrorSessionId"]
            )
            deleted.append(session["TrafficMirrorSessionId"])
    return deleted
