"""Planning of the OpenStack ``MirrorSession``: its arguments checked, tunnel ids allocated, every
source's decision and preview reason made; registers nothing.

Pure Python: no pulumi-openstack and no openstacksdk, so the checks run (and are tested) without a
cloud. The one preview-time cloud call, the check of an existing monitor port
(:func:`components.openstack.discovery.check_monitor_port`), comes in as a parameter.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..errors import CloudtapInputError
from ..fields import is_deferred, parse_enum, reject_unknown_fields
from ..host_feeds import HostFeedsArgs
from ..mirror_args import session_fields
from ..mirror_host_feed import host_feed_given, plan_session_host_feeds
from ..mirror_plan import (
    MirrorInterface,
    MirrorSource,
    SourceDecision,
    decide,
    parse_method,
    parse_source_name,
)
from ..mirroring import MirrorMethod
from ..monitored_network import Cloud, MonitoredNetwork, NetworkDesign
from ..shapes import UUID_EXAMPLE
from .mirror_args import (
    MONITOR_PORT_FIELDS,
    SOURCE_FIELDS,
    TARGET_FIELDS,
    MirrorBackend,
)
from .taas_checks import (
    DEFAULT_FIRST_TUNNEL_ID,
    FlowDirection,
    MirrorDirection,
    MirrorType,
    TapMirrorPlan,
    allocate_tunnel_ids,
    parse_cloud,
    parse_flow_direction,
    parse_mirror_directions,
    parse_mirror_type,
    parse_remote_ip,
    parse_tunnel_id,
    parse_uuid,
    parse_vlan_filter,
    plan_tap_mirror,
)

MonitorPortCheck = Callable[[str | None, str], None]
"""Checks an existing monitor port at preview, ``(cloud, port_id)``: raises
:class:`~components.errors.CloudtapInputError` when Tap-as-a-Service could not use it."""
ExtensionLookup = Callable[[str | None], frozenset[str]]
"""The aliases of the cloud's Neutron extensions, ``(cloud)``, read at preview."""

TAP_MIRROR_EXTENSION: Final = "tap-mirror"
TAAS_EXTENSION: Final = "taas"
_BACKEND_EXTENSIONS: Final = {
    MirrorBackend.TAP_MIRROR: TAP_MIRROR_EXTENSION,
    MirrorBackend.TAP_SERVICE: TAAS_EXTENSION,
}

SOURCE_KIND: Final = "Neutron port"
"""What the preview line calls a source (where the AWS facade names the instance type)."""
DEFAULT_TAP_FLOW_QUOTA: Final = 10
"""Neutron's default ``quota_tap_flow`` (tap-as-a-service); more flows fail at ``up``."""


# Fields of the AWS facade a user may carry over, with why OpenStack has no such thing.
_NOT_ON_OPENSTACK: Final = {
    **dict.fromkeys(
        ("filter_presets", "health_check_cidrs", "health_check_port"),
        "no value: Tap-as-a-Service has no filter but the tap flows' vlan_filter (backend "
        "tap_service)",
    ),
    "virtual_network_id": "no value: tap mirrors carry GRE keys or ERSPAN session ids, "
    "allocated from first_tunnel_id",
    **dict.fromkeys(
        ("session_number", "packet_length", "existing_sessions_per_eni"),
        "no value: an AWS Traffic Mirroring setting with no Tap-as-a-Service counterpart",
    ),
    "tags": "no value: Tap-as-a-Service objects take no tags",
}
_MIRROR_DIRECTIONS: Final = {
    FlowDirection.IN: (MirrorDirection.IN,),
    FlowDirection.OUT: (MirrorDirection.OUT,),
    FlowDirection.BOTH: (MirrorDirection.IN, MirrorDirection.OUT),
}
_TYPE_TEXT: Final = {MirrorType.GRE: "GRE", MirrorType.ERSPAN_V1: "ERSPAN v1"}


@dataclass(frozen=True)
class MonitorPortPlan:
    """The monitor port cloudtap creates (``target.monitor_port``), checked."""

    network_id: Any
    subnet_id: Any | None
    fixed_ip: ipaddress.IPv4Address | None
    instance_id: Any | None


@dataclass(frozen=True)
class SourcePlan:
    """One source port, checked."""

    name: str
    port_id: Any
    """A plain UUID, or a deferred value checked by OpenStack."""
    direction: FlowDirection
    vlan_filter: str | None
    tap_mirror: TapMirrorPlan | None
    """``tap_mirror`` backend: the validated mirror; else ``None``."""


@dataclass(frozen=True)
class OpenStackMirrorPlan:
    """Everything the OpenStack MirrorSession builds from, checked."""

    backend: MirrorBackend | None
    """``None`` when the gateway copies every source (no Tap-as-a-Service object)."""
    sensor_ip: ipaddress.IPv4Address | None
    port_id: Any | None
    """``tap_service`` with an existing monitor port."""
    monitor_port: MonitorPortPlan | None
    """``tap_service`` with a monitor port to create."""
    mirror_type: MirrorType | None
    sources: tuple[SourcePlan, ...]
    decisions: tuple[SourceDecision, ...]
    cloud: str | None
    warnings: tuple[str, ...]
    gateway_sources: tuple[str, ...] = ()
    """Names of the sources the network's gateway mirror copies."""
    host_feeds: HostFeedsArgs | None = None
    """The ``HostFeeds`` arguments of the sources that copy themselves; ``None`` without."""


def plan_mirror_session(
    name: str,
    args: Any,
    check_monitor_port: MonitorPortCheck,
    list_extensions: ExtensionLookup | None = None,
) -> OpenStackMirrorPlan:
    """Validate ``MirrorSessionArgs``, allocate tunnel ids, check an existing monitor port.

    With ``network``, ``list_extensions`` reads the cloud's Neutron extensions at preview (unless
    ``method`` is ``gateway``), which decide ``auto`` and the default ``backend``."""
    raw = session_fields(args, Cloud.OPENSTACK, reasons=_NOT_ON_OPENSTACK)
    network = _parse_network(raw.get("network"))
    host_feeds = host_feed_given(raw)
    method = parse_method(
        raw.get("method", (MirrorMethod.AUTO if network else MirrorMethod.NATIVE).value),
        host_feeds=host_feeds,
    )
    if method is MirrorMethod.HOST:
        return _plan_host_only(raw, network, method, "method is host")
    if network is None and method is not MirrorMethod.NATIVE:
        raise CloudtapInputError(
            "method",
            raw.get("method"),
            "native without network: only the monitored network's gateway copies what "
            "Tap-as-a-Service cannot; pass network (MonitoredOpenStackNetwork) for auto or gateway",
        )
    cloud = raw.get("cloud")
    if cloud is not None:
        parse_cloud("cloud", cloud)
    backend, why = _choose_backend(raw, network, method, cloud, list_extensions)
    if backend is None:
        if host_feeds and (network is None or network.gateway_mirror is None):
            return _plan_host_only(raw, network, method, why)
        return _plan_gateway_only(raw, network, method, why)
    tap_mirror = backend is MirrorBackend.TAP_MIRROR
    for field in ("mirror_type", "first_tunnel_id") if not tap_mirror else ("vlan_filter",):
        if raw.get(field) is not None:
            raise CloudtapInputError(
                field,
                raw[field],
                f"no value with backend {backend.value}: only "
                f"{'tap_mirror' if not tap_mirror else 'tap_service'} uses it",
            )
    direction = parse_flow_direction("direction", raw.get("direction", FlowDirection.BOTH.value))
    vlan_filter = (
        parse_vlan_filter("vlan_filter", raw["vlan_filter"])
        if raw.get("vlan_filter") is not None
        else None
    )
    mirror_type = (
        parse_mirror_type("mirror_type", raw.get("mirror_type", MirrorType.GRE.value))
        if tap_mirror
        else None
    )
    first_id = (
        parse_tunnel_id(
            "first_tunnel_id", raw.get("first_tunnel_id", DEFAULT_FIRST_TUNNEL_ID), mirror_type
        )
        if mirror_type is not None
        else DEFAULT_FIRST_TUNNEL_ID
    )

    sensor_ip, port_id, monitor_port, own_sensor = _parse_target(
        raw.get("target"), backend, network
    )
    specs = _parse_sources(raw.get("sources"), backend, direction, vlan_filter)
    _check_no_loop(specs, port_id)

    sources = specs
    if mirror_type is not None:
        assert sensor_ip is not None
        ids = allocate_tunnel_ids(
            [spec.name for spec in specs],
            mirror_type,
            tuple(MirrorDirection),
            first_id,
            first_id_field="first_tunnel_id",
        )
        sources = [
            _with_tap_mirror(
                spec,
                component=name,
                where=f"sources[{index}]",
                sensor_ip=sensor_ip,
                mirror_type=mirror_type,
                slots=ids[spec.name],
            )
            for index, spec in enumerate(specs)
        ]

    warnings: list[str] = []
    if backend is MirrorBackend.TAP_SERVICE:
        if len(sources) > DEFAULT_TAP_FLOW_QUOTA:
            warnings.append(
                f"{len(sources)} tap flows: Neutron's default quota is {DEFAULT_TAP_FLOW_QUOTA} "
                "per project (quota_tap_flow); ask the operator for more before `pulumi up`"
            )
        if own_sensor:
            pass  # cloudtap's sensor creates its monitor port with port security off
        elif port_id is not None and is_deferred(port_id):
            warnings.append(
                "the monitor port is created by this program, so cloudtap cannot check it: "
                "Tap-as-a-Service needs its port security off (port_security_enabled=False, no "
                "security groups), or Neutron drops the copies"
            )
        elif port_id is not None:
            check_monitor_port(cloud, port_id)

    reason = _reason(
        backend, sensor_ip, port_id, monitor_port, mirror_type, why=why, own_sensor=own_sensor
    )
    decisions = tuple(
        decide(
            MirrorMethod.NATIVE,
            MirrorSource(
                name=source.name,
                instance_type=SOURCE_KIND,
                interfaces=(MirrorInterface(source.port_id, "1"),),
            ),
            True,
            reason(source),
        )
        for source in sources
    )
    return OpenStackMirrorPlan(
        backend=backend,
        sensor_ip=sensor_ip,
        port_id=port_id,
        monitor_port=monitor_port,
        mirror_type=mirror_type,
        sources=tuple(sources),
        decisions=decisions,
        cloud=cloud,
        warnings=tuple(warnings),
    )


def _parse_network(value: Any) -> NetworkDesign | None:
    if value is None:
        return None
    if not isinstance(value, MonitoredNetwork) or value.design.cloud is not Cloud.OPENSTACK:
        raise CloudtapInputError(
            "network", value, "the MonitoredOpenStackNetwork whose gateway mirrors the rest"
        )
    return value.design


def _choose_backend(
    raw: Mapping[str, Any],
    network: NetworkDesign | None,
    method: MirrorMethod,
    cloud: str | None,
    list_extensions: ExtensionLookup | None,
) -> tuple[MirrorBackend | None, str]:
    """(backend, why) for the native sources; ``None`` when the gateway copies them all."""
    given = _parse_backend(raw["backend"]) if raw.get("backend") is not None else None
    if method is MirrorMethod.GATEWAY:
        if given is not None:
            raise CloudtapInputError(
                "backend", given.value, "no value with method gateway: Tap-as-a-Service is unused"
            )
        return None, "method is gateway"
    if network is None or list_extensions is None:
        # Existing ports to an existing sensor: no lookup, the backend as given.
        return given or MirrorBackend.TAP_MIRROR, ""
    extensions = list_extensions(cloud)
    if given is not None:
        if _BACKEND_EXTENSIONS[given] not in extensions:
            raise CloudtapInputError(
                "backend",
                given.value,
                f"a backend the cloud has: its Neutron lists no '{_BACKEND_EXTENSIONS[given]}' "
                "extension (`openstack extension list --network`)"
                + (
                    "; or no value, to let method auto choose"
                    if method is MirrorMethod.AUTO
                    else ""
                ),
            )
        return given, f"Neutron has '{_BACKEND_EXTENSIONS[given]}'"
    for backend in (MirrorBackend.TAP_MIRROR, MirrorBackend.TAP_SERVICE):
        if _BACKEND_EXTENSIONS[backend] in extensions:
            return backend, f"Neutron has '{_BACKEND_EXTENSIONS[backend]}'"
    missing = (
        f"the cloud's Neutron has neither '{TAP_MIRROR_EXTENSION}' nor '{TAAS_EXTENSION}' "
        "(no Tap-as-a-Service)"
    )
    if method is MirrorMethod.NATIVE:
        raise CloudtapInputError(
            "method",
            method.value,
            f"auto or gateway: {missing}, so only the network's gateway can copy the sources",
        )
    return None, missing


def _plan_gateway_only(
    raw: Mapping[str, Any], network: NetworkDesign | None, method: MirrorMethod, why: str
) -> OpenStackMirrorPlan:
    """Every source copied by the gateway mirror: checked, nothing of Tap-as-a-Service."""
    assert network is not None
    mirror = network.gateway_mirror
    if mirror is None:
        raise CloudtapInputError(
            "network.gateway_mirror",
            None,
            f"the gateway mirror turned on ({{}} for the defaults): {why}, so the gateway copies "
            "the sources",
        )
    for field in ("mirror_type", "first_tunnel_id", "vlan_filter", "direction"):
        if raw.get(field) is not None:
            raise CloudtapInputError(
                field, raw[field], "no value: the gateway mirror copies both directions whole"
            )
    target = raw.get("target")
    if target is not None:
        _parse_target(target, None, network)
    specs = _parse_sources(raw.get("sources"), MirrorBackend.TAP_MIRROR, FlowDirection.BOTH, None)
    how = "tees" if mirror.mode.value == "tee" else "sends VXLAN copies of"
    reason = f"{why}: the gateway {how} it to the sensor {mirror.sensor_address}"
    decisions = tuple(
        SourceDecision(
            MirrorSource(
                name=spec.name,
                instance_type=SOURCE_KIND,
                interfaces=(MirrorInterface(spec.port_id, "1"),),
            ),
            MirrorMethod.GATEWAY,
            reason if method is not MirrorMethod.GATEWAY else f"method is gateway: {reason}",
        )
        for spec in specs
    )
    return OpenStackMirrorPlan(
        backend=None,
        sensor_ip=None,
        port_id=None,
        monitor_port=None,
        mirror_type=None,
        sources=tuple(specs),
        decisions=decisions,
        cloud=raw.get("cloud"),
        warnings=(),
        gateway_sources=tuple(spec.name for spec in specs),
    )


def _plan_host_only(
    raw: Mapping[str, Any], network: NetworkDesign | None, method: MirrorMethod, why: str
) -> OpenStackMirrorPlan:
    """Every source copies itself (``host``, or ``auto`` with neither Tap-as-a-Service nor a
    gateway mirror): checked, nothing of Tap-as-a-Service."""
    for field in ("backend", "mirror_type", "first_tunnel_id", "vlan_filter", "direction"):
        if raw.get(field) is not None:
            raise CloudtapInputError(
                field, raw[field], f"no value: {why}, so each source copies itself (host feeds)"
            )
    sensor_ip = None
    if raw.get("target") is not None:
        sensor_ip, _, _, _ = _parse_target(raw["target"], MirrorBackend.TAP_MIRROR, network)
    specs = _parse_sources(raw.get("sources"), MirrorBackend.TAP_MIRROR, FlowDirection.BOTH, None)
    decisions = tuple(
        decide(
            method,
            MirrorSource(
                name=spec.name,
                instance_type=SOURCE_KIND,
                interfaces=(MirrorInterface(spec.port_id, "1"),),
            ),
            False,
            why,
            gateway_sees=False,
        )
        for spec in specs
    )
    host_args = plan_session_host_feeds(
        raw, decisions, str(sensor_ip) if sensor_ip is not None else None, security_groups=False
    )
    return OpenStackMirrorPlan(
        backend=None,
        sensor_ip=sensor_ip,
        port_id=None,
        monitor_port=None,
        mirror_type=None,
        sources=tuple(specs),
        decisions=decisions,
        cloud=raw.get("cloud"),
        warnings=(),
        host_feeds=host_args,
    )


def _parse_backend(value: Any) -> MirrorBackend:
    return parse_enum("backend", value, MirrorBackend)


def _mapping(field: str, value: Any, example: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CloudtapInputError(field, value, f"a mapping such as {example}")
    return value


def _uuid_or_deferred(field: str, value: Any, what: str) -> Any:
    return value if is_deferred(value) else parse_uuid(field, value, what)


def _parse_target(
    value: Any, backend: MirrorBackend | None, network: NetworkDesign | None
) -> tuple[ipaddress.IPv4Address | None, Any | None, MonitorPortPlan | None, bool]:
    """(sensor_ip, monitor port id, monitor port to create, whether the target is cloudtap's
    own sensor): the backend's one field, or ``sensor``."""
    if backend is None:
        wanted: tuple[str, ...] = ("sensor",)
        hint = "sensor (the network's gateway mirror copies to it)"
    elif backend is MirrorBackend.TAP_MIRROR:
        wanted = ("sensor_ip", "sensor")
        hint = "sensor_ip (the sensor's IPv4 address: tap mirrors tunnel the copies to it)"
    else:
        wanted = ("port_id", "monitor_port", "sensor")
        hint = (
            "port_id (the sensor's existing monitor port) or monitor_port (cloudtap creates "
            "it, port security off)"
        )
    if network is not None and backend is not None:
        hint += ", or sensor (a cloudtap sensor on the network)"
    if value is None:
        raise CloudtapInputError("target", None, f"a mapping with {hint}: mirroring needs a target")
    target = _mapping("target", value, "{sensor_ip: 10.0.128.10}")
    reject_unknown_fields(target, TARGET_FIELDS, "target")
    given = [field for field in TARGET_FIELDS if target.get(field) is not None]
    if len(given) != 1 or given[0] not in wanted:
        with_what = f"backend {backend.value}" if backend is not None else "the gateway mirror"
        raise CloudtapInputError("target", dict(target), f"with {with_what}, exactly one of {hint}")
    field = given[0]
    if field == "sensor":
        return (*_sensor_target(target[field], backend, network), None, True)
    if field == "sensor_ip":
        return parse_remote_ip("target.sensor_ip", target[field]), None, None, False
    if field == "port_id":
        return (
            None,
            _uuid_or_deferred("target.port_id", target[field], "the monitor port's Neutron id"),
            None,
            False,
        )
    return None, None, _parse_monitor_port(target[field]), False


def _sensor_target(
    sensor: Any, backend: MirrorBackend | None, network: NetworkDesign | None
) -> tuple[ipaddress.IPv4Address | None, Any | None]:
    """(sensor_ip, monitor port id) of a cloudtap sensor (or its plan) on ``network``."""
    where = "target.sensor"
    own = getattr(sensor, "network", None)
    if network is None or not isinstance(own, MonitoredNetwork) or own.design != network:
        raise CloudtapInputError(
            where,
            type(sensor).__name__,
            "an OpenStackSensor on the session's network (pass network too)",
        )
    address = ipaddress.IPv4Address(str(sensor.private_ip))
    mirror = network.gateway_mirror
    if backend is None and mirror is not None and mirror.sensor_address != address:
        raise CloudtapInputError(
            where,
            str(address),
            f"the sensor the gateway mirror copies to ({mirror.sensor_address})",
        )
    if backend is MirrorBackend.TAP_SERVICE:
        # A planned sensor has no port yet: the session builds it from the sensor itself.
        return None, getattr(sensor, "monitor_port_id", None) or _PLANNED_PORT
    return address, None


_PLANNED_PORT: Final = "(the sensor's monitor port)"
"""A monitor port that exists only once the sensor is built (a program planned before build)."""


def _parse_monitor_port(value: Any) -> MonitorPortPlan:
    where = "target.monitor_port"
    raw = _mapping(where, value, f"{{network_id: {UUID_EXAMPLE}}}")
    reject_unknown_fields(raw, MONITOR_PORT_FIELDS, where)
    if raw.get("network_id") is None:
        raise CloudtapInputError(
            f"{where}.network_id", None, "the Neutron network of the sensor's monitor port"
        )
    network_id = _uuid_or_deferred(f"{where}.network_id", raw["network_id"], "a network id")
    subnet_id = raw.get("subnet_id")
    if subnet_id is not None:
        subnet_id = _uuid_or_deferred(f"{where}.subnet_id", subnet_id, "a subnet id")
    fixed_ip = None
    if raw.get("fixed_ip") is not None:
        if subnet_id is None:
            raise CloudtapInputError(
                f"{where}.fixed_ip",
                raw["fixed_ip"],
                "no value without subnet_id: an address is given in a subnet",
            )
        fixed_ip = parse_remote_ip(f"{where}.fixed_ip", raw["fixed_ip"])
    instance_id = raw.get("instance_id")
    if instance_id is not None:
        instance_id = _uuid_or_deferred(
            f"{where}.instance_id", instance_id, "the sensor's Nova server id"
        )
    return MonitorPortPlan(network_id, subnet_id, fixed_ip, instance_id)


def _parse_sources(
    value: Any,
    backend: MirrorBackend,
    direction: FlowDirection,
    vlan_filter: str | None,
) -> list[SourcePlan]:
    if value is None or (isinstance(value, Sequence) and not isinstance(value, str) and not value):
        raise CloudtapInputError(
            "sources",
            value,
            "at least one source ({port_id: <Neutron port id>}): mirroring needs something to copy",
        )
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise CloudtapInputError("sources", value, "a list of source mappings")
    sources: list[SourcePlan] = []
    names: dict[str, int] = {}
    ports: dict[str, int] = {}
    for index, item in enumerate(value):
        where = f"sources[{index}]"
        raw = _mapping(where, item, f"{{name: web-1, port_id: {UUID_EXAMPLE}}}")
        reject_unknown_fields(raw, SOURCE_FIELDS, where)
        if raw.get("port_id") is None:
            raise CloudtapInputError(
                f"{where}.port_id", None, "the Neutron id of the port whose packets are copied"
            )
        port = _uuid_or_deferred(f"{where}.port_id", raw["port_id"], "the source port's Neutron id")
        name = raw.get("name")
        if name is None and is_deferred(port):
            raise CloudtapInputError(
                f"{where}.name",
                None,
                "a stable name: the port id is only known after deployment",
            )
        name = parse_source_name(f"{where}.name", name if name is not None else port)
        if name in names:
            raise CloudtapInputError(
                f"{where}.name",
                name,
                f"a name not already used by sources[{names[name]}]: names key the child "
                "resources and the tunnel ids",
            )
        names[name] = index
        if isinstance(port, str):
            key = port.lower()
            if key in ports:
                raise CloudtapInputError(
                    f"{where}.port_id",
                    port,
                    f"a port not already listed (sources[{ports[key]}] names it): its packets "
                    "would be copied twice",
                )
            ports[key] = index
        own_direction = (
            parse_flow_direction(f"{where}.direction", raw["direction"])
            if raw.get("direction") is not None
            else direction
        )
        own_filter = vlan_filter
        if raw.get("vlan_filter") is not None:
            if backend is not MirrorBackend.TAP_SERVICE:
                raise CloudtapInputError(
                    f"{where}.vlan_filter",
                    raw["vlan_filter"],
                    f"no value with backend {backend.value}: only tap flows (backend "
                    "tap_service) filter VLANs",
                )
            own_filter = parse_vlan_filter(f"{where}.vlan_filter", raw["vlan_filter"])
        sources.append(SourcePlan(name, port, own_direction, own_filter, None))
    return sources


def _check_no_loop(sources: Sequence[SourcePlan], monitor_port_id: Any) -> None:
    if not isinstance(monitor_port_id, str):
        return
    for index, source in enumerate(sources):
        if isinstance(source.port_id, str) and source.port_id.lower() == monitor_port_id.lower():
            raise CloudtapInputError(
                f"sources[{index}].port_id",
                source.port_id,
                "a port other than the monitor port (target.port_id): the sensor would copy its "
                "own copies (a loop)",
            )


def _with_tap_mirror(
    source: SourcePlan,
    *,
    component: str,
    where: str,
    sensor_ip: ipaddress.IPv4Address,
    mirror_type: MirrorType,
    slots: Mapping[MirrorDirection, int],
) -> SourcePlan:
    """The source with its tap mirror: the allocated ids of the directions it copies."""
    directions = {d.value: slots[d] for d in _MIRROR_DIRECTIONS[source.direction]}
    child_name = f"{component}-{source.name}"
    description = f"cloudtap {component}: copies of {source.name} to the sensor {sensor_ip}"
    if isinstance(source.port_id, str):
        mirror = plan_tap_mirror(
            {
                "port_id": source.port_id,
                "remote_ip": str(sensor_ip),
                "mirror_type": mirror_type.value,
                "directions": directions,
                "name": child_name,
                "description": description,
            },
            where,
        )
    else:
        # A port created by the same program: everything but its id is checked here.
        mirror = TapMirrorPlan(
            port_id=source.port_id,
            remote_ip=sensor_ip,
            mirror_type=mirror_type,
            directions=parse_mirror_directions(f"{where}.directions", directions, mirror_type),
            name=child_name,
            description=description,
        )
    return SourcePlan(source.name, source.port_id, source.direction, None, mirror)


def _reason(
    backend: MirrorBackend,
    sensor_ip: ipaddress.IPv4Address | None,
    port_id: Any | None,
    monitor_port: MonitorPortPlan | None,
    mirror_type: MirrorType | None,
    *,
    why: str = "",
    own_sensor: bool = False,
) -> Callable[[SourcePlan], str]:
    """The preview's "why" for a source: what copies it, to where (and, with a network, why
    Tap-as-a-Service)."""
    lead = f"{why}: " if why else ""

    def tap_mirror(source: SourcePlan) -> str:
        assert source.tap_mirror is not None and mirror_type is not None
        ids = ", ".join(f"{d.value} {i}" for d, i in source.tap_mirror.directions.items())
        return (
            f"{lead}Tap-as-a-Service tap mirror to {sensor_ip} over {_TYPE_TEXT[mirror_type]}, "
            f"tunnel ids {ids}"
        )

    if monitor_port is not None:
        network = monitor_port.network_id
        where = (
            f"the monitor port cloudtap creates in network {network}"
            if isinstance(network, str)
            else "the monitor port cloudtap creates"
        )
    elif own_sensor:
        where = "the sensor's monitor port"
    else:
        where = f"monitor port {port_id}" if isinstance(port_id, str) else "the monitor port"

    def tap_flow(source: SourcePlan) -> str:
        text = (
            f"{lead}Tap-as-a-Service tap flow ({source.direction.value}) to the tap service on "
            f"{where}"
        )
        if source.vlan_filter is not None:
            text += f", VLANs {source.vlan_filter} only"
        return text

    return tap_mirror if backend is MirrorBackend.TAP_MIRROR else tap_flow
