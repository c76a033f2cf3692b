"""cloudtap's Pulumi program: a monitored network, a sensor and mirroring, from stack config.

    cloudtap:cloud    which cloud to build on; only ``aws`` for now
    cloudtap:network  the network's arguments (``MonitoredVpcArgs``); every field is optional
    cloudtap:sensor   optional: a sensor in the monitor tier (``AwsSensorArgs`` without
                      ``network``, which is the network above)
    cloudtap:mirror   optional: what to mirror (``MirrorSessionArgs`` without ``network``);
                      ``target`` defaults to the sensor

Everything else (validation, defaults, resources) lives in the ``components`` package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pulumi

from components import (
    AwsSensorArgs,
    CloudtapInputError,
    MirrorSession,
    MirrorSessionArgs,
    MonitoredVpc,
    MonitoredVpcArgs,
    Sensor,
)

SUPPORTED_CLOUDS = ("aws",)


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


def main() -> MonitoredVpc:
    config = pulumi.Config("cloudtap")
    cloud = config.get("cloud")
    if cloud not in SUPPORTED_CLOUDS:
        raise CloudtapInputError(
            "cloudtap:cloud",
            cloud,
            f"one of {list(SUPPORTED_CLOUDS)}, e.g. `pulumi config set cloudtap:cloud aws`",
        )
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

    vpc = MonitoredVpc("cloudtap", cast(MonitoredVpcArgs, network))
    pulumi.export("vpc_id", vpc.vpc_id)
    pulumi.export("subnet_ids", vpc.subnet_ids)
    pulumi.export("gateway_network_interface_id", vpc.gateway_network_interface_id)
    pulumi.export("gateway_public_ip", vpc.gateway_public_ip)

    sensor = None
    if sensor_args is not None:
        sensor = Sensor("cloudtap-sensor", cast(AwsSensorArgs, {**sensor_args, "network": vpc}))
        pulumi.export("sensor_private_ip", sensor.private_ip)
        pulumi.export("sensor_network_interface_id", sensor.network_interface_id)
        pulumi.export("sensor_capture_interface", sensor.capture_interface)

    if mirror_args is not None:
        if mirror_args.get("target") is None:
            mirror_args["target"] = {"sensor": sensor}
        mirror = MirrorSession(
            "cloudtap-mirror", cast(MirrorSessionArgs, {**mirror_args, "network": vpc})
        )
        pulumi.export("mirror_native_sources", mirror.native_sources)
        pulumi.export("mirror_gateway_sources", mirror.gateway_sources)
        pulumi.export("mirror_session_ids", {child: s.id for child, s in mirror.sessions.items()})
    return vpc


if __name__ == "__main__":
    main()
