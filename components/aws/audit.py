"""What a VPC's mirroring covers, read-only (boto3 Describe calls only): the audit's AWS side.

For every network interface of a VPC: covered by a native session (whose target still exists),
by the gateway mirror (the interface is in a network the gateway copies: north-south only), or
not covered and why (no session, a type AWS cannot mirror, a session whose target is gone). Also
listed: sessions whose target is gone, and interfaces or targets over AWS's quotas. The command
line is :mod:`components.audit`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..shapes import split_instance_type
from .discovery import MIRRORABLE_INTERFACE_TYPES
from .enrolment_plan import ENROLLED_BY_TAG, OWNER_TAG
from .mirror_support import RETRIEVED, mirror_support

SESSIONS_PER_INTERFACE = 3
SOURCES_PER_INTERFACE_TARGET = 10
"""AWS's quota for a target of type network-interface (100 on a family's largest size: the
audit cannot tell the size from the target, so it reports anything above 10)."""


class Coverage(StrEnum):
    NATIVE = "native"
    GATEWAY = "gateway"
    UNCOVERED = "UNCOVERED"
    TARGET = "target"
    """The interface receives copies: it is a mirror target, not a source."""
    NOT_A_SOURCE = "not a source"
    """A type AWS never mirrors (NAT gateway, endpoint, load balancer, ...) or unattached."""


@dataclass(frozen=True)
class InterfaceCoverage:
    interface_id: str
    instance: str
    instance_type: str
    address: str
    coverage: Coverage
    detail: str


@dataclass(frozen=True)
class AuditReport:
    vpc_id: str
    interfaces: tuple[InterfaceCoverage, ...]
    dead_target_sessions: tuple[tuple[str, str, str], ...]
    """(session id, interface id, the missing target's id)."""
    over_quota: tuple[str, ...]
    data_date: str = RETRIEVED

    @property
    def uncovered(self) -> list[InterfaceCoverage]:
        return [i for i in self.interfaces if i.coverage is Coverage.UNCOVERED]

    @property
    def exit_code(self) -> int:
        """0 when everything is covered and no session is broken, else 1."""
        return 1 if self.uncovered or self.dead_target_sessions or self.over_quota else 0


@dataclass
class _Facts:
    interfaces: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    targets: dict[str, dict[str, Any]]
    instance_types: dict[str, str] = field(default_factory=dict)


def _pages(ec2: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    pages = ec2.get_paginator(operation).paginate(**kwargs)
    return [item for page in pages for item in page.get(key, [])]


def _facts(ec2: Any, vpc_id: str) -> _Facts:
    interfaces = _pages(
        ec2,
        "describe_network_interfaces",
        "NetworkInterfaces",
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}],
    )
    ids = {i["NetworkInterfaceId"] for i in interfaces}
    sessions = [
        s
        for s in _pages(ec2, "describe_traffic_mirror_sessions", "TrafficMirrorSessions")
        if s["NetworkInterfaceId"] in ids
    ]
    targets = {
        t["TrafficMirrorTargetId"]: t
        for t in _pages(ec2, "describe_traffic_mirror_targets", "TrafficMirrorTargets")
    }
    instance_ids = sorted(
        {
            i["Attachment"]["InstanceId"]
            for i in interfaces
            if (i.get("Attachment") or {}).get("InstanceId")
        }
    )
    facts = _Facts(interfaces, sessions, targets)
    if instance_ids:
        reservations = _pages(
            ec2,
            "describe_instances",
            "Reservations",
            Filters=[{"Name": "instance-id", "Values": instance_ids}],
        )
        for reservation in reservations:
            for instance in reservation.get("Instances", []):
                facts.instance_types[instance["InstanceId"]] = instance["InstanceType"]
    return facts


def _owner(session: Mapping[str, Any]) -> str:
    tags = {t["Key"]: t["Value"] for t in session.get("Tags") or []}
    if tags.get(ENROLLED_BY_TAG):
        return f"enrolment function {tags.get(OWNER_TAG, '?')}"
    return str(tags.get("Name", "no Name tag"))


def audit_vpc(
    ec2: Any,
    vpc_id: str,
    *,
    gateway_networks: Sequence[ipaddress.IPv4Network] = (),
    mirrorable_instance_types: Collection[str] = (),
) -> AuditReport:
    """The coverage of every interface of ``vpc_id``. ``gateway_networks``: where the gateway
    mirror copies north-south traffic (a monitored VPC's private and monitor tiers, when its
    ``gateway_mirror`` is on); ``mirrorable_instance_types``: the mirror's override."""
    facts = _facts(ec2, vpc_id)
    target_interfaces = {
        t.get("NetworkInterfaceId"): target_id for target_id, t in facts.targets.items()
    }
    dead = tuple(
        (s["TrafficMirrorSessionId"], s["NetworkInterfaceId"], s["TrafficMirrorTargetId"])
        for s in facts.sessions
        if s["TrafficMirrorTargetId"] not in facts.targets
    )
    dead_ids = {d[0] for d in dead}
    over_quota = []
    per_interface: dict[str, list[dict[str, Any]]] = {}
    for session in facts.sessions:
        per_interface.setdefault(session["NetworkInterfaceId"], []).append(session)
    for source, sessions in sorted(per_interface.items()):
        if len(sessions) > SESSIONS_PER_INTERFACE:
            over_quota.append(f"{source}: {len(sessions)} sessions, AWS allows 3 per interface")
    for target_id, target in sorted(facts.targets.items()):
        count = sum(1 for s in facts.sessions if s["TrafficMirrorTargetId"] == target_id)
        if target.get("Type") == "network-interface" and count > SOURCES_PER_INTERFACE_TARGET:
            over_quota.append(
                f"{target_id}: {count} sources, an interface target takes "
                f"{SOURCES_PER_INTERFACE_TARGET} (100 on a family's largest size)"
            )
    rows = []
    for eni in sorted(facts.interfaces, key=lambda i: i["NetworkInterfaceId"]):
        eni_id = eni["NetworkInterfaceId"]
        instance_id = (eni.get("Attachment") or {}).get("InstanceId") or ""
        instance_type = facts.instance_types.get(instance_id, "")
        address = eni.get("PrivateIpAddress") or ""

        def row(
            coverage: Coverage,
            detail: str,
            *,
            _eni: str = eni_id,
            _instance: str = instance_id or "-",
            _type: str = instance_type or "-",
            _address: str = address or "-",
        ) -> InterfaceCoverage:
            return InterfaceCoverage(_eni, _instance, _type, _address, coverage, detail)

        sessions = per_interface.get(eni_id, [])
        live = [s for s in sessions if s["TrafficMirrorSessionId"] not in dead_ids]
        if eni_id in target_interfaces:
            rows.append(row(Coverage.TARGET, f"receives copies ({target_interfaces[eni_id]})"))
            continue
        if eni.get("InterfaceType", "interface") not in MIRRORABLE_INTERFACE_TYPES:
            rows.append(
                row(Coverage.NOT_A_SOURCE, f"AWS mirrors no {eni.get('InterfaceType')} interface")
            )
            continue
        if not instance_id:
            rows.append(row(Coverage.NOT_A_SOURCE, "attached to no instance"))
            continue
        if live:
            rows.append(
                row(
                    Coverage.NATIVE,
                    "; ".join(f"{s['TrafficMirrorSessionId']} ({_owner(s)})" for s in live),
                )
            )
            continue
        why = [
            f"session {s['TrafficMirrorSessionId']}'s target {s['TrafficMirrorTargetId']} is gone"
            for s in sessions
        ] or ["no mirror session"]
        if split_instance_type(instance_type) is not None:
            support = mirror_support(instance_type, mirrorable_instance_types)
            if not support.mirrorable:
                why.append(support.reason)
        in_gateway = address and any(
            ipaddress.IPv4Address(address) in network for network in gateway_networks
        )
        if in_gateway:
            rows.append(row(Coverage.GATEWAY, "north-south only; " + "; ".join(why)))
        else:
            rows.append(row(Coverage.UNCOVERED, "; ".join(why)))
    return AuditReport(vpc_id, tuple(rows), dead, tuple(over_quota))


COLUMNS = ("interface", "instance", "type", "address", "coverage", "detail")


def render_table(report: AuditReport) -> str:
    """The report as a plain-text table, then the broken sessions and the summary."""
    cells = [COLUMNS] + [
        (i.interface_id, i.instance, i.instance_type, i.address, i.coverage.value, i.detail)
        for i in report.interfaces
    ]
    widths = [max(len(row[c]) for row in cells) for c in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in cells
    ]
    for session, eni, target in report.dead_target_sessions:
        lines.append(f"target gone: {session} on {eni} sends to {target}, which does not exist")
    for problem in report.over_quota:
        lines.append(f"over quota: {problem}")
    counts = {c: sum(1 for i in report.interfaces if i.coverage is c) for c in Coverage}
    lines.append(
        f"{report.vpc_id}: {len(report.interfaces)} interfaces, "
        + ", ".join(f"{n} {c.value.lower()}" for c, n in counts.items())
        + f"; {len(report.dead_target_sessions)} sessions with no target, "
        f"{len(report.over_quota)} over quota (instance-type data of {report.data_date})"
    )
    return "\n".join(lines)
