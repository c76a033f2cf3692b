"""OpenStack fakes: Neutron's and Nova's answers for the MirrorSession facade's resources under the
strict mocks, the facade's usual arguments and program, and a fake Neutron HTTP endpoint that the
real openstacksdk talks to.

- The ids (:data:`WEB_PORT`, :data:`DB_PORT`, :data:`NETWORK`, :data:`SUBNET`) stand for two
  workload ports and the sensor's network and subnet in one project; :func:`uuid_of` gives the
  fakes' deterministic UUIDs.
- :class:`FakeTaas` stands for Neutron (tap mirrors, ports, tap services and flows) and Nova
  (interface attachments) answering under the strict mocks; :func:`openstack_mocks` is the strict
  mocks with those answers, accepting the facade; :func:`args`, :func:`service_args` and
  :func:`build` are the facade's usual arguments (tap mirrors, or a tap service on a created
  monitor port) and a program that builds it; :func:`no_cloud` is a ``connect`` that must not be
  called.
- :class:`FakeNeutron` stands for one Neutron endpoint over HTTP. ``requests_mock`` replaces the
  transport of every ``requests`` session, so a real :class:`openstack.connection.Connection`
  runs unchanged and each request it sends is answered (or refused: an unregistered URL raises
  ``NoMockAddress``) and recorded. The connection authenticates with keystoneauth's
  ``admin_token`` plugin (a fixed token, no Keystone catalog) and ``network_endpoint_override``;
  the only request that this adds is keystoneauth's version discovery (``GET /``), answered with
  Neutron's versions document and left out of :meth:`FakeNeutron.requests`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import requests_mock
import yaml
from openstack.connection import Connection
from pulumi.runtime import MockResourceArgs

from components.openstack import mirror_session
from components.openstack.mirror_session import MirrorSession
from tests.mocks import COMPONENT_TYPES, ProgramRun, StrictMockError, StrictMocks, run_program

TAP_MIRROR = "openstack:index/taasTapMirrorV2:TaasTapMirrorV2"
PORT = "openstack:networking/port:Port"
ATTACH = "openstack:compute/interfaceAttach:InterfaceAttach"
TAP_SERVICE = "pulumi-python:dynamic/cloudtap-openstack:TapService"
TAP_FLOW = "pulumi-python:dynamic/cloudtap-openstack:TapFlow"
NETWORK_TYPE = "openstack:networking/network:Network"
SUBNET_TYPE = "openstack:networking/subnet:Subnet"
ROUTER = "openstack:networking/router:Router"
ROUTER_INTERFACE = "openstack:networking/routerInterface:RouterInterface"
SECURITY_GROUP = "openstack:networking/secGroup:SecGroup"
SECURITY_GROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"
FLOATING_IP = "openstack:networking/floatingIp:FloatingIp"
INSTANCE = "openstack:compute/instance:Instance"
VOLUME = "openstack:blockstorage/volume:Volume"
COMPONENTS = frozenset(
    {
        mirror_session.TYPE_TOKEN,
        "cloudtap:openstack:MonitoredNetwork",
        "cloudtap:openstack:Sensor",
    }
)
EXTERNAL_NETWORK = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
PRIVATE_NETWORK = "4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f"

WEB_PORT = "5b0d3c1e-7a2f-4c8e-9d61-2f4a8b7c6e01"
DB_PORT = "a7e1c9d4-3b6f-4e20-8c5a-91d2f0b4e6c3"
NETWORK = "0e6b7d2a-9c41-4f85-a3d0-6b2e8f1c7a95"
SUBNET = "f2a9c6e1-4d8b-4b3c-9e07-a5d16c3f8b20"

NEUTRON = "http://neutron.test:9696"
TOKEN = "test-token"
VERSIONS = {
    "versions": [
        {
            "id": "v2.0",
            "status": "CURRENT",
            "links": [{"href": f"{NEUTRON}/v2.0/", "rel": "self"}],
        }
    ]
}
ALL_EXTENSIONS = ("taas", "taas-vlan-filter", "tap-mirror", "port-security")

Request = tuple[str, str, Any]


def uuid_of(*parts: str) -> str:
    """A UUID that depends only on ``parts``: the fakes' resource ids, and ports for tests."""
    return str(uuid.UUID(hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]))


# -- under the strict mocks ----------------------------------------------------------------------


class FakeTaas:
    """Answers like Neutron and Nova: UUIDs, a port's own state, and Neutron's refusals that a
    preview cannot show otherwise — a tunnel id any tap mirror of the project already uses
    (``TapMirrorTunnelConflict``), a flow naming no service, an attachment naming no port."""

    def __init__(self) -> None:
        self.tunnel_ids: dict[int, str] = {}
        self.ports: dict[str, dict[str, Any]] = {}
        self.services: set[str] = set()
        # The monitored network's Neutron: what a refusal at `up` would depend on.
        self.networks: set[str] = set()
        self.subnets: dict[str, dict[str, Any]] = {}
        self.addresses: dict[str, set[str]] = {}
        self.groups: set[str] = set()
        self.routed_subnets: set[str] = set()
        self.instances: dict[str, list[str]] = {}

    def handlers(self) -> dict[str, Callable[[StrictMocks, MockResourceArgs], Any]]:
        return {
            TAP_MIRROR: self.tap_mirror,
            PORT: self.port,
            ATTACH: self.attach,
            TAP_SERVICE: self.tap_service,
            TAP_FLOW: self.tap_flow,
            NETWORK_TYPE: self.network,
            SUBNET_TYPE: self.subnet,
            ROUTER: self.router,
            ROUTER_INTERFACE: self.router_interface,
            SECURITY_GROUP: self.security_group,
            SECURITY_GROUP_RULE: self.security_group_rule,
            FLOATING_IP: self.floating_ip,
            INSTANCE: self.instance,
            VOLUME: self.volume,
        }

    def network(self, _mocks: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid = uuid_of(args.typ, args.name)
        self.networks.add(rid)
        # Neutron's default for a VXLAN tenant network unless the program asked.
        return rid, {"mtu": args.inputs.get("mtu") or 1450, "portSecurityEnabled": True}

    def subnet(self, _mocks: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        network = args.inputs["networkId"]
        if network not in self.networks:
            raise StrictMockError(f"subnet {args.name} names unknown network {network}")
        cidr = ipaddress.IPv4Network(args.inputs["cidr"])
        gateway = args.inputs.get("gatewayIp")
        if gateway and args.inputs.get("noGateway"):
            raise StrictMockError(f"subnet {args.name}: gateway_ip and no_gateway together")
        pools = args.inputs.get("allocationPools") or []
        for pool in pools:
            start, end = (ipaddress.IPv4Address(pool[key]) for key in ("start", "end"))
            if start not in cidr or end not in cidr or start > end:
                raise StrictMockError(f"subnet {args.name}: pool {pool} outside {cidr}")
            if gateway and start <= ipaddress.IPv4Address(gateway) <= end:
                raise StrictMockError(f"subnet {args.name}: gateway {gateway} in pool {pool}")
        rid = uuid_of(args.typ, args.name)
        self.subnets[rid] = {**args.inputs, "network": network, "cidr": cidr}
        self.addresses[rid] = set()
        return rid, {}

    def router(self, _mocks: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.inputs.get("externalNetworkId") != EXTERNAL_NETWORK:
            raise StrictMockError(f"router {args.name}: unknown external network")
        return uuid_of(args.typ, args.name), {}

    def router_interface(
        self, _mocks: StrictMocks, args: MockResourceArgs
    ) -> tuple[str, dict[str, Any]]:
        subnet = args.inputs["subnetId"]
        if subnet not in self.subnets:
            raise StrictMockError(f"router interface {args.name} names unknown subnet {subnet}")
        self.routed_subnets.add(subnet)
        return uuid_of(args.typ, args.name), {}

    def security_group(
        self, _mocks: StrictMocks, args: MockResourceArgs
    ) -> tuple[str, dict[str, Any]]:
        rid = uuid_of(args.typ, args.name)
        self.groups.add(rid)
        return rid, {}

    def security_group_rule(
        self, _mocks: StrictMocks, args: MockResourceArgs
    ) -> tuple[str, dict[str, Any]]:
        if args.inputs["securityGroupId"] not in self.groups:
            raise StrictMockError(f"rule {args.name} names an unknown security group")
        return uuid_of(args.typ, args.name), {}

    def network_port(self, rid: str, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        """A port of the monitored network: a free address of its subnet, security groups only
        with port security (Neutron refuses both at once)."""
        groups = args.inputs.get("securityGroupIds") or []
        if args.inputs.get("portSecurityEnabled") is False and groups:
            raise StrictMockError(f"port {args.name}: security groups with port security off")
        if any(group not in self.groups for group in groups):
            raise StrictMockError(f"port {args.name} names an unknown security group")
        addresses = []
        for entry in args.inputs.get("fixedIps") or []:
            subnet = self.subnets.get(entry.get("subnetId"))
            if subnet is None or subnet["network"] != args.inputs["networkId"]:
                raise StrictMockError(f"port {args.name}: subnet not on its network")
            cidr = subnet["cidr"]
            address = entry.get("ipAddress") or str(cidr.network_address + 200)
            if ipaddress.IPv4Address(address) not in cidr:
                raise StrictMockError(f"port {args.name}: {address} outside {cidr}")
            taken = self.addresses[entry["subnetId"]]
            if address in taken:
                raise StrictMockError(f"port {args.name}: {address} already allocated (409)")
            taken.add(address)
            addresses.append(address)
        self.ports[rid] = {**args.inputs, "addresses": addresses}
        return rid, {
            "macAddress": "fa:16:3e:" + ":".join(rid[i : i + 2] for i in (0, 2, 4)),
            "allFixedIps": addresses,
            "allSecurityGroupIds": groups,
        }

    def floating_ip(
        self, _mocks: StrictMocks, args: MockResourceArgs
    ) -> tuple[str, dict[str, Any]]:
        port = self.ports.get(args.inputs.get("portId", ""))
        if port is None:
            raise StrictMockError(f"floating IP {args.name} names an unknown port")
        subnets = {entry["subnetId"] for entry in port.get("fixedIps") or []}
        if not subnets & self.routed_subnets:
            raise StrictMockError(f"floating IP {args.name}: no router reaches its port (404)")
        return uuid_of(args.typ, args.name), {"address": "203.0.113.50"}

    def instance(self, _mocks: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        ports = [entry.get("port") for entry in args.inputs.get("networks") or []]
        if not ports or any(port not in self.ports for port in ports):
            raise StrictMockError(f"instance {args.name} names unknown ports {ports}")
        rid = uuid_of(args.typ, args.name)
        self.instances[rid] = ports
        return rid, {"accessIpV4": self.ports[ports[0]]["addresses"][0]}

    def volume(self, _mocks: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return uuid_of(args.typ, args.name), {}

    def tap_mirror(self, _mocks: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid = uuid_of(args.typ, args.name)
        for tunnel_id in (args.inputs.get("directions") or {}).values():
            if int(tunnel_id) in self.tunnel_ids:
                raise StrictMockError(
                    f"tap mirror {args.name}: tunnel id {tunnel_id} already used by "
                    f"{self.tunnel_ids[int(tunnel_id)]} (409 TapMirrorTunnelConflict)"
                )
            self.tunnel_ids[int(tunnel_id)] = args.name
        return rid, {"projectId": "5e0a2d7b6f0c4a6f9d8e7c6b5a493827"}

    def port(self, _mocks: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid = uuid_of(args.typ, args.name)
        if args.inputs.get("networkId") in self.networks:
            return self.network_port(rid, args)
        fixed = args.inputs.get("fixedIps") or [{"subnetId": SUBNET, "ipAddress": "10.0.128.20"}]
        state = {
            "macAddress": "fa:16:3e:" + ":".join(rid[i : i + 2] for i in (0, 2, 4)),
            "allFixedIps": [entry.get("ipAddress") or "10.0.128.20" for entry in fixed],
            "allSecurityGroupIds": [],
        }
        self.ports[rid] = dict(args.inputs)
        return rid, state

    def attach(self, _mocks: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        port = args.inputs["portId"]
        if port not in self.ports:
            raise StrictMockError(f"interface attachment {args.name} names unknown port {port}")
        return f"{args.inputs['instanceId']}/{port}", {}

    def tap_service(
        self, _mocks: StrictMocks, args: MockResourceArgs
    ) -> tuple[str, dict[str, Any]]:
        rid = uuid_of(args.typ, args.name)
        self.services.add(rid)
        return rid, {"status": "ACTIVE", "project_id": "5e0a2d7b6f0c4a6f9d8e7c6b5a493827"}

    def tap_flow(self, _mocks: StrictMocks, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        service = args.inputs["tap_service_id"]
        if service not in self.services:
            raise StrictMockError(f"tap flow {args.name} names unknown tap service {service}")
        return uuid_of(args.typ, args.name), {"status": "ACTIVE"}


def openstack_mocks() -> StrictMocks:
    """Strict mocks that also answer the OpenStack types and accept the facade."""
    return StrictMocks(resources=FakeTaas().handlers(), components=COMPONENT_TYPES | COMPONENTS)


def no_cloud(cloud: str | None) -> Connection:
    """A ``connect`` for programs that must not look anything up in OpenStack."""
    raise AssertionError(f"no OpenStack call expected (cloud {cloud!r})")


def args(**overrides: Any) -> dict[str, Any]:
    """The facade's arguments: tap mirrors of the web and db ports to a sensor address;
    ``overrides`` replace top-level keys, and a key set to ``None`` is left out."""
    base: dict[str, Any] = {
        "target": {"sensor_ip": "10.0.128.10"},
        "sources": [{"name": "web", "port_id": WEB_PORT}, {"name": "db", "port_id": DB_PORT}],
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def service_args(**overrides: Any) -> dict[str, Any]:
    """:func:`args` with the ``tap_service`` backend on a monitor port created in the sensor's
    network and subnet."""
    base: dict[str, Any] = {
        "backend": "tap_service",
        "target": {"monitor_port": {"network_id": NETWORK, "subnet_id": SUBNET}},
    }
    return args(**{**base, **overrides})


def build(
    mocks: StrictMocks,
    session_args: Mapping[str, Any],
    *,
    name: str = "mirror",
    connect: Callable[[str | None], Connection] = no_cloud,
) -> ProgramRun[MirrorSession]:
    """Run ``MirrorSession(name, session_args)`` (the OpenStack facade) under ``mocks``."""
    return run_program(
        lambda: MirrorSession(name, session_args, connect=connect),  # type: ignore[arg-type]
        mocks,
    )


# -- over HTTP, for the real openstacksdk --------------------------------------------------------


class RecordingConnection(Connection):
    """A real Connection that remembers whether the provider closed it."""

    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


class FakeNeutron:
    """A requests_mock Mocker dressed as one Neutron endpoint, plus the ``connect`` to use it."""

    def __init__(self, mocker: requests_mock.Mocker) -> None:
        self.mocker = mocker
        self.clouds: list[str | None] = []
        self.connections: list[RecordingConnection] = []
        mocker.get(f"{NEUTRON}/", json=VERSIONS)
        self.extensions(ALL_EXTENSIONS)

    def extensions(self, aliases: Sequence[str]) -> None:
        listing = [{"alias": a, "name": a, "description": "", "links": []} for a in aliases]
        self.mocker.get(f"{NEUTRON}/v2.0/extensions", json={"extensions": listing})

    def connect(self, cloud: str | None) -> Connection:
        self.clouds.append(cloud)
        conn = RecordingConnection(
            auth_type="admin_token",
            auth={"endpoint": NEUTRON, "token": TOKEN},
            network_endpoint_override=NEUTRON,
        )
        self.connections.append(conn)
        return conn

    def requests(self) -> list[Request]:
        """(method, path, JSON body) of every request but version discovery, in order."""
        sent = []
        for request in self.mocker.request_history:
            if request.path == "/":
                continue
            assert request.headers.get("X-Auth-Token") == TOKEN
            sent.append((request.method, request.path, request.json() if request.body else None))
        return sent


def network_record(
    network_id: str, name: str, *, external: bool, mtu: int = 1500
) -> dict[str, Any]:
    """A network as Neutron lists it."""
    return {
        "id": network_id,
        "name": name,
        "router:external": external,
        "mtu": mtu,
        "status": "ACTIVE",
        "admin_state_up": True,
        "port_security_enabled": True,
    }


class FakeCloud(FakeNeutron):
    """:class:`FakeNeutron` that also lists networks (the external one, the project's internal
    ones), as the monitored network's preview-time lookup reads them, and that the program's
    own connection (clouds.yaml, ``openstack.connect``) reaches through :meth:`clouds_yaml`."""

    def __init__(
        self,
        mocker: requests_mock.Mocker,
        *,
        extensions: Sequence[str] = (),
        internal_mtus: Sequence[int] = (),
    ) -> None:
        super().__init__(mocker)
        self.extensions(extensions)
        self.records = [
            network_record(EXTERNAL_NETWORK, "public", external=True),
            # Not external: a router cannot take it as its gateway.
            network_record(PRIVATE_NETWORK, "private", external=False, mtu=1450),
        ] + [
            network_record(uuid_of("internal", str(i)), f"net-{i}", external=False, mtu=mtu)
            for i, mtu in enumerate(internal_mtus)
        ]
        mocker.get(
            re.compile(rf"{re.escape(NEUTRON)}/v2\.0/networks(/[^?]*)?(\?.*)?$"), json=self._answer
        )

    def _answer(self, request: Any, context: Any) -> Any:
        path = request.path.rstrip("/")
        if path != "/v2.0/networks":
            wanted = path.rsplit("/", 1)[1]
            found = [r for r in self.records if r["id"] == wanted]
            if not found:
                context.status_code = 404
                return {"NeutronError": {"type": "NetworkNotFound", "message": "not found"}}
            return {"network": found[0]}
        query = request.qs
        records = self.records
        if "name" in query:
            records = [r for r in records if r["name"].lower() == query["name"][0]]
        if "id" in query:
            records = [r for r in records if r["id"] == query["id"][0]]
        if "router:external" in query:
            external = query["router:external"][0] == "true"
            records = [r for r in records if r["router:external"] is external]
        return {"networks": records}

    def clouds_yaml(self, directory: Path, cloud: str = "devstack") -> Path:
        """A clouds.yaml whose ``cloud`` entry reaches this fake (point OS_CLIENT_CONFIG_FILE
        at it)."""
        path = directory / "clouds.yaml"
        entry = {
            "auth_type": "admin_token",
            "auth": {"endpoint": NEUTRON, "token": TOKEN},
            "network_endpoint_override": NEUTRON,
        }
        path.write_text(yaml.safe_dump({"clouds": {cloud: entry}}))
        return path
