"""``MonitoredVNet``: an Azure virtual network whose private and monitor tiers reach the internet
through a NAT gateway VM.

Layout (one subnet per tier: Azure subnets span zones; addresses from
:func:`~components.network_plan.plan_network`), every subnet with ``defaultOutboundAccess``
off, so no VM reaches the internet except through the gateway:

- public: the gateway VM's NIC (IP forwarding on, static private address, a Standard static
  public IP: the only public address cloudtap creates).
- private: route table ``0.0.0.0/0 -> VirtualAppliance <gateway>``, ``None`` routes to the
  monitor and management prefixes.
- monitor: the same default route (sensors install packages through the gateway), a ``None``
  route to the private prefix; its NSG admits the VXLAN mirror feed.
- management: ``0.0.0.0/0 -> None`` and a ``None`` route to the private prefix: out of band.

Every tier's NSG says the same as its routes and ends in an explicit deny (see
:mod:`.vnet_plan`). Routes point at the gateway's static address, which its NIC keeps across a
replacement of the VM.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_azure_native import compute, network, resources

from ..gateway import render_boot_cloud_config, render_settings
from ..monitored_network import NetworkDesign
from ..network_plan import NetworkPlan, Tier
from ..os_family import OsFamily
from ..replacement_warning import warn_if_recreated
from ..settings_delivery import (
    SettingsSource,
    azure_run_command_parameters,
    azure_run_command_script,
)
from ..user_data import OWN_BOOT_FILES, compressed_user_data
from .ssh_key import GeneratedSshKey
from .vnet_plan import (
    FIELDS,
    LOCATION_KEY,
    AzureOptions,
    Image,
    MonitoredVNetArgs,
    MonitoredVNetPlan,
    PlannedRoute,
    SecurityRule,
    plan_monitored_vnet,
)

TYPE_TOKEN = "cloudtap:azure:MonitoredVNet"
OS_DISK_TYPE = "StandardSSD_LRS"
IP_CONFIGURATION = "ipconfig1"

__all__ = ["FIELDS", "MonitoredVNet", "MonitoredVNetArgs", "plan", "plan_monitored_vnet"]


def provider_location() -> str | None:
    """The stack's ``azure-native:location``, the default of every ``location``."""
    namespace, _, key = LOCATION_KEY.partition(":")
    return pulumi.Config(namespace).get(key)


def plan(args: MonitoredVNetArgs | Mapping[str, Any] | None) -> MonitoredVNetPlan:
    """:func:`plan_monitored_vnet` with the provider's location as the default."""
    return plan_monitored_vnet(args, default_location=provider_location())


def custom_data(
    cloud_config: str, role: str = "instance", field: str = "user_data", value: object = None
) -> str:
    """What Azure's ``customData`` takes: base64 of the gzip-compressed cloud-config (cloud-init
    decompresses it; uncompressed, the sensor's would be over Azure's limit), checked against
    that limit (:func:`~components.user_data.check_user_data_fits`, naming ``field``)."""
    return compressed_user_data("azure", role, cloud_config, field, value)


def image_reference(image: Image) -> compute.ImageReferenceArgsDict:
    return {
        "publisher": image.publisher,
        "offer": image.offer,
        "sku": image.sku,
        "version": image.version,
    }


def nsg_rule(rule: SecurityRule) -> network.SecurityRuleArgsDict:
    return {
        "name": rule.name,
        "priority": rule.priority,
        "direction": rule.direction.value,
        "access": rule.access.value,
        "protocol": rule.protocol,
        "source_address_prefixes": list(rule.sources),
        "source_port_range": "*",
        "destination_address_prefixes": list(rule.destinations),
        "destination_port_range": rule.destination_port,
        "description": rule.description,
    }


def _route(route: PlannedRoute) -> network.RouteArgsDict:
    return {
        "name": route.name,
        "address_prefix": route.address_prefix,
        "next_hop_type": route.next_hop.value,
        "next_hop_ip_address": route.next_hop_ip_address,
    }


def linux_configuration(username: str, public_key: pulumi.Input[str]) -> Any:
    return {
        "disable_password_authentication": True,
        "ssh": {
            "public_keys": [
                {"path": f"/home/{username}/.ssh/authorized_keys", "key_data": public_key}
            ]
        },
        # Azure's guest agent reports provisioning; cloud-init does the rest.
        "provision_vm_agent": True,
    }


class MonitoredVNet(pulumi.ComponentResource):
    """A four-tier virtual network with a NAT gateway VM the private and monitor tiers route
    through.

    Children are named ``f"{name}-..."`` from tier names only (never from zones or tags).
    """

    design: NetworkDesign
    plan: NetworkPlan
    options: AzureOptions
    resource_group_name: pulumi.Output[str]
    resource_group: resources.ResourceGroup | None
    """``None`` when ``resource_group_name`` was given."""
    location: str
    virtual_network: network.VirtualNetwork
    virtual_network_id: pulumi.Output[str]
    virtual_network_name: pulumi.Output[str]
    subnets: dict[str, network.Subnet]
    """Tier value -> its one subnet; every tier is present."""
    subnet_ids: dict[str, pulumi.Output[str]]
    route_tables: dict[str, network.RouteTable]
    """``private``, ``monitor`` and ``management`` (the public tier keeps the system routes)."""
    security_groups: dict[str, network.NetworkSecurityGroup]
    """Tier value -> its subnet's NSG; every tier is present."""
    gateway_public_ip: network.PublicIPAddress
    gateway_public_address: pulumi.Output[str]
    gateway_network_interface: network.NetworkInterface
    gateway_network_interface_id: pulumi.Output[str]
    gateway_private_ip: str
    """The gateway's static address (known at preview): every VirtualAppliance route's next hop."""
    gateway_vm: compute.VirtualMachine
    gateway_disruption: pulumi.Output[list[str]] | None
    """At preview: why this update takes the gateway down (the engine creates its VM anew
    while its NIC lives on), empty when it does not; a preview warning says so too. Not set
    outside a preview."""
    ssh_key: GeneratedSshKey | None
    """``None`` when ``ssh_public_key`` was given."""
    ssh_public_key: pulumi.Output[str]
    ssh_private_key: pulumi.Output[str] | None
    """Secret; ``None`` when ``ssh_public_key`` was given."""
    gateway_user_data: str
    gateway_settings: compute.VirtualMachineRunCommandByVirtualMachine
    """The run-command that pushes the gateway's settings (changed in place)."""

    def __init__(
        self,
        name: str,
        args: MonitoredVNetArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        # Every check before the first registration: nothing half-created on a typo.
        planned = plan(args)
        self.design = planned.design
        self.plan = planned.plan
        self.options = planned.options
        self.location = planned.options.location
        self.gateway_private_ip = str(planned.gateway_private_ip)
        self.gateway_user_data = self._gateway_user_data()
        # Nothing in the stack makes the gateway's boot grow: over the limit is cloudtap's own.
        custom_data(self.gateway_user_data, "gateway", *OWN_BOOT_FILES)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._prefix = name

        self._build_group()
        self._build_network(planned)
        self._build_gateway()
        self.register_outputs(
            {
                "resource_group_name": self.resource_group_name,
                "location": self.location,
                "virtual_network_id": self.virtual_network_id,
                "subnet_ids": self.subnet_ids,
                "route_table_ids": {tier: t.id for tier, t in self.route_tables.items()},
                "security_group_ids": {tier: g.id for tier, g in self.security_groups.items()},
                "gateway_vm_id": self.gateway_vm.id,
                "gateway_network_interface_id": self.gateway_network_interface_id,
                "gateway_private_ip": self.gateway_private_ip,
                "gateway_public_ip": self.gateway_public_address,
                "ssh_public_key": self.ssh_public_key,
            }
        )

    def _gateway_user_data(self) -> str:
        """The gateway's boot configuration (Ubuntu: Debian names): scripts and units only, the
        same whatever the settings; they arrive by run-command (:meth:`_gateway_settings`)."""
        return render_boot_cloud_config(source=SettingsSource.pushed(), os_family=OsFamily.DEBIAN)

    def _gateway_settings(self) -> str:
        """What the run-command pushes: Azure's 1500-byte network, so with the VXLAN mirror on
        the gateway clamps forwarded TCP for its copies to cross whole."""
        return render_settings(self.plan, underlay_mtu=self.design.underlay_mtu)

    # -- helpers ---------------------------------------------------------------------------

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def tags(self) -> dict[str, str] | None:
        return dict(self.options.tags) or None

    def _common(self) -> dict[str, Any]:
        return {
            "resource_group_name": self.resource_group_name,
            "location": self.location,
            "tags": self.tags(),
        }

    # -- network ---------------------------------------------------------------------------

    def _build_group(self) -> None:
        given = self.options.resource_group_name
        self.resource_group = None
        if given is not None:
            self.resource_group_name = pulumi.Output.from_input(given)
            return
        self.resource_group = resources.ResourceGroup(
            f"{self._prefix}-rg", location=self.location, tags=self.tags(), opts=self._child()
        )
        self.resource_group_name = self.resource_group.name

    def _build_network(self, planned: MonitoredVNetPlan) -> None:
        name = self._prefix
        self.virtual_network = network.VirtualNetwork(
            f"{name}-vnet",
            address_space={"address_prefixes": [str(self.plan.cidr_block)]},
            **self._common(),
            # Subnets are their own resources: the network must not claim (or delete) them.
            opts=self._child(ignore_changes=["subnets"]),
        )
        self.virtual_network_id = self.virtual_network.id
        self.virtual_network_name = self.virtual_network.name
        self.route_tables = {
            tier.value: network.RouteTable(
                f"{name}-{tier.value}-rt",
                routes=[_route(route) for route in routes],
                # Routes learnt from a VPN or ExpressRoute gateway must not bypass the gateway VM.
                disable_bgp_route_propagation=True,
                **self._common(),
                opts=self._child(),
            )
            for tier, routes in planned.route_tables.items()
        }
        self.security_groups = {
            tier.value: network.NetworkSecurityGroup(
                f"{name}-{tier.value}-nsg",
                security_rules=[nsg_rule(rule) for rule in rules],
                **self._common(),
                opts=self._child(),
            )
            for tier, rules in planned.security_rules.items()
        }
        self.subnets = {}
        previous: list[pulumi.Resource] = []
        for tier in Tier:
            table = self.route_tables.get(tier.value)
            subnet = network.Subnet(
                f"{name}-{tier.value}",
                resource_group_name=self.resource_group_name,
                virtual_network_name=self.virtual_network.name,
                address_prefix=str(self.plan.subnets[tier][0]),
                # No implicit outbound address: the gateway is the only way out.
                default_outbound_access=False,
                network_security_group={"id": self.security_groups[tier.value].id},
                route_table={"id": table.id} if table is not None else None,
                # ARM refuses concurrent changes to one network's subnets: one at a time.
                opts=self._child(depends_on=previous),
            )
            self.subnets[tier.value] = subnet
            previous = [subnet]
        self.subnet_ids = {tier: subnet.id for tier, subnet in self.subnets.items()}

    # -- gateway ---------------------------------------------------------------------------

    def _build_gateway(self) -> None:
        name = self._prefix
        options = self.options
        zones = list(options.zones[:1]) or None
        self.gateway_public_ip = network.PublicIPAddress(
            f"{name}-gateway-pip",
            sku={"name": "Standard", "tier": "Regional"},
            public_ip_allocation_method="Static",
            public_ip_address_version="IPv4",
            zones=zones,
            **self._common(),
            opts=self._child(),
        )
        self.gateway_public_address = self.gateway_public_ip.ip_address.apply(
            lambda address: address or ""
        )
        # The NIC is the gateway's identity: routes name its static address and the public IP
        # stays on it when the VM is replaced.
        self.gateway_network_interface = network.NetworkInterface(
            f"{name}-gateway-nic",
            enable_ip_forwarding=True,
            ip_configurations=[
                {
                    "name": IP_CONFIGURATION,
                    "primary": True,
                    "subnet": {"id": self.subnets[Tier.PUBLIC.value].id},
                    "private_ip_allocation_method": "Static",
                    "private_ip_address": self.gateway_private_ip,
                    "public_ip_address": {"id": self.gateway_public_ip.id},
                }
            ],
            **self._common(),
            opts=self._child(),
        )
        self.gateway_network_interface_id = self.gateway_network_interface.id

        self.ssh_key = None
        self.ssh_private_key = None
        if options.ssh_public_key is not None:
            self.ssh_public_key = pulumi.Output.from_input(options.ssh_public_key)
        else:
            self.ssh_key = GeneratedSshKey(
                f"{name}-ssh-key", f"cloudtap-{name}", opts=self._child()
            )
            self.ssh_public_key = self.ssh_key.public_key_openssh
            self.ssh_private_key = pulumi.Output.secret(self.ssh_key.private_key_openssh)

        self.gateway_vm = network_vm(
            f"{name}-gateway",
            self,
            vm_size=options.gateway_vm_size,
            image=options.gateway_image,
            nic_id=self.gateway_network_interface.id,
            cloud_config=self.gateway_user_data,
            zones=zones,
            # The boot installs nftables from the internet: the public IP must be on the NIC.
            depends_on=[self.gateway_public_ip],
        )
        self.gateway_disruption = (
            warn_if_recreated(
                self,
                name,
                instance=self.gateway_vm,
                interface=self.gateway_network_interface,
                instance_kind="VM",
            )
            if pulumi.runtime.is_dry_run()
            else None
        )
        self.gateway_settings = settings_run_command(
            f"{name}-gateway-settings",
            self,
            vm=self.gateway_vm,
            settings_text=self._gateway_settings(),
            parent=self,
        )


def settings_run_command(
    child_name: str,
    network_component: MonitoredVNet,
    *,
    vm: compute.VirtualMachine,
    settings_text: str,
    parent: pulumi.Resource,
) -> compute.VirtualMachineRunCommandByVirtualMachine:
    """The VM's settings, pushed by a run-command that ``cloudtap-ROLE apply-settings`` them in
    place. New settings change only its parameters: Azure runs it again on the same VM (the
    custom data, and so the VM, stay the same). A settings file the VM refuses or rolls back
    fails the deployment, so ``pulumi up`` says so instead of leaving old rules silently."""
    return compute.VirtualMachineRunCommandByVirtualMachine(
        child_name,
        resource_group_name=network_component.resource_group_name,
        location=network_component.location,
        vm_name=vm.name,
        run_command_name="cloudtap-settings",
        source=compute.VirtualMachineRunCommandScriptSourceArgs(script=azure_run_command_script()),
        parameters=[
            compute.RunCommandInputParameterArgs(name=item["name"], value=item["value"])
            for item in azure_run_command_parameters(settings_text)
        ],
        async_execution=False,
        treat_failure_as_deployment_failure=True,
        # The first push waits for the VM's boot (cloud-init installs nftables) to finish.
        timeout_in_seconds=1200,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[vm]),
    )


def network_vm(
    child_name: str,
    network_component: MonitoredVNet,
    *,
    vm_size: str,
    image: Image,
    nic_id: pulumi.Input[str],
    cloud_config: str,
    zones: list[str] | None,
    depends_on: list[pulumi.Resource],
    data_disks: list[Any] | None = None,
    parent: pulumi.Resource | None = None,
    encryption_at_host: bool | None = None,
    ssh_public_key: pulumi.Input[str] | None = None,
) -> compute.VirtualMachine:
    """A Linux VM of a monitored network: key-only SSH, custom data, boot diagnostics on
    (managed storage), a Standard SSD OS disk encrypted with platform keys (and at host when
    asked)."""
    options = network_component.options
    at_host = options.encryption_at_host if encryption_at_host is None else encryption_at_host
    return compute.VirtualMachine(
        child_name,
        resource_group_name=network_component.resource_group_name,
        location=network_component.location,
        hardware_profile={"vm_size": vm_size},
        network_profile={"network_interfaces": [{"id": nic_id, "primary": True}]},
        os_profile={
            # Linux host names: at most 63 characters; component names are short.
            "computer_name": child_name[:63],
            "admin_username": options.admin_username,
            "custom_data": custom_data(cloud_config),
            "linux_configuration": linux_configuration(
                options.admin_username,
                ssh_public_key if ssh_public_key is not None else network_component.ssh_public_key,
            ),
        },
        storage_profile={
            "image_reference": image_reference(image),
            "os_disk": {
                "create_option": "FromImage",
                "managed_disk": {"storage_account_type": OS_DISK_TYPE},
                "delete_option": "Delete",
            },
            "data_disks": data_disks,
        },
        # No storage URI: Azure keeps the serial log and screenshot in managed storage.
        diagnostics_profile={"boot_diagnostics": {"enabled": True}},
        security_profile={"encryption_at_host": True} if at_host else None,
        zones=zones,
        tags=network_component.tags(),
        opts=pulumi.ResourceOptions(
            parent=parent if parent is not None else network_component,
            depends_on=depends_on,
            # cloud-init writes its files once per VM: new settings need a new VM. Its NIC (and
            # data disk) attach to one VM at a time, so the old one goes first.
            replace_on_changes=["osProfile.customData"],
            delete_before_replace=True,
        ),
    )
