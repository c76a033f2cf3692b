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
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests_mock
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

    def handlers(self) -> dict[str, Callable[[StrictMocks, MockResourceArgs], Any]]:
        return {
            TAP_MIRROR: self.tap_mirror,
            PORT: self.port,
            ATTACH: self.attach,
            TAP_SERVICE: self.tap_service,
            TAP_FLOW: self.tap_flow,
        }

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
    return StrictMocks(
        resources=FakeTaas().handlers(), components=COMPONENT_TYPES | {mirror_session.TYPE_TOKEN}
    )


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
