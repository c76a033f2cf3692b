"""``MirrorSession`` on OpenStack: Neutron ports' packets copied to a sensor by Tap-as-a-Service.

The same facade as :class:`components.aws.mirror_session.MirrorSession` — a ``target``, a list of
``sources`` with stable ``name`` keys, a ``method`` — with two backends (:class:`MirrorBackend`):

- ``tap_mirror`` (default): one ``pulumi_openstack.TaasTapMirrorV2`` per source port, named
  ``f"{name}-{source name}"``, tunnelling the copies over GRE or ERSPAN v1 to ``target.sensor_ip``
  (the AWS facade's per-interface session; the sensor decapsulates them, see
  :mod:`components.sensor`). Each direction is its own tunnel with its own id, allocated by
  :func:`~components.openstack.taas_checks.allocate_tunnel_ids`: source ``i`` owns
  ``first_tunnel_id + 2i`` (IN) and ``+ 2i + 1`` (OUT), so appending a source never renumbers
  another.
- ``tap_service``: classic TaaS. One :class:`~components.openstack.taas_provider.TapService`
  ``f"{name}-service"`` on the sensor's *monitor port* (the AWS facade's target) and one
  :class:`~components.openstack.taas_provider.TapFlow` ``f"{name}-{source name}"`` per source
  port. Copies arrive unencapsulated on the monitor port: the IDS watches that interface. The
  flows take the service's id, so Pulumi creates them after it and deletes them before it. TaaS
  needs the monitor port's port security off: cloudtap creates such a port (``target.monitor_port``)
  or checks an existing one (``target.port_id``) at preview, with one Neutron call.

With ``network`` (a :class:`~components.openstack.monitored_network.MonitoredOpenStackNetwork`),
``method`` ``auto`` reads the cloud's Neutron extensions at preview and copies each source by tap
mirror (``tap-mirror``), else tap service and flow (``taas``), else by the network's gateway
mirror, which needs no object here (the gateway already copies everything it forwards). Without a
network, ``method`` is ``native`` only. TaaS has no filter but a tap flow's ``vlan_filter``; the AWS
facade's filter and session settings are refused by name.

Every check runs before the first registration (:mod:`.mirror_planning`, with the monitor port's
lookup from :mod:`.discovery`); errors name the field, the value and what is expected. The preview
prints one line per source, like the AWS facade's. This module builds the resources.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Final

import pulumi

from .. import mirror_session
from ..mirror_plan import SourceDecision, preview_line
from ..mirroring import Encapsulation, MirrorMethod
from ..monitored_network import Cloud
from .discovery import check_monitor_port, list_extensions
from .mirror_args import MirrorBackend, MirrorSessionArgs
from .mirror_planning import OpenStackMirrorPlan, plan_mirror_session
from .taas_checks import MirrorDirection, MirrorType, TapMirrorPlan
from .taas_provider import (
    ConnectFn,
    TapFlow,
    TapFlowArgs,
    TapService,
    TapServiceArgs,
    connect_from_config,
)

with warnings.catch_warnings():
    # Importing pulumi-openstack warns about its own deprecated resource modules (BGP VPN, LBaaS,
    # FWaaS...), none of which cloudtap uses: noise in every test run and in `-W default` runs.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pulumi_openstack import (
        TaasTapMirrorV2,
        TaasTapMirrorV2DirectionsArgsDict,
        compute,
        networking,
    )

TYPE_TOKEN: Final = "cloudtap:openstack:MirrorSession"
HOST: Final = MirrorMethod.HOST

_ENCAPSULATIONS: Final = {
    MirrorType.GRE: Encapsulation.GRE,
    MirrorType.ERSPAN_V1: Encapsulation.ERSPAN,
}


class OpenStackMirrorSession(mirror_session.MirrorSession):
    """Copies of every source port's packets, by OpenStack Tap-as-a-Service, to one sensor.

    Children: ``tap_mirror``: one ``TaasTapMirrorV2`` ``{name}-{source}`` per source.
    ``tap_service``: ``{name}-monitor-port`` (and ``{name}-monitor-port-attach``) when cloudtap
    creates the monitor port, the tap service ``{name}-service``, and one tap flow
    ``{name}-{source}`` per source.
    """

    backend: MirrorBackend | None
    """``None`` when the network's gateway copies every source."""
    decisions: tuple[SourceDecision, ...]
    """Per source, in order: native or gateway, with the reason the preview prints."""
    encapsulation: Encapsulation | None
    """How copies reach the sensor: GRE or ERSPAN (``tap_mirror``); ``None`` for a tap service,
    which delivers plain frames to the monitor port."""
    tap_mirrors: dict[str, TaasTapMirrorV2]
    """Child name -> tap mirror (``tap_mirror``); else empty."""
    tunnel_ids: dict[str, dict[str, int]]
    """Source name -> ``{"IN": id, "OUT": id}`` (the directions it copies; ``tap_mirror``)."""
    monitor_port: networking.Port | None
    """The monitor port cloudtap created (``target.monitor_port``); else ``None``."""
    monitor_port_attachment: compute.InterfaceAttach | None
    monitor_port_id: pulumi.Output[str] | None
    """The tap service's port (``tap_service``); else ``None``."""
    tap_service: TapService | None
    tap_flows: dict[str, TapFlow]
    """Child name -> tap flow (``tap_service``); else empty."""
    sessions: dict[str, pulumi.CustomResource]
    """Child name -> the per-source resource (tap mirror or tap flow): what comes and goes."""
    native_sources: list[str]
    gateway_sources: list[str]
    """Names of the sources the network's gateway mirror copies (``method`` auto on a cloud
    without Tap-as-a-Service, or gateway)."""

    def __init__(
        self,
        name: str,
        args: MirrorSessionArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        connect: ConnectFn | None = None,
        cloud: str | None = None,
    ) -> None:
        """``connect``: opens the connection for the preview-time check of an existing monitor
        port (default: clouds.yaml entry ``cloud``, else ``OS_*``). The tap service and flows'
        provider always connects that default way: it is pickled into the stack's state and run
        by the engine later."""
        mirror_session.check_backend_cloud(cloud, Cloud.OPENSTACK)
        # Every check (and the monitor port's lookup) before the first registration.
        planned = plan_openstack_mirror_session(name, args, connect)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.backend = planned.backend
        self.decisions = planned.decisions
        self.encapsulation = (
            _ENCAPSULATIONS[planned.mirror_type] if planned.mirror_type is not None else None
        )
        self.native_sources = [
            d.source.name for d in planned.decisions if d.method is MirrorMethod.NATIVE
        ]
        self.gateway_sources = list(planned.gateway_sources)
        for decision in planned.decisions:
            pulumi.log.info(preview_line(decision), resource=self)
        for warning in planned.warnings:
            pulumi.log.warn(warning, resource=self)

        self.tap_mirrors = {}
        self.tunnel_ids = {}
        self.monitor_port = None
        self.monitor_port_attachment = None
        self.monitor_port_id = None
        self.tap_service = None
        self.tap_flows = {}
        if planned.backend is MirrorBackend.TAP_MIRROR:
            self._build_tap_mirrors(name, planned)
        elif planned.backend is MirrorBackend.TAP_SERVICE:
            self._build_tap_service(name, planned)
        # backend None: the network's gateway copies every source, or each copies itself.
        self.sessions = {**self.tap_mirrors, **self.tap_flows}
        self.host_sources = [d.source.name for d in planned.decisions if d.method is HOST]
        self.host_feeds = None
        if planned.host_feeds is not None:
            self.host_feeds = mirror_session.build_host_feeds(name, planned.host_feeds, self)
        self._register_results(
            {
                "backend": (
                    planned.backend.value
                    if planned.backend is not None
                    else "host"
                    if self.host_feeds is not None
                    else "gateway"
                ),
                "tunnel_ids": self.tunnel_ids,
                "tap_service_id": self.tap_service.id if self.tap_service is not None else None,
                "monitor_port_id": self.monitor_port_id,
                **self._host_feed_outputs(),
            }
        )

    def _build_tap_mirrors(self, name: str, planned: OpenStackMirrorPlan) -> None:
        child = pulumi.ResourceOptions(parent=self)
        for source in planned.sources:
            mirror = source.tap_mirror
            assert mirror is not None
            child_name = f"{name}-{source.name}"
            self.tunnel_ids[source.name] = {d.value: i for d, i in mirror.directions.items()}
            self.tap_mirrors[child_name] = TaasTapMirrorV2(
                child_name,
                name=child_name,
                description=mirror.description,
                port_id=mirror.port_id,
                remote_ip=str(mirror.remote_ip),
                mirror_type=mirror.mirror_type.value,
                directions=_directions_args(mirror),
                opts=child,
            )

    def _build_tap_service(self, name: str, planned: OpenStackMirrorPlan) -> None:
        child = pulumi.ResourceOptions(parent=self)
        port_id: pulumi.Input[str]
        depends_on: list[pulumi.Resource] = []
        wanted = planned.monitor_port
        if wanted is not None:
            port_name = f"{name}-monitor-port"
            self.monitor_port = networking.Port(
                port_name,
                name=port_name,
                description=f"cloudtap {name}: the sensor's monitor port (Tap-as-a-Service)",
                network_id=wanted.network_id,
                fixed_ips=(
                    [
                        networking.PortFixedIpArgsDict(
                            subnet_id=wanted.subnet_id,
                            ip_address=str(wanted.fixed_ip) if wanted.fixed_ip else None,
                        )
                    ]
                    if wanted.subnet_id is not None
                    else None
                ),
                admin_state_up=True,
                # TaaS delivers copies addressed to other machines: port security would drop them.
                port_security_enabled=False,
                no_security_groups=True,
                opts=child,
            )
            port_id = self.monitor_port.id
            if wanted.instance_id is not None:
                self.monitor_port_attachment = compute.InterfaceAttach(
                    f"{port_name}-attach",
                    instance_id=wanted.instance_id,
                    port_id=port_id,
                    opts=child,
                )
                # The service is set up on a bound port, and removed before the port is detached.
                depends_on.append(self.monitor_port_attachment)
        else:
            assert planned.port_id is not None
            port_id = planned.port_id
        self.monitor_port_id = pulumi.Output.from_input(port_id)
        service_name = f"{name}-service"
        service: TapServiceArgs = {
            "port_id": port_id,
            "name": service_name,
            "description": f"cloudtap {name}: copies to the sensor's monitor port",
        }
        if planned.cloud is not None:
            service["cloud"] = planned.cloud
        self.tap_service = TapService(
            service_name, service, pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        )
        for source in planned.sources:
            child_name = f"{name}-{source.name}"
            flow: TapFlowArgs = {
                # The service's Output: flows are created after it and deleted before it.
                "tap_service_id": self.tap_service.id,
                "source_port": source.port_id,
                "direction": source.direction.value,
                "name": child_name,
                "description": f"cloudtap {name}: copies of {source.name} ({source.direction})",
            }
            if source.vlan_filter is not None:
                flow["vlan_filter"] = source.vlan_filter
            if planned.cloud is not None:
                flow["cloud"] = planned.cloud
            self.tap_flows[child_name] = TapFlow(child_name, flow, child)


def plan_openstack_mirror_session(
    name: str, args: MirrorSessionArgs | Any, connect: ConnectFn | None = None
) -> OpenStackMirrorPlan:
    """Every check of the session (and its preview-time lookups: an existing monitor port, the
    cloud's extensions with a network) through ``connect`` (default: clouds.yaml / ``OS_*``);
    registers nothing."""
    opener = connect if connect is not None else connect_from_config
    return plan_mirror_session(
        name,
        args,
        functools.partial(check_monitor_port, opener),
        functools.partial(list_extensions, opener),
    )


def _directions_args(mirror: TapMirrorPlan) -> TaasTapMirrorV2DirectionsArgsDict:
    """The tap mirror's ``directions`` block (its Python keys are ``in_`` and ``out``)."""
    block: TaasTapMirrorV2DirectionsArgsDict = {}
    if MirrorDirection.IN in mirror.directions:
        block["in_"] = mirror.directions[MirrorDirection.IN]
    if MirrorDirection.OUT in mirror.directions:
        block["out"] = mirror.directions[MirrorDirection.OUT]
    return block


MirrorSession = OpenStackMirrorSession
"""This class's name before every cloud shared :class:`components.MirrorSession`: programs that
import it from here keep working."""
