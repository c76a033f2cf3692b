"""``AzureSensor``: a VM in a monitored virtual network's monitor subnet receiving every feed.

The boot files are the shared sensor cloud-config (:func:`components.sensor.render_cloud_config`),
as on AWS. The sensor's NIC has a static address (the gateway mirror's sensor address by default)
and its IP configuration is what a virtual network TAP names as its destination; its NSG admits
the VXLAN and GENEVE feeds from the network only, SSH from ``management_cidrs`` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pulumi
from pulumi_azure_native import compute
from pulumi_azure_native import network as azure_network

from ..errors import CloudtapInputError
from ..fields import parse_host_in, parse_int
from ..mirroring import default_sensor_address
from ..monitored_network import Cloud, MonitoredNetwork
from ..network_plan import Tier
from ..os_family import OsFamily
from ..sensor import (
    SENSOR_FIELDS,
    LogVolume,
    SensorArgs,
    SensorPlan,
    plan_sensor,
    render_boot_cloud_config,
    render_settings,
    user_data_field,
)
from ..settings_delivery import SettingsSource
from ..shapes import check_azure_tags, check_azure_vm_size, check_azure_zones, check_ssh_public_key
from .monitored_vnet import (
    IP_CONFIGURATION,
    MonitoredVNet,
    custom_data,
    network_vm,
    nsg_rule,
    settings_run_command,
)
from .vm_sizes import accelerated_networking
from .vnet_plan import DEFAULT_IMAGE, Image, parse_image, sensor_security_rules

TYPE_TOKEN: Final = "cloudtap:azure:Sensor"
DEFAULT_VM_SIZE: Final = "Standard_D2s_v5"
"""2 vCPUs, 8 GiB, accelerated networking, up to 12.5 Gbit/s: a sensor for about 2 Gbit/s of
feeds. Not a v6 size, so it may also be a TAP source itself."""
MAX_LOG_DISK_GB: Final = 32_767
LOG_DISK_LUN: Final = 0
LOG_DISK_DEVICE: Final = "/dev/disk/azure/scsi1/lun0"
"""Where Ubuntu's Azure udev rules link the data disk at LUN 0: its name never depends on the
order the kernel finds disks in. The boot formats it (label ``cloudtap-logs``) unless it has
that label already, and mounts it by label with ``nofail``."""
LOG_DISK_TYPE: Final = "StandardSSD_LRS"


class AzureSensorArgs(SensorArgs, total=False):
    """Arguments of :class:`AzureSensor`: ``SensorArgs`` plus Azure fields. Only ``network`` is
    required."""

    network: MonitoredVNet
    """Required. The monitored virtual network whose monitor subnet the sensor lives in."""
    private_ip: str
    """The sensor's static address in the monitor subnet. Default: the gateway mirror's
    ``sensor_address`` when it is on, else the subnet's .10."""
    zone: str
    """Availability zone of the VM, one of the network's ``zones``. Default: the network's first
    zone (none when the network has none)."""
    vm_size: str
    """Default ``Standard_D2s_v5``."""
    image: Mapping[str, str]
    """Marketplace image (Debian family). Default: Ubuntu 24.04 LTS (as the gateway's)."""
    accelerated_networking: bool
    """Default: on where the size supports it (:mod:`.vm_sizes`); ``true`` on a size that
    does not is refused."""
    log_disk_size_gb: int
    """A managed data disk for logs (Standard SSD, 1-32767 GB) mounted at ``log_mount_point`` by
    its label. Default: none (logs stay on the OS disk). It outlives the VM."""
    ssh_public_key: str
    """Default: the network's key (given or generated)."""
    tags: Mapping[str, str]
    """Default: the network's tags. Azure's tag rule."""


FIELDS: Final = frozenset(AzureSensorArgs.__annotations__)


@dataclass(frozen=True)
class AzureSensorPlan:
    """A sensor as planned: what :class:`AzureSensor` builds and what a mirror needs of it."""

    network: MonitoredNetwork
    plan: SensorPlan
    private_ip: str
    zone: str | None
    vm_size: str
    image: Image
    accelerated_networking: bool
    log_disk_size_gb: int | None
    ssh_public_key: str | None
    tags: Mapping[str, str] | None
    user_data: str
    """The boot cloud-config: scripts and units, no settings."""
    settings: str
    """The settings file the run-command pushes (``components.sensor.render_settings``)."""
    warnings: tuple[str, ...]

    @property
    def network_interface_ip_configuration_id(self) -> None:
        """Its NIC does not exist yet."""
        return None


def _design(network: Any) -> Any:
    if not isinstance(network, MonitoredNetwork) or network.design.cloud is not Cloud.AZURE:
        raise CloudtapInputError(
            "network", network, "the MonitoredVNet whose monitor subnet the sensor lives in"
        )
    return network.design


def _zones_of(network: Any) -> tuple[str, ...]:
    options = getattr(network, "options", None)
    return tuple(getattr(options, "zones", ()))


def plan_azure_sensor(
    args: AzureSensorArgs | Mapping[str, Any], *, network_zones: Sequence[str] | None = None
) -> AzureSensorPlan:
    """Check ``AzureSensorArgs`` and resolve every default; registers nothing.

    ``network`` may be a :class:`MonitoredVNet` or its design; with a design, ``network_zones``
    are the zones its network will have (default: those of a MonitoredVNet, else none).
    """
    raw: Any = args
    if not isinstance(raw, Mapping):
        raise CloudtapInputError("args", raw, "a mapping of AzureSensorArgs fields")
    design = _design(raw.get("network"))
    plan = design.plan
    size = raw.get("log_disk_size_gb")
    if size is not None:
        size = parse_int("log_disk_size_gb", size, 1, MAX_LOG_DISK_GB)
    sensor_plan = plan_sensor(
        raw,
        cloud_fields=FIELDS - SENSOR_FIELDS,
        default_feed_sources=(plan.cidr_block,),
        log_volume=size is not None,
        # The marketplace images cloudtap takes are Debian-family (Ubuntu 24.04 by default),
        # whose archive carries Suricata: ids defaults to suricata.
        os_family=OsFamily.DEBIAN,
        home_networks=plan.subnets[Tier.PRIVATE],
    )
    monitor = plan.subnets[Tier.MONITOR]
    mirror = plan.gateway_mirror
    warnings: list[str] = []
    if raw.get("private_ip") is not None:
        address = parse_host_in("private_ip", raw["private_ip"], monitor, "monitor")
        if mirror is not None and address != mirror.sensor_address:
            warnings.append(
                f"private_ip {address} differs from the network's gateway_mirror.sensor_address "
                f"{mirror.sensor_address}: the gateway's copies go to another host"
            )
    else:
        address = design.default_sensor_address
        if address not in monitor[0]:
            address = default_sensor_address(monitor[0])
    zones = tuple(network_zones) if network_zones is not None else _zones_of(raw["network"])
    zone = raw.get("zone")
    if zone is not None:
        check_azure_zones("zone", [zone])
        if zone not in zones:
            raise CloudtapInputError(
                "zone", zone, f"one of the network's zones {list(zones)} (its zones field)"
            )
    else:
        zone = zones[0] if zones else None
    vm_size = check_azure_vm_size("vm_size", raw.get("vm_size", DEFAULT_VM_SIZE))
    supported, reason = accelerated_networking(vm_size)
    wanted = raw.get("accelerated_networking")
    if wanted is not None and not isinstance(wanted, bool):
        raise CloudtapInputError("accelerated_networking", wanted, "true or false")
    if wanted and not supported:
        raise CloudtapInputError(
            "accelerated_networking", wanted, f"false or nothing for {vm_size}: {reason}"
        )
    key = raw.get("ssh_public_key")
    tags = raw.get("tags")
    # Scripts and units only: the settings arrive by run-command and change in place.
    user_data = render_boot_cloud_config(
        source=SettingsSource.pushed(),
        os_family=OsFamily.DEBIAN,
        log_volume=(
            LogVolume(sensor_plan.log_mount_point, LOG_DISK_DEVICE)
            if sensor_plan.log_volume
            else None
        ),
        # The one IDS input too big for the settings: its sha256 travels in them.
        ids_custom_rules=sensor_plan.ids.custom_rules,
    )
    custom_data(user_data, "sensor", *user_data_field(raw))
    return AzureSensorPlan(
        network=raw["network"],
        plan=sensor_plan,
        private_ip=str(address),
        zone=zone,
        vm_size=vm_size,
        image=parse_image("image", raw.get("image", DEFAULT_IMAGE)),
        accelerated_networking=supported if wanted is None else wanted,
        log_disk_size_gb=size,
        ssh_public_key=check_ssh_public_key("ssh_public_key", key) if key is not None else None,
        tags=check_azure_tags("tags", tags) if tags is not None else None,
        user_data=user_data,
        settings=render_settings(sensor_plan),
        warnings=tuple(warnings),
    )


class AzureSensor(pulumi.ComponentResource):
    """A sensor VM with its own NIC (static address, accelerated networking where the size has
    it), NSG and optional log disk.

    Children: ``{name}-nsg``, ``{name}-nic``, ``{name}-vm`` and, with a log disk, ``{name}-logs``.
    """

    plan: SensorPlan
    network: MonitoredVNet
    private_ip: str
    capture_interface: str
    user_data: str
    settings: compute.VirtualMachineRunCommandByVirtualMachine
    """The run-command that pushes the sensor's settings (changed in place)."""
    security_group: azure_network.NetworkSecurityGroup
    network_interface: azure_network.NetworkInterface
    network_interface_id: pulumi.Output[str]
    network_interface_ip_configuration_id: pulumi.Output[str]
    """What a virtual network TAP names as its destination."""
    vm: compute.VirtualMachine
    log_disk: compute.Disk | None

    def __init__(
        self, name: str, args: AzureSensorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        planned = plan_azure_sensor(args)
        vnet = planned.network
        if not isinstance(vnet, MonitoredVNet):
            raise CloudtapInputError(
                "network", vnet, "the MonitoredVNet whose monitor subnet the sensor lives in"
            )
        super().__init__(TYPE_TOKEN, name, None, opts)
        for warning in planned.warnings:
            pulumi.log.warn(warning, resource=self)
        pulumi.log.info(planned.plan.describe_ids(), resource=self)
        self.plan = planned.plan
        self.network = vnet
        self.private_ip = planned.private_ip
        self.capture_interface = planned.plan.capture_interface
        self.user_data = self._sensor_user_data(planned)
        tags = dict(planned.tags) if planned.tags is not None else vnet.tags()
        common: dict[str, Any] = {
            "resource_group_name": vnet.resource_group_name,
            "location": vnet.location,
            "tags": tags or None,
        }
        child = pulumi.ResourceOptions(parent=self)
        rules = sensor_security_rules(
            [feed.value for feed in self.plan.feeds],
            self.plan.feed_source_cidrs,
            vnet.plan.management_cidrs,
        )
        self.security_group = azure_network.NetworkSecurityGroup(
            f"{name}-nsg", security_rules=[nsg_rule(rule) for rule in rules], **common, opts=child
        )
        self.network_interface = azure_network.NetworkInterface(
            f"{name}-nic",
            # The sensor only receives copies addressed to it: no forwarding.
            enable_ip_forwarding=False,
            enable_accelerated_networking=planned.accelerated_networking,
            network_security_group={"id": self.security_group.id},
            ip_configurations=[
                {
                    "name": IP_CONFIGURATION,
                    "primary": True,
                    "subnet": {"id": vnet.subnets[Tier.MONITOR.value].id},
                    "private_ip_allocation_method": "Static",
                    "private_ip_address": self.private_ip,
                }
            ],
            **common,
            opts=child,
        )
        self.network_interface_id = self.network_interface.id
        self.network_interface_ip_configuration_id = self.network_interface.id.apply(
            lambda nic: f"{nic}/ipConfigurations/{IP_CONFIGURATION}"
        )
        zones = [planned.zone] if planned.zone is not None else None
        self.log_disk = None
        data_disks = None
        if planned.log_disk_size_gb is not None:
            # Its own resource, so logs outlive a replaced VM and the next one mounts them.
            self.log_disk = compute.Disk(
                f"{name}-logs",
                disk_size_gb=planned.log_disk_size_gb,
                sku={"name": LOG_DISK_TYPE},
                creation_data={"create_option": "Empty"},
                zones=zones,
                **common,
                opts=child,
            )
            data_disks = [
                {
                    "lun": LOG_DISK_LUN,
                    "create_option": "Attach",
                    "managed_disk": {"id": self.log_disk.id},
                    "delete_option": "Detach",
                }
            ]
        self.vm = network_vm(
            f"{name}-vm",
            vnet,
            vm_size=planned.vm_size,
            image=planned.image,
            nic_id=self.network_interface.id,
            cloud_config=self.user_data,
            zones=zones,
            # The boot installs packages through the gateway.
            depends_on=[vnet.gateway_vm, vnet.route_tables[Tier.MONITOR.value]],
            data_disks=data_disks,
            parent=self,
            ssh_public_key=planned.ssh_public_key,
        )
        self.settings = settings_run_command(
            f"{name}-settings", vnet, vm=self.vm, settings_text=planned.settings, parent=self
        )
        self.register_outputs(
            {
                "vm_id": self.vm.id,
                "network_interface_id": self.network_interface_id,
                "network_interface_ip_configuration_id": self.network_interface_ip_configuration_id,
                "private_ip": self.private_ip,
                "capture_interface": self.capture_interface,
                "security_group_id": self.security_group.id,
                "log_disk_id": self.log_disk.id if self.log_disk is not None else None,
            }
        )

    def _sensor_user_data(self, planned: AzureSensorPlan) -> str:
        """The sensor's boot configuration: the one place it is chosen (see the plan)."""
        return planned.user_data
