"""cloudtap's Pulumi program: a monitored network, a sensor and mirroring, from stack config.

    cloudtap:cloud    which cloud to build on: ``aws``, ``azure`` or ``openstack``

On ``aws``:

    cloudtap:network  the network's arguments (``MonitoredVpcArgs``); every field is optional
    cloudtap:sensor   optional: a sensor in the monitor tier (``AwsSensorArgs`` without
                      ``network``, which is the network above)
    cloudtap:mirror   optional: what to mirror (``MirrorSessionArgs`` without ``network``);
                      ``target`` defaults to the sensor

On ``azure`` and ``openstack`` the monitored network and the sensor come in a later issue: the
program mirrors EXISTING network interfaces / ports to an EXISTING sensor, and refuses
``cloudtap:network`` and ``cloudtap:sensor``.

    cloudtap:mirror   required: ``AzureMirrorSessionArgs`` (``location`` defaults to
                      ``azure-native:location``) or ``OpenStackMirrorSessionArgs`` (``cloud``
                      defaults to ``openstack:cloud``)

Everything else (validation, defaults, resources) lives in the ``components`` package, whose
cloud modules are imported only for the stack's cloud.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pulumi

import components
from components import CloudtapInputError

SUPPORTED_CLOUDS = ("aws", "azure", "openstack")


def _mapping(config: pulumi.Config, key: str) -> dict[str, Any] | None:
    value: Any = config.get_object(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise CloudtapInputError(
            f"cloudtap:{key}", value, f"a mapping of {key} fields (see the README)"
        )
    return dict(value)


def _reject_network(key: str, args: Mapping[str, Any]) -> None:
    if "network" in args:
        raise CloudtapInputError(
            f"cloudtap:{key}.network",
            args["network"],
            "no value: the program passes the network built from cloudtap:network",
        )


def main() -> pulumi.ComponentResource:
    config = pulumi.Config("cloudtap")
    cloud = config.get("cloud")
    if cloud == "aws":
        return _aws(config)
    if cloud == "azure":
        return _azure(config)
    if cloud == "openstack":
        return _openstack(config)
    raise CloudtapInputError(
        "cloudtap:cloud",
        cloud,
        f"one of {list(SUPPORTED_CLOUDS)}, e.g. `pulumi config set cloudtap:cloud aws`",
    )


def _aws(config: pulumi.Config) -> pulumi.ComponentResource:
    network = _mapping(config, "network") or {}
    sensor_args = _mapping(config, "sensor")
    mirror_args = _mapping(config, "mirror")
    for key, args in (("sensor", sensor_args), ("mirror", mirror_args)):
        if args is not None:
            _reject_network(key, args)
    if mirror_args is not None and mirror_args.get("target") is None and sensor_args is None:
        raise CloudtapInputError(
            "cloudtap:mirror.target",
            None,
            "a target (network_interface_id, network_load_balancer_arn or "
            "gateway_load_balancer_endpoint_id), or a sensor in cloudtap:sensor to mirror to",
        )

    vpc = components.MonitoredVpc("cloudtap", cast(components.MonitoredVpcArgs, network))
    pulumi.export("vpc_id", vpc.vpc_id)
    pulumi.export("subnet_ids", vpc.subnet_ids)
    pulumi.export("gateway_network_interface_id", vpc.gateway_network_interface_id)
    pulumi.export("gateway_public_ip", vpc.gateway_public_ip)

    sensor = None
    if sensor_args is not None:
        sensor = components.Sensor(
            "cloudtap-sensor", cast(components.AwsSensorArgs, {**sensor_args, "network": vpc})
        )
        pulumi.export("sensor_private_ip", sensor.private_ip)
        pulumi.export("sensor_network_interface_id", sensor.network_interface_id)
        pulumi.export("sensor_capture_interface", sensor.capture_interface)

    if mirror_args is not None:
        if mirror_args.get("target") is None:
            mirror_args["target"] = {"sensor": sensor}
        mirror = components.MirrorSession(
            "cloudtap-mirror", cast(components.MirrorSessionArgs, {**mirror_args, "network": vpc})
        )
        _export_sessions(mirror)
    return vpc


def _existing_only(config: pulumi.Config, cloud: str) -> dict[str, Any]:
    """``cloudtap:mirror`` of a cloud whose monitored network and sensor are not built yet."""
    for key in ("network", "sensor"):
        value = config.get_object(key)
        if value is not None:
            raise CloudtapInputError(
                f"cloudtap:{key}",
                value,
                f"no value with cloudtap:cloud {cloud}: its monitored network and sensor come in "
                "a later issue; name the existing sensor in cloudtap:mirror.target and the "
                "existing sources in cloudtap:mirror.sources",
            )
    mirror_args = _mapping(config, "mirror")
    if mirror_args is None:
        raise CloudtapInputError(
            "cloudtap:mirror",
            None,
            f"a mapping with target and sources: with cloudtap:cloud {cloud} the program mirrors "
            "existing interfaces to an existing sensor, and there is nothing else to build",
        )
    return mirror_args


def _export_sessions(mirror: Any) -> None:
    """What every cloud's mirror exports (the AWS names, so tooling reads all clouds alike)."""
    pulumi.export("mirror_native_sources", mirror.native_sources)
    pulumi.export("mirror_gateway_sources", mirror.gateway_sources)
    pulumi.export("mirror_session_ids", {child: s.id for child, s in mirror.sessions.items()})


def _azure(config: pulumi.Config) -> pulumi.ComponentResource:
    mirror_args = _existing_only(config, "azure")
    location = pulumi.Config("azure-native").get("location")
    if mirror_args.get("location") is None and location is not None:
        mirror_args["location"] = location
    mirror = components.AzureMirrorSession(
        "cloudtap-mirror", cast(components.AzureMirrorSessionArgs, mirror_args)
    )
    pulumi.export("mirror_tap_id", mirror.tap_id)
    _export_sessions(mirror)
    return mirror


def _openstack(config: pulumi.Config) -> pulumi.ComponentResource:
    mirror_args = _existing_only(config, "openstack")
    cloud = pulumi.Config("openstack").get("cloud")
    if mirror_args.get("cloud") is None and cloud is not None:
        mirror_args["cloud"] = cloud
    mirror = components.OpenStackMirrorSession(
        "cloudtap-mirror", cast(components.OpenStackMirrorSessionArgs, mirror_args)
    )
    pulumi.export("mirror_backend", mirror.backend.value)
    pulumi.export("mirror_tunnel_ids", mirror.tunnel_ids)
    pulumi.export("mirror_tap_service_id", mirror.tap_service.id if mirror.tap_service else None)
    pulumi.export("mirror_monitor_port_id", mirror.monitor_port_id)
    _export_sessions(mirror)
    return mirror


if __name__ == "__main__":
    main()
