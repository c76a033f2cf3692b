"""``OpenStackSensor``: an instance on the monitor segment that receives every mirror feed.

Two ports: the **monitor port** (fixed address, port security off and no security groups — the
gateway's tee clones and Tap-as-a-Service copies are addressed to other machines, and port
security would drop them; the sensor's own nftables accept feeds from ``feed_source_cidrs``
only) and a **management port** (a security group: SSH from the management tier). The monitor
subnet's DHCP gateway is the cloudtap gateway, so the sensor installs its packages through it;
the management subnet has no gateway. An optional Cinder log volume is attached at boot, so the
first boot formats it (label ``cloudtap-logs``) and mounts it by label.
"""

from __future__ import annotations

import ipaddress
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pulumi

from ..errors import CloudtapInputError
from ..fields import parse_host_in, parse_int
from ..mirroring import GatewayMirrorMode, default_sensor_address
from ..monitored_network import Cloud, MonitoredNetwork
from ..network_plan import Tier
from ..sensor import (
    LogVolume,
    SensorPlan,
    plan_sensor,
    render_boot_cloud_config,
    render_settings,
    user_data_field,
)
from ..settings_delivery import SettingsSource, openstack_metadata_items
from ..shapes import check_text
from ..user_data import compressed_user_data
from .network_args import OWN_SENSOR_FIELDS, OpenStackSensorArgs
from .network_planning import (
    NAME_MAX_LENGTH,
    ImageRef,
    RulePlan,
    management_port_rules,
    parse_name_or_id,
    parse_os_family_on_openstack,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from pulumi_openstack import blockstorage, compute, networking

    from .monitored_network import MonitoredOpenStackNetwork, security_group

TYPE_TOKEN: Final = "cloudtap:openstack:Sensor"
LOG_VOLUME_DEVICE: Final = "/dev/vdb"
"""The log volume's device: the first disk after the root disk on a virtio instance, where it
is attached at boot (boot index -1)."""
MAX_LOG_VOLUME_GB: Final = 16_384


@dataclass(frozen=True)
class OpenStackSensorPlan:
    """A sensor as planned: what :class:`OpenStackSensor` builds, and what a mirror session
    needs of its target."""

    network: MonitoredNetwork
    plan: SensorPlan
    private_ip: str
    image: ImageRef
    flavor: ImageRef
    key_pair: str | None
    log_volume_size_gb: int | None
    log_volume_type: str | None
    management_rules: tuple[RulePlan, ...]
    user_data: str
    """Scripts and units only, the same whatever the settings."""
    user_data_encoded: str
    """What Nova gets: base64(gzip(:attr:`user_data`)), checked against its limit."""
    settings: str
    """The settings file, delivered in the instance's Nova metadata (changed in place)."""
    warnings: tuple[str, ...]

    @property
    def monitor_port_id(self) -> None:
        """The monitor port does not exist yet."""
        return None


def _address(raw: Mapping[str, Any], network: MonitoredNetwork) -> ipaddress.IPv4Address:
    plan = network.design.plan
    mirror = plan.gateway_mirror
    monitor = plan.subnets[Tier.MONITOR]
    if raw.get("private_ip") is None:
        return mirror.sensor_address if mirror is not None else default_sensor_address(monitor[0])
    address = parse_host_in("private_ip", raw["private_ip"], monitor, "monitor")
    if mirror is not None and address != mirror.sensor_address:
        how = (
            "tee clones go to that address's MAC on the monitor segment"
            if mirror.mode is GatewayMirrorMode.TEE
            else "the gateway's VXLAN copies go to that address"
        )
        raise CloudtapInputError(
            "private_ip",
            str(address),
            f"the network's gateway_mirror.sensor_address {mirror.sensor_address}, or no "
            f"value: {how}, so a sensor elsewhere receives nothing",
        )
    return address


def plan_openstack_sensor(args: OpenStackSensorArgs | Mapping[str, Any]) -> OpenStackSensorPlan:
    """Check ``OpenStackSensorArgs`` and resolve every default; registers nothing. ``network``
    may be a :class:`MonitoredOpenStackNetwork` or its design."""
    raw: Any = args
    if not isinstance(raw, Mapping):
        raise CloudtapInputError("args", raw, "a mapping of OpenStackSensorArgs fields")
    network = raw.get("network")
    if not isinstance(network, MonitoredNetwork) or network.design.cloud is not Cloud.OPENSTACK:
        raise CloudtapInputError(
            "network", network, "the MonitoredOpenStackNetwork whose monitor tier the sensor is in"
        )
    plan = network.design.plan
    size = raw.get("log_volume_size_gb")
    if size is not None:
        size = parse_int("log_volume_size_gb", size, 1, MAX_LOG_VOLUME_GB)
    os_family = parse_os_family_on_openstack("os_family", raw.get("os_family"))
    sensor_plan = plan_sensor(
        raw,
        cloud_fields=OWN_SENSOR_FIELDS,
        default_feed_sources=(plan.cidr_block,),
        log_volume=size is not None,
        os_family=os_family,
        home_networks=plan.subnets[Tier.PRIVATE],
    )
    address = _address(raw, network)
    image = parse_name_or_id("image", raw.get("image"), "the sensor's Glance image")
    if size is not None and not image.is_id:
        raise CloudtapInputError(
            "image",
            image.value,
            "the image's id (a UUID) with log_volume_size_gb: the log volume is attached at boot "
            "beside a root disk made from the image, which Nova takes by id only",
        )
    flavor = parse_name_or_id("flavor", raw.get("flavor"), "the sensor's Nova flavor")
    texts: dict[str, str | None] = {}
    for field, what in (("key_pair", "a Nova key pair"), ("log_volume_type", "a volume type")):
        value = raw.get(field)
        texts[field] = (
            None
            if value is None
            else check_text(
                field,
                value,
                min_length=1,
                max_length=NAME_MAX_LENGTH,
                expected=f"the name of {what} (1-{NAME_MAX_LENGTH} characters)",
            )
        )
    if texts["log_volume_type"] is not None and size is None:
        raise CloudtapInputError(
            "log_volume_type", texts["log_volume_type"], "no value without log_volume_size_gb"
        )
    # Scripts and units only; the settings travel in Nova metadata and change in place.
    user_data = render_boot_cloud_config(
        source=SettingsSource.openstack_metadata(),
        os_family=os_family,
        log_volume=(
            LogVolume(sensor_plan.log_mount_point, LOG_VOLUME_DEVICE)
            if sensor_plan.log_volume
            else None
        ),
        # The one IDS input too big for the settings: its sha256 travels in them.
        ids_custom_rules=sensor_plan.ids.custom_rules,
    )
    return OpenStackSensorPlan(
        network=network,
        plan=sensor_plan,
        private_ip=str(address),
        image=image,
        flavor=flavor,
        key_pair=texts["key_pair"],
        log_volume_size_gb=size,
        log_volume_type=texts["log_volume_type"],
        management_rules=management_port_rules(plan, "the sensor"),
        user_data=user_data,
        user_data_encoded=compressed_user_data(
            "openstack", "sensor", user_data, *user_data_field(raw)
        ),
        settings=render_settings(sensor_plan),
        warnings=(),
    )


class OpenStackSensor(pulumi.ComponentResource):
    """A sensor instance with a monitor port (port security off) and a management port.

    Children: ``{name}-monitor-port``, ``{name}-management-sg`` (and its rules),
    ``{name}-management-port``, ``{name}-instance`` and, with a log volume, ``{name}-logs``.
    """

    plan: SensorPlan
    network: MonitoredOpenStackNetwork
    private_ip: str
    """The monitor port's fixed address (known at preview)."""
    capture_interface: str
    user_data: str
    monitor_port: networking.Port
    monitor_port_id: pulumi.Output[str]
    """A Tap-as-a-Service service's port; survives replacement of the instance."""
    management_security_group: networking.SecGroup
    management_port: networking.Port
    instance: compute.Instance
    log_volume: blockstorage.Volume | None

    def __init__(
        self,
        name: str,
        args: OpenStackSensorArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        planned = plan_openstack_sensor(args)
        network = planned.network
        if not isinstance(network, MonitoredOpenStackNetwork):
            raise CloudtapInputError(
                "network", network, "the MonitoredOpenStackNetwork the sensor lives in"
            )
        super().__init__(TYPE_TOKEN, name, None, opts)
        pulumi.log.info(planned.plan.describe_ids(), resource=self)
        self.network = network
        self.plan = planned.plan
        self.private_ip = planned.private_ip
        self.capture_interface = planned.plan.capture_interface
        self.user_data = planned.user_data
        child = pulumi.ResourceOptions(parent=self)
        monitor = Tier.MONITOR.value
        self.monitor_port = networking.Port(
            f"{name}-monitor-port",
            name=f"{name}-monitor-port",
            description=f"cloudtap sensor {name}: receives the mirror feeds",
            network_id=network.networks[monitor].id,
            fixed_ips=[
                {"subnet_id": network.subnets[monitor][0].id, "ip_address": self.private_ip}
            ],
            admin_state_up=True,
            # Copies addressed to other machines (tee clones, TaaS) must reach the sensor.
            port_security_enabled=False,
            no_security_groups=True,
            opts=child,
        )
        self.monitor_port_id = self.monitor_port.id
        self.management_security_group = security_group(
            f"{name}-management-sg",
            "cloudtap sensor, management port: SSH from the management tier",
            planned.management_rules,
            self,
        )
        management = Tier.MANAGEMENT.value
        self.management_port = networking.Port(
            f"{name}-management-port",
            name=f"{name}-management-port",
            description=f"cloudtap sensor {name}: management",
            network_id=network.networks[management].id,
            fixed_ips=[{"subnet_id": network.subnets[management][0].id}],
            admin_state_up=True,
            port_security_enabled=True,
            security_group_ids=[self.management_security_group.id],
            opts=child,
        )
        self.log_volume = None
        block_devices: list[compute.InstanceBlockDeviceArgsDict] | None = None
        if planned.log_volume_size_gb is not None:
            self.log_volume = blockstorage.Volume(
                f"{name}-logs",
                name=f"{name}-logs",
                description=f"cloudtap sensor {name}: IDS logs (outlive the instance)",
                size=planned.log_volume_size_gb,
                volume_type=planned.log_volume_type,
                opts=child,
            )
            block_devices = [
                {
                    "uuid": planned.image.value,
                    "source_type": "image",
                    "destination_type": "local",
                    "boot_index": 0,
                    "delete_on_termination": True,
                },
                {
                    "uuid": self.log_volume.id,
                    "source_type": "volume",
                    "destination_type": "volume",
                    "boot_index": -1,
                    # Logs outlive the instance: a replaced sensor mounts the same volume again.
                    "delete_on_termination": False,
                },
            ]
        self.instance = compute.Instance(
            f"{name}-instance",
            name=f"{name}-instance",
            image_id=planned.image.value if planned.image.is_id else None,
            image_name=None if planned.image.is_id else planned.image.value,
            flavor_id=planned.flavor.value if planned.flavor.is_id else None,
            flavor_name=None if planned.flavor.is_id else planned.flavor.value,
            key_pair=planned.key_pair,
            # Monitor first: its subnet's DHCP gateway (the cloudtap gateway) is the way out.
            networks=[{"port": self.monitor_port.id}, {"port": self.management_port.id}],
            config_drive=True,
            # base64(gzip): the provider passes base64 text to Nova as it is.
            user_data=planned.user_data_encoded,
            block_devices=block_devices,
            # The settings, read by cloudtap-settings from the metadata service: the cloud must
            # serve it on the monitor network, whose way out is the cloudtap gateway (OVN does;
            # ML2/OVS with enable_isolated_metadata).
            metadata={"cloudtap-role": "sensor", **openstack_metadata_items(planned.settings)},
            # The boot installs packages through the gateway.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[network.gateway_instance]),
        )
        self.register_outputs(
            {
                "instance_id": self.instance.id,
                "monitor_port_id": self.monitor_port_id,
                "management_port_id": self.management_port.id,
                "private_ip": self.private_ip,
                "capture_interface": self.capture_interface,
                "log_volume_id": self.log_volume.id if self.log_volume is not None else None,
            }
        )
