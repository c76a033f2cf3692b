"""``VirtualNetworkTapMirror``: Azure virtual network TAP from VM network interfaces to a sensor.

One ``VirtualNetworkTap`` (the destination: a sensor NIC's IP configuration or an internal load
balancer's frontend, VXLAN on UDP 4789 by default) and one ``NetworkInterfaceTapConfiguration``
per source NIC, pointing at it. The TAP is what stays; the TAP configurations come and go with
the sources, each named by its source's stable key, so adding or removing a source touches only
its own child. Pulumi deletes the configurations before the TAP they reference.

Every argument is checked by :mod:`.vtap_checks` before anything is registered. Azure's own
preview requirements, which no argument shows, are logged once per component as a warning.

Only the ``network`` module of pulumi-azure-native is used. (Measured with azure-native 3.29 on the
development machine: ``import pulumi_azure_native`` alone is lazy and costs ~0.02 s over
``import pulumi``; the first use of a ``network`` class loads its input/output types, ~0.45 s,
either way. The submodule import states the dependency and stays cheap should the top-level
package become eager again.)
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import network

from ..fields import is_deferred
from .vtap_checks import (
    DestinationKind,
    VirtualNetworkTapMirrorArgs,
    VtapPlan,
    check_deferred_destination,
    plan_virtual_network_tap,
    preview_warning,
)

TYPE_TOKEN = "cloudtap:azure:VirtualNetworkTapMirror"


class VirtualNetworkTapMirror(pulumi.ComponentResource):
    """Mirror VM network interfaces to a sensor (or an internal load balancer of sensors)."""

    plan: VtapPlan
    """The validated arguments, defaults resolved (plain Python)."""
    tap: network.VirtualNetworkTap
    tap_id: pulumi.Output[str]
    """ARM id of the TAP."""
    tap_configurations: list[network.NetworkInterfaceTapConfiguration]
    """One per source, in the order of ``sources``; empty while ``attach_sources`` is false."""

    def __init__(
        self,
        name: str,
        args: VirtualNetworkTapMirrorArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        # All checks before the first registration: a wrong id fails the preview with nothing
        # half-created (not even this component).
        plan = plan_virtual_network_tap(args, is_deferred=is_deferred)

        super().__init__(TYPE_TOKEN, name, None, opts)
        self.plan = plan
        pulumi.log.warn(preview_warning(attach_sources=plan.attach_sources), resource=self)
        for warning in plan.warnings:
            pulumi.log.warn(warning, resource=self)

        destination_id: pulumi.Input[str] = plan.destination.id
        if is_deferred(destination_id):
            # Known only after the sensor exists: checked as soon as it is, and before the TAP
            # is created (the TAP waits for this value). Checking creates nothing.
            destination_id = pulumi.Output.from_input(destination_id).apply(
                lambda value: check_deferred_destination(plan, value)
            )
        to_nic = plan.destination.kind is DestinationKind.NETWORK_INTERFACE_IP_CONFIGURATION

        child = pulumi.ResourceOptions(parent=self)
        self.tap = network.VirtualNetworkTap(
            f"{name}-tap",
            resource_group_name=plan.resource_group_name,
            location=plan.location,
            destination_network_interface_ip_configuration=(
                network.NetworkInterfaceIPConfigurationArgsDict(id=destination_id)
                if to_nic
                else None
            ),
            destination_load_balancer_front_end_ip_configuration=(
                None if to_nic else network.FrontendIPConfigurationArgsDict(id=destination_id)
            ),
            destination_port=plan.destination_port,
            tags=plan.tags or None,
            opts=child,
        )
        self.tap_id = self.tap.id

        self.tap_configurations = []
        if plan.attach_sources:
            for source in plan.sources:
                self.tap_configurations.append(
                    network.NetworkInterfaceTapConfiguration(
                        f"{name}-{source.name}",
                        resource_group_name=source.resource_group_name,
                        network_interface_name=source.network_interface_name,
                        virtual_network_tap=network.VirtualNetworkTapArgsDict(id=self.tap.id),
                        opts=child,
                    )
                )

        self.register_outputs(
            {
                "tap_id": self.tap_id,
                "tap_configuration_ids": [config.id for config in self.tap_configurations],
                "destination_port": plan.destination_port,
            }
        )
