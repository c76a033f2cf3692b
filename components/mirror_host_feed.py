"""The ``host`` method of every cloud's mirror session: the sources that copy themselves.

A session's ``host_feed`` field holds what the stack's :class:`~components.host_feeds.HostFeeds`
needs apart from the hosts; the hosts are the sources decided ``host`` (given so, or chosen by
``auto`` for a source the cloud cannot mirror and no gateway sees). Pure planning here (no cloud
SDK); the session builds the ``HostFeeds`` child from :func:`plan_session_host_feeds`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from .errors import CloudtapInputError
from .fields import reject_unknown_fields
from .host_feed import HostFeedArgs
from .host_feeds import HostFeedsArgs, plan_host_feeds
from .mirror_plan import MirrorSource, SourceDecision, copied_by_gateway
from .mirroring import MirrorMethod
from .network_plan import NetworkPlan

FIELD = "host_feed"


class MirrorHostFeedArgs(TypedDict, total=False):
    """A mirror session's host feeds: every source decided ``host`` gets ``host`` as its feed."""

    sensor_address: str
    """The sensor's address as the hosts reach it. Default: the target sensor's address."""
    sensor_names: Sequence[str]
    """DNS names the sensor's certificate carries besides its address. Default: none."""
    host: HostFeedArgs
    """Every host-fed source's feed (without ``sensor_address``). Default: ``vxlan``."""
    host_cidrs: Sequence[str]
    """With ``host.transport: tls``: the networks the hosts connect from, the only sources the
    listener (and, on AWS, the sensor's security group) admits."""
    port: int
    """The listener's TCP port. Default 3005."""
    capture_interface: str
    """The sensor's capture interface. Default ``cloudtap0``."""
    aws_host_roles: Mapping[str, str]
    """AWS: source name -> its instance's IAM role; that ``tls`` source's key goes to an SSM
    SecureString only the role reads, not in its part (see ``HostFeedsArgs``). Refused on other
    clouds. Default: none."""
    sensor_security_group_id: str
    """AWS: the sensor's security group, given the listener's rules as separate resources (not
    a cloudtap Sensor's, whose rules are inline). Default: none; the preview says the rule
    (``host_feeds.firewall_rule``). Refused on other clouds."""


FIELDS = frozenset(MirrorHostFeedArgs.__annotations__)


def host_feed_given(raw: Mapping[str, Any]) -> bool:
    """Whether the session wires host feeds: its ``host_feed`` field is a mapping."""
    value = raw.get(FIELD)
    if value is None:
        return False
    if not isinstance(value, Mapping):
        raise CloudtapInputError(FIELD, value, "a mapping of host feed settings, e.g. {}")
    reject_unknown_fields(value, FIELDS, FIELD)
    return True


def gateway_sees(source: MirrorSource, plan: NetworkPlan | None, host_feeds: bool) -> bool:
    """Whether a gateway copies ``source``. Without host feeds wired the answer is taken to be
    yes, so ``auto`` keeps falling back to the gateway (whose checks name what is missing)."""
    if not host_feeds:
        return True
    return all(copied_by_gateway(interface, plan) for interface in source.interfaces)


def host_sources(decisions: Sequence[SourceDecision]) -> list[str]:
    return [d.source.name for d in decisions if d.method is MirrorMethod.HOST]


def plan_session_host_feeds(
    raw: Mapping[str, Any],
    decisions: Sequence[SourceDecision],
    default_sensor_address: str | None = None,
    *,
    security_groups: bool = True,
) -> HostFeedsArgs | None:
    """The ``HostFeeds`` arguments for the host-fed sources, checked; ``None`` without any.

    Errors name the field from ``host_feed`` down (``host_feed.host.exclude_ports[0]``).
    ``security_groups`` false: a cloud whose sensor firewall HostFeeds does not write (the
    session says the rule in words instead)."""
    names = host_sources(decisions)
    if not names:
        return None
    settings = raw.get(FIELD)
    if not host_feed_given(raw):
        raise CloudtapInputError(
            FIELD, None, f"the host feed settings for {', '.join(names)}, decided host (e.g. {{}})"
        )
    assert isinstance(settings, Mapping)
    for aws_only in ("sensor_security_group_id", "aws_host_roles"):
        if not security_groups and aws_only in settings:
            raise CloudtapInputError(
                f"{FIELD}.{aws_only}",
                settings[aws_only],
                "no value: AWS only (IAM, security groups)",
            )
    host = settings.get("host", {})
    args: dict[str, Any] = {k: v for k, v in settings.items() if k != "host"}
    args["hosts"] = {name: host for name in names}
    if "sensor_address" not in args:
        if default_sensor_address is None:
            raise CloudtapInputError(
                f"{FIELD}.sensor_address",
                None,
                "the sensor's IPv4 address as the hosts reach it (the target names no sensor)",
            )
        args["sensor_address"] = default_sensor_address
    try:
        plan_host_feeds(args)
    except CloudtapInputError as error:
        field = error.field
        # Every host has the same feed: name the one field it came from.
        for name in sorted(names, key=len, reverse=True):
            if field == f"hosts.{name}" or field.startswith(f"hosts.{name}."):
                field = "host" + field[len(f"hosts.{name}") :]
                break
        error.refield(f"{FIELD}.{field}" if field else FIELD)
        raise
    return args  # type: ignore[return-value]
