"""cloudtap's Pulumi program: one monitored network, built from the stack's configuration.

    cloudtap:cloud    which cloud to build on; only ``aws`` for now
    cloudtap:network  the network's arguments (``MonitoredVpcArgs``); every field is optional

Everything else (validation, defaults, resources) lives in the ``components`` package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pulumi

from components import CloudtapInputError, MonitoredVpc, MonitoredVpcArgs

SUPPORTED_CLOUDS = ("aws",)


def main() -> MonitoredVpc:
    config = pulumi.Config("cloudtap")
    cloud = config.get("cloud")
    if cloud not in SUPPORTED_CLOUDS:
        raise CloudtapInputError(
            "cloudtap:cloud",
            cloud,
            f"one of {list(SUPPORTED_CLOUDS)}, e.g. `pulumi config set cloudtap:cloud aws`",
        )
    network: Any = config.get_object("network")
    if network is None:
        network = {}
    if not isinstance(network, Mapping):
        raise CloudtapInputError(
            "cloudtap:network", network, "a mapping of network fields (see the README)"
        )
    vpc = MonitoredVpc("cloudtap", cast(MonitoredVpcArgs, dict(network)))
    pulumi.export("vpc_id", vpc.vpc_id)
    pulumi.export("subnet_ids", vpc.subnet_ids)
    pulumi.export("gateway_network_interface_id", vpc.gateway_network_interface_id)
    pulumi.export("gateway_public_ip", vpc.gateway_public_ip)
    return vpc


if __name__ == "__main__":
    main()
