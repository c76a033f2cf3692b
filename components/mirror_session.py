"""``MirrorSession``: copies of workload packets to a sensor, on whichever cloud the network is.

One class for every cloud. ``MirrorSession(name, args)`` builds the backend of the cloud that
``args["network"]`` lives on — AWS Traffic Mirroring and the gateway mirror, Azure virtual
network TAP, OpenStack Tap-as-a-Service — or of the cloud named by ``cloud=`` when there is no
cloudtap network (existing interfaces mirrored to an existing sensor). Every backend is a
subclass with its own type token, so stacks made with a backend's own class keep their URNs:

- :class:`components.aws.mirror_session.AwsMirrorSession` (``cloudtap:aws:MirrorSession``)
- :class:`components.azure.mirror_session.AzureMirrorSession` (``cloudtap:azure:MirrorSession``)
- :class:`components.openstack.mirror_session.OpenStackMirrorSession`
  (``cloudtap:openstack:MirrorSession``)

They share the argument core (``network``, ``target``, ``sources``, ``method``) and one result
shape (below); each refuses the other clouds' fields by name
(:func:`~components.mirror_args.reject_fields_of_other_clouds`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Self

import pulumi

from .errors import CloudtapInputError
from .host_feeds import HostFeeds, HostFeedsArgs
from .mirror_args import parse_cloud
from .mirror_plan import SourceDecision
from .monitored_network import Cloud, MonitoredNetwork

BACKENDS: Mapping[Cloud, tuple[str, str]] = {
    Cloud.AWS: ("components.aws.mirror_session", "AwsMirrorSession"),
    Cloud.AZURE: ("components.azure.mirror_session", "AzureMirrorSession"),
    Cloud.OPENSTACK: ("components.openstack.mirror_session", "OpenStackMirrorSession"),
}
"""Cloud -> (module, class) of its backend, imported only when used: each loads its cloud's SDK."""


def choose_cloud(args: Any, cloud: Any = None) -> Cloud:
    """Whose mirroring a session uses: ``cloud`` when given, else that of ``args["network"]``
    (or of the target sensor's network), else AWS."""
    raw: Mapping[str, Any] = args if isinstance(args, Mapping) else {}
    chosen = parse_cloud("cloud", cloud) if cloud is not None else None
    network = raw.get("network")
    if network is None:
        target = raw.get("target")
        sensor = target.get("sensor") if isinstance(target, Mapping) else None
        network = getattr(sensor, "network", None)
    if isinstance(network, MonitoredNetwork):
        if chosen is not None and chosen is not network.design.cloud:
            raise CloudtapInputError(
                "cloud",
                chosen.value,
                f"no value, or {network.design.cloud.value}: the network is on "
                f"{network.design.cloud.value}",
            )
        return network.design.cloud
    return chosen if chosen is not None else Cloud.AWS


def backend_class(cloud: Cloud) -> type[MirrorSession]:
    module, name = BACKENDS[cloud]
    found: type[MirrorSession] = getattr(importlib.import_module(module), name)
    return found


class MirrorSession(pulumi.ComponentResource):
    """Copies of every source's packets to one target, by the cloud's mirroring or the gateway.

    ``MirrorSession(name, args, opts, cloud=None)``: ``args`` are the backend's
    ``MirrorSessionArgs`` (see each backend); ``cloud`` (``"aws"``, ``"azure"`` or
    ``"openstack"``) picks the backend when ``args`` has no ``network`` to tell. The object
    built is the backend's class, a subclass of this one.
    """

    decisions: tuple[SourceDecision, ...]
    """Per source, in order: which way it is copied (native or gateway) and why; the preview
    prints one line each."""
    sessions: Mapping[str, pulumi.CustomResource]
    """Child name -> what copies one source interface (an AWS session, an Azure TAP
    configuration, an OpenStack tap mirror or flow)."""
    native_sources: list[str]
    """Names of the sources the cloud's own mirroring copies."""
    gateway_sources: list[str]
    """Names of the sources the network's gateway copies."""
    host_sources: list[str]
    """Names of the sources that copy their own traffic (method ``host``)."""
    host_feeds: HostFeeds | None
    """With host-fed sources: the ``{name}-host-feeds`` child, whose ``user_data_parts`` (by
    source name) go in those hosts' user data and whose ``listener_files`` (``tls``) go to the
    sensor; ``None`` without."""
    cloud_outputs: Mapping[str, Any]
    """What only this cloud's session has (AWS: ``target_id``, ``filter_ids``; Azure:
    ``tap_id``; OpenStack: ``backend``, ``tunnel_ids``, ``tap_service_id``,
    ``monitor_port_id``), registered as outputs next to the shared ones."""

    def __new__(cls, *args: Any, cloud: Any = None, **kwargs: Any) -> Self:
        built = cls
        if cls is MirrorSession:
            session_args = args[1] if len(args) > 1 else kwargs.get("args")
            built = backend_class(choose_cloud(session_args, cloud))  # type: ignore[assignment]
        return super().__new__(built)

    def _host_feed_outputs(self) -> dict[str, Any]:
        """``host_sources`` and their user-data parts (secret), only when there are some."""
        if self.host_feeds is None:
            return {}
        return {
            "host_sources": self.host_sources,
            "host_feed_user_data_parts": self.host_feeds.user_data_parts,
        }

    def _register_results(self, cloud_outputs: Mapping[str, Any]) -> None:
        """Register the outputs every cloud's session has, and ``cloud_outputs``."""
        self.cloud_outputs = dict(cloud_outputs)
        self.register_outputs(
            {
                # A count, not the ids: the component's state would carry one entry per
                # interface (the `sessions` attribute has them), which costs a large program
                # more than everything else the component adds.
                "session_count": len(self.sessions),
                "native_sources": self.native_sources,
                "gateway_sources": self.gateway_sources,
                **self.cloud_outputs,
            }
        )


def build_host_feeds(name: str, args: HostFeedsArgs, parent: MirrorSession) -> HostFeeds:
    """The session's ``{name}-host-feeds`` child; without an AWS security group to write, its
    rule is said in the preview (the sensor's firewall must admit it)."""
    feeds = HostFeeds(f"{name}-host-feeds", args, pulumi.ResourceOptions(parent=parent))
    if feeds.firewall_rule and "sensor_security_group_id" not in args:
        pulumi.log.warn(
            f"host feeds: the sensor's firewall must admit {feeds.firewall_rule}", resource=parent
        )
    return feeds


def check_backend_cloud(cloud: Any, own: Cloud) -> None:
    """A backend built directly, or through :class:`MirrorSession`, with ``cloud`` given."""
    if cloud is not None and parse_cloud("cloud", cloud) is not own:
        raise CloudtapInputError(
            "cloud", cloud, f"no value, or {own.value}: this is the {own.value} mirror session"
        )
