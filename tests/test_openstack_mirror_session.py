"""The OpenStack MirrorSession facade under strict mocks: tap mirrors with distinct tunnel ids per
direction (GRE and ERSPAN), or a tap service on a monitor port with port security off and one tap
flow per source that waits for it; the preview lines; every refusal with nothing registered; and
the preview-time check of an existing monitor port against a fake Neutron."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pytest
import requests_mock
from openstack import exceptions as sdk_errors
from openstack.connection import Connection

from components import CloudtapInputError
from components.mirroring import Encapsulation
from components.openstack import mirror_session
from components.openstack.mirror_args import MirrorBackend
from components.openstack.mirror_session import MirrorSession
from tests.fakes.openstack import (
    ATTACH,
    DB_PORT,
    NETWORK,
    NEUTRON,
    PORT,
    SUBNET,
    TAP_FLOW,
    TAP_MIRROR,
    TAP_SERVICE,
    WEB_PORT,
    FakeNeutron,
    args,
    build,
    no_cloud,
    openstack_mocks,
    service_args,
    uuid_of,
)
from tests.mocks import Registration, StrictMocks, run_program

# openstacksdk warns about its own future removals on every call; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack")

SESSION_TYPES = {TAP_MIRROR, PORT, ATTACH, TAP_SERVICE, TAP_FLOW}

MONITOR_PORT = "c41f2e8a-6d3b-4a97-b0e5-7f18d2c9a354"
SENSOR_SERVER = "8d3e5f7a-1b9c-4e26-a0d4-c7f3b2e9a618"


@pytest.fixture
def mocks() -> StrictMocks:
    return openstack_mocks()


def by_name(registrations: list[Registration]) -> dict[str, Registration]:
    return {r.name: r for r in registrations}


def capture_info(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    lines: list[str] = []
    original: Callable[..., None] = pulumi.log.info

    def record(message: str, *rest: Any, **kwargs: Any) -> None:
        lines.append(message)
        original(message, *rest, **kwargs)

    monkeypatch.setattr(pulumi.log, "info", record)
    return lines


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# -- backend tap_mirror --------------------------------------------------------------------------


def test_tap_mirror_is_the_default_one_gre_mirror_per_port_to_the_sensor(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, args())

    mirrors = by_name(run.of_type(TAP_MIRROR))
    assert {name: m.inputs["portId"] for name, m in mirrors.items()} == {
        "mirror-web": WEB_PORT,
        "mirror-db": DB_PORT,
    }
    for child, mirror in mirrors.items():
        assert mirror.inputs["remoteIp"] == "10.0.128.10"
        assert mirror.inputs["mirrorType"] == "gre"
        assert mirror.inputs["name"] == child
    assert mirrors["mirror-web"].inputs["directions"] == {"in": 1, "out": 2}
    assert mirrors["mirror-db"].inputs["directions"] == {"in": 3, "out": 4}
    assert {r.type for r in run.resources} == {TAP_MIRROR, mirror_session.TYPE_TOKEN}
    (facade,) = run.of_type(mirror_session.TYPE_TOKEN)
    assert all(m.parent == facade.urn for m in mirrors.values())
    session = run.result
    assert session.backend is MirrorBackend.TAP_MIRROR
    assert session.encapsulation is Encapsulation.GRE
    assert session.tunnel_ids == {"web": {"IN": 1, "OUT": 2}, "db": {"IN": 3, "OUT": 4}}
    assert list(session.sessions) == ["mirror-web", "mirror-db"]
    assert session.tap_service is None
    assert session.monitor_port_id is None
    outputs = run.outputs_of(facade.urn)
    # None does not survive serialisation: the two tap_service outputs read as absent.
    assert {key: outputs.get(key) for key in (*outputs, "tap_service_id", "monitor_port_id")} == {
        "backend": "tap_mirror",
        "session_count": 2,
        "native_sources": ["web", "db"],
        "gateway_sources": [],
        "tunnel_ids": {"web": {"IN": 1, "OUT": 2}, "db": {"IN": 3, "OUT": 4}},
        "tap_service_id": None,
        "monitor_port_id": None,
    }


def test_erspan_mirrors_take_session_ids_from_the_first_tunnel_id(mocks: StrictMocks) -> None:
    run = build(mocks, args(mirror_type="erspanv1", first_tunnel_id=100))

    mirrors = by_name(run.of_type(TAP_MIRROR))
    assert {m.inputs["mirrorType"] for m in mirrors.values()} == {"erspanv1"}
    assert mirrors["mirror-web"].inputs["directions"] == {"in": 100, "out": 101}
    assert mirrors["mirror-db"].inputs["directions"] == {"in": 102, "out": 103}
    assert run.result.encapsulation is Encapsulation.ERSPAN


def test_one_direction_keeps_the_other_direction_s_id_reserved(mocks: StrictMocks) -> None:
    run = build(
        mocks,
        args(
            direction="IN",
            sources=[
                {"name": "web", "port_id": WEB_PORT},
                {"name": "db", "port_id": DB_PORT, "direction": "OUT"},
            ],
        ),
    )

    mirrors = by_name(run.of_type(TAP_MIRROR))
    assert mirrors["mirror-web"].inputs["directions"] == {"in": 1}
    assert mirrors["mirror-db"].inputs["directions"] == {"out": 4}
    assert run.result.tunnel_ids == {"web": {"IN": 1}, "db": {"OUT": 4}}


def test_appending_a_source_keeps_every_earlier_mirror_s_ids(mocks: StrictMocks) -> None:
    before = build(mocks, args(sources=[{"name": "web", "port_id": WEB_PORT}])).result.tunnel_ids
    after = build(openstack_mocks(), args()).result.tunnel_ids

    assert after["web"] == before["web"]


def test_every_tunnel_id_is_distinct_across_directions_and_sources(mocks: StrictMocks) -> None:
    sources = [{"port_id": uuid_of("port", str(i))} for i in range(40)]

    run = build(mocks, args(sources=sources, mirror_type="erspanv1"))

    ids = [int(i) for m in run.of_type(TAP_MIRROR) for i in m.inputs["directions"].values()]
    assert len(ids) == 80 == len(set(ids))
    assert max(ids) <= 1023


def test_a_source_without_a_name_is_keyed_by_its_port_id(mocks: StrictMocks) -> None:
    run = build(mocks, args(sources=[{"port_id": WEB_PORT}]))

    assert [m.name for m in run.of_type(TAP_MIRROR)] == [f"mirror-{WEB_PORT}"]
    assert run.result.native_sources == [WEB_PORT]


def test_a_port_created_by_the_program_needs_a_name_and_is_mirrored(mocks: StrictMocks) -> None:
    def program() -> MirrorSession:
        port = pulumi.Output.from_input(WEB_PORT)
        return MirrorSession(
            "mirror",
            args(sources=[{"name": "web", "port_id": port}]),  # type: ignore[arg-type]
            connect=no_cloud,
        )

    run = run_program(program, mocks)

    (mirror,) = run.of_type(TAP_MIRROR)
    assert mirror.inputs["portId"] == WEB_PORT
    assert mirror.inputs["directions"] == {"in": 1, "out": 2}


# -- backend tap_service -------------------------------------------------------------------------


def test_tap_service_on_a_created_monitor_port_with_port_security_off(mocks: StrictMocks) -> None:
    run = build(
        mocks,
        service_args(
            target={
                "monitor_port": {
                    "network_id": NETWORK,
                    "subnet_id": SUBNET,
                    "fixed_ip": "10.0.128.20",
                    "instance_id": SENSOR_SERVER,
                }
            },
            cloud="lab",
        ),
    )

    port = run.named("mirror-monitor-port")
    assert port.inputs["portSecurityEnabled"] is False
    assert port.inputs["noSecurityGroups"] is True
    assert "securityGroupIds" not in port.inputs
    assert port.inputs["networkId"] == NETWORK
    assert port.inputs["fixedIps"] == [{"subnetId": SUBNET, "ipAddress": "10.0.128.20"}]
    attach = run.named("mirror-monitor-port-attach")
    assert attach.inputs == {"instanceId": SENSOR_SERVER, "portId": port.id}
    service = run.named("mirror-service")
    assert service.inputs["port_id"] == port.id
    assert service.inputs["cloud"] == "lab"
    # The service is set up on the attached port, and removed before the port is detached.
    assert attach.urn in service.dependencies
    flows = by_name(run.of_type(TAP_FLOW))
    assert {name: f.inputs["source_port"] for name, f in flows.items()} == {
        "mirror-web": WEB_PORT,
        "mirror-db": DB_PORT,
    }
    for flow in flows.values():
        assert flow.inputs["tap_service_id"] == service.id
        assert flow.inputs["direction"] == "BOTH"
        assert flow.inputs["cloud"] == "lab"
        assert "vlan_filter" not in flow.inputs
        # The dependency is what makes Pulumi delete the flows before the service.
        assert service.urn in flow.dependencies
    session = run.result
    assert session.encapsulation is None
    assert session.tap_mirrors == {}
    assert list(session.sessions) == ["mirror-web", "mirror-db"]
    assert run.resolve(session.monitor_port_id) == port.id
    (facade,) = run.of_type(mirror_session.TYPE_TOKEN)
    outputs = run.outputs_of(facade.urn)
    assert outputs["tap_service_id"] == service.id
    assert outputs["monitor_port_id"] == port.id
    assert outputs["tunnel_ids"] == {}


def test_a_monitor_port_in_a_network_alone_lets_neutron_pick_the_address(
    mocks: StrictMocks,
) -> None:
    run = build(mocks, service_args(target={"monitor_port": {"network_id": NETWORK}}))

    port = run.named("mirror-monitor-port")
    assert "fixedIps" not in port.inputs
    assert port.inputs["portSecurityEnabled"] is False
    assert run.of_type(ATTACH) == []
    assert run.named("mirror-service").dependencies == (port.urn,)


def test_flows_take_directions_and_vlan_filters_per_source(mocks: StrictMocks) -> None:
    run = build(
        mocks,
        service_args(
            direction="IN",
            vlan_filter="100-199",
            sources=[
                {"name": "web", "port_id": WEB_PORT},
                {"name": "db", "port_id": DB_PORT, "direction": "OUT", "vlan_filter": "7"},
            ],
        ),
    )

    flows = by_name(run.of_type(TAP_FLOW))
    assert (flows["mirror-web"].inputs["direction"], flows["mirror-web"].inputs["vlan_filter"]) == (
        "IN",
        "100-199",
    )
    assert (flows["mirror-db"].inputs["direction"], flows["mirror-db"].inputs["vlan_filter"]) == (
        "OUT",
        "7",
    )


@pytest.fixture
def neutron() -> Iterator[FakeNeutron]:
    with requests_mock.Mocker() as mocker:
        yield FakeNeutron(mocker)


def neutron_port(neutron: FakeNeutron, **fields: Any) -> None:
    body = {
        "id": MONITOR_PORT,
        "network_id": NETWORK,
        "port_security_enabled": False,
        "security_groups": [],
        **fields,
    }
    neutron.mocker.get(f"{NEUTRON}/v2.0/ports/{MONITOR_PORT}", json={"port": body})


def test_an_existing_monitor_port_is_checked_once_at_preview_and_used(
    mocks: StrictMocks, neutron: FakeNeutron
) -> None:
    neutron_port(neutron)

    run = build(
        mocks,
        service_args(target={"port_id": MONITOR_PORT}, cloud="lab"),
        connect=neutron.connect,
    )

    assert neutron.requests() == [("GET", f"/v2.0/ports/{MONITOR_PORT}", None)]
    assert neutron.clouds == ["lab"]
    assert all(conn.closed for conn in neutron.connections)
    assert run.of_type(PORT) == []
    assert run.named("mirror-service").inputs["port_id"] == MONITOR_PORT
    assert len(run.of_type(TAP_FLOW)) == 2


@pytest.mark.parametrize(
    ("fields", "phrase"),
    [
        ({"port_security_enabled": True}, "port_security_enabled=True"),
        (
            {"security_groups": ["f1b2c3d4-0000-4000-8000-000000000000"]},
            "security groups ['f1b2c3d4-0000-4000-8000-000000000000']",
        ),
    ],
)
def test_an_existing_monitor_port_with_port_security_is_refused(
    mocks: StrictMocks, neutron: FakeNeutron, fields: dict[str, Any], phrase: str
) -> None:
    neutron_port(neutron, **fields)

    with pytest.raises(CloudtapInputError) as error:
        build(mocks, service_args(target={"port_id": MONITOR_PORT}), connect=neutron.connect)

    assert error.value.field == "target.port_id"
    assert phrase in error.value.expected
    assert f"--disable-port-security {MONITOR_PORT}" in error.value.expected
    assert mocks.registrations == []


def test_a_monitor_port_neutron_does_not_know_is_refused(
    mocks: StrictMocks, neutron: FakeNeutron
) -> None:
    neutron.mocker.get(
        f"{NEUTRON}/v2.0/ports/{MONITOR_PORT}",
        status_code=404,
        json={"NeutronError": {"type": "PortNotFound", "message": "Port not found", "detail": ""}},
    )

    with pytest.raises(CloudtapInputError) as error:
        build(mocks, service_args(target={"port_id": MONITOR_PORT}), connect=neutron.connect)

    assert error.value.field == "target.port_id"
    assert "an existing port of this project" in error.value.expected
    assert mocks.registrations == []


def test_a_preview_without_openstack_credentials_says_what_to_set(mocks: StrictMocks) -> None:
    def unconfigured(cloud: str | None) -> Connection:
        raise sdk_errors.ConfigException(f"Cloud {cloud} was not found.")

    with pytest.raises(CloudtapInputError) as error:
        build(
            mocks,
            service_args(target={"port_id": MONITOR_PORT}, cloud="lab"),
            connect=unconfigured,
        )

    assert error.value.field == "target.port_id"
    assert "Cloud lab was not found" in error.value.expected
    assert "OS_* variables" in error.value.expected
    assert mocks.registrations == []


def test_a_monitor_port_created_by_the_program_is_warned_about_not_looked_up(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    def program() -> MirrorSession:
        port = pulumi.Output.from_input(MONITOR_PORT)
        return MirrorSession(
            "mirror",
            service_args(target={"port_id": port}),  # type: ignore[arg-type]
            connect=no_cloud,
        )

    run = run_program(program, mocks)

    assert run.named("mirror-service").inputs["port_id"] == MONITOR_PORT
    assert [w for w in warnings_of(caplog) if "cannot check it" in w]


def test_more_flows_than_neutron_s_default_quota_are_warned_about(
    mocks: StrictMocks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    sources = [{"port_id": uuid_of("port", str(i))} for i in range(11)]

    build(mocks, service_args(sources=sources))

    assert [w for w in warnings_of(caplog) if "11 tap flows" in w and "quota_tap_flow" in w]


# -- the preview ---------------------------------------------------------------------------------


def test_preview_lines_of_tap_mirrors_name_the_tunnel_ids(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = capture_info(monkeypatch)

    build(mocks, args(mirror_type="erspanv1"))

    assert lines == [
        f"web (Neutron port): native mirroring of 1 interface ({WEB_PORT}) — Tap-as-a-Service "
        "tap mirror to 10.0.128.10 over ERSPAN v1, tunnel ids IN 1, OUT 2",
        f"db (Neutron port): native mirroring of 1 interface ({DB_PORT}) — Tap-as-a-Service "
        "tap mirror to 10.0.128.10 over ERSPAN v1, tunnel ids IN 3, OUT 4",
    ]


def test_preview_lines_of_tap_flows_name_the_monitor_port(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch, neutron: FakeNeutron
) -> None:
    neutron_port(neutron)
    lines = capture_info(monkeypatch)

    build(
        mocks,
        service_args(
            target={"port_id": MONITOR_PORT},
            sources=[{"name": "web", "port_id": WEB_PORT, "vlan_filter": "10"}],
        ),
        connect=neutron.connect,
    )
    build(openstack_mocks(), service_args(sources=[{"name": "db", "port_id": DB_PORT}]))

    assert lines == [
        f"web (Neutron port): native mirroring of 1 interface ({WEB_PORT}) — Tap-as-a-Service "
        f"tap flow (BOTH) to the tap service on monitor port {MONITOR_PORT}, VLANs 10 only",
        f"db (Neutron port): native mirroring of 1 interface ({DB_PORT}) — Tap-as-a-Service "
        f"tap flow (BOTH) to the tap service on the monitor port cloudtap creates in network "
        f"{NETWORK}",
    ]


# -- checks: nothing is registered on error ------------------------------------------------------

TOO_MANY_FOR_ERSPAN = [{"port_id": uuid_of("port", str(i))} for i in range(512)]


@pytest.mark.parametrize(
    ("session_args", "field", "phrase"),
    [
        (args(method="auto"), "method", "pass network (MonitoredOpenStackNetwork)"),
        (args(method="gateway"), "method", "native without network"),
        (args(backend="taas"), "backend", "['tap_mirror', 'tap_service']"),
        (args(target=None), "target", "mirroring needs a target"),
        (args(target={"port_id": MONITOR_PORT}), "target", "with backend tap_mirror"),
        (service_args(target={"sensor_ip": "10.0.128.10"}), "target", "with backend tap_service"),
        (
            service_args(target={"port_id": MONITOR_PORT, "monitor_port": {"network_id": NETWORK}}),
            "target",
            "exactly one of port_id",
        ),
        (
            args(target={"sensor": "10.0.128.10"}),
            "target.sensor",
            "an OpenStackSensor on the session",
        ),
        (args(target={"sensor_ip": "sensor.lab"}), "target.sensor_ip", "an IPv4 address"),
        (args(target={"sensor_ip": "224.0.0.1"}), "target.sensor_ip", "unicast"),
        (
            service_args(target={"port_id": "sensor-port"}),
            "target.port_id",
            "a UUID such as",
        ),
        (
            service_args(target={"monitor_port": {"subnet_id": SUBNET}}),
            "target.monitor_port.network_id",
            "the Neutron network",
        ),
        (
            service_args(target={"monitor_port": {"network_id": NETWORK, "fixed_ip": "10.0.0.9"}}),
            "target.monitor_port.fixed_ip",
            "no value without subnet_id",
        ),
        (
            service_args(
                target={"monitor_port": {"network_id": NETWORK, "security_group_ids": []}}
            ),
            "target.monitor_port.security_group_ids",
            "one of the fields",
        ),
        (
            service_args(target={"monitor_port": {"network_id": NETWORK, "instance_id": "vm1"}}),
            "target.monitor_port.instance_id",
            "Nova server id",
        ),
        (args(mirror_type="vxlan"), "mirror_type", "['gre', 'erspanv1']"),
        (service_args(mirror_type="gre"), "mirror_type", "only tap_mirror uses it"),
        (service_args(first_tunnel_id=5), "first_tunnel_id", "only tap_mirror uses it"),
        (args(vlan_filter="1-5"), "vlan_filter", "only tap_service uses it"),
        (
            args(mirror_type="erspanv1", first_tunnel_id=1024),
            "first_tunnel_id",
            "from 0 to 1023",
        ),
        (args(first_tunnel_id=-1), "first_tunnel_id", "from 0 to 4294967295"),
        (args(first_tunnel_id=True), "first_tunnel_id", "an integer"),
        (
            args(mirror_type="erspanv1", sources=TOO_MANY_FOR_ERSPAN),
            "first_tunnel_id",
            "at most 0, so that 512 sources",
        ),
        (
            args(mirror_type="erspanv1", first_tunnel_id=1000, sources=TOO_MANY_FOR_ERSPAN[:20]),
            "first_tunnel_id",
            "at most 984, so that 20 sources (two tunnel ids each, 40 in all) end by 1023",
        ),
        (args(direction="both"), "direction", "upper case"),
        (service_args(vlan_filter="0-5"), "vlan_filter", "each id from 1 to 4094"),
        (service_args(vlan_filter="9-3"), "vlan_filter", "runs backwards"),
        (
            args(sources=[{"name": "web", "port_id": WEB_PORT, "vlan_filter": "7"}]),
            "sources[0].vlan_filter",
            "only tap flows",
        ),
        (
            args(sources=[{"name": "web", "port_id": WEB_PORT, "direction": "IN_OUT"}]),
            "sources[0].direction",
            "one of ['IN', 'OUT', 'BOTH']",
        ),
        (args(sources=[]), "sources", "at least one source"),
        (args(sources={"port_id": WEB_PORT}), "sources", "a list of source mappings"),
        (args(sources=[{"name": "web"}]), "sources[0].port_id", "the Neutron id"),
        (args(sources=[{"port_id": "web-port"}]), "sources[0].port_id", "a UUID such as"),
        (
            args(sources=[{"port_id": WEB_PORT}, {"name": "again", "port_id": WEB_PORT.upper()}]),
            "sources[1].port_id",
            "copied twice",
        ),
        (
            args(
                sources=[{"name": "web", "port_id": WEB_PORT}, {"name": "web", "port_id": DB_PORT}]
            ),
            "sources[1].name",
            "a name not already used by sources[0]",
        ),
        (
            args(sources=[{"name": "web/1", "port_id": WEB_PORT}]),
            "sources[0].name",
            "1-63 letters",
        ),
        (
            service_args(
                target={"port_id": MONITOR_PORT}, sources=[{"name": "s", "port_id": MONITOR_PORT}]
            ),
            "sources[0].port_id",
            "a loop",
        ),
        (args(filter_presets=["drop_intra_vpc"]), "filter_presets", "vlan_filter"),
        (args(virtual_network_id=5), "virtual_network_id", "first_tunnel_id"),
        (args(network="net-1"), "network", "MonitoredOpenStackNetwork whose gateway"),
        (args(tags={"team": "secops"}), "tags", "take no tags"),
        (args(session_number=1), "session_number", "AWS Traffic Mirroring setting"),
        (args(cloud=""), "cloud", "clouds.yaml"),
        (args(sensor_ip="10.0.128.10"), "sensor_ip", "one of the fields"),
    ],
)
def test_wrong_arguments_fail_before_anything_is_registered(
    mocks: StrictMocks, session_args: dict[str, Any], field: str, phrase: str
) -> None:
    with pytest.raises(CloudtapInputError) as error:
        build(mocks, session_args)

    assert error.value.field == field
    assert phrase in error.value.expected, error.value.expected
    assert str(error.value).startswith(f"{field}: got ")
    assert mocks.registrations == []


def test_a_port_created_by_the_program_without_a_name_is_refused(mocks: StrictMocks) -> None:
    def program() -> MirrorSession:
        port = pulumi.Output.from_input(WEB_PORT)
        return MirrorSession(
            "mirror",
            args(sources=[{"port_id": port}]),  # type: ignore[arg-type]
            connect=no_cloud,
        )

    with pytest.raises(CloudtapInputError) as error:
        run_program(program, mocks)

    assert error.value.field == "sources[0].name"
    assert "only known after deployment" in error.value.expected
    assert mocks.registrations == []


def test_two_sessions_of_one_project_deploy_side_by_side_with_their_own_id_blocks(
    mocks: StrictMocks,
) -> None:
    # The fake refuses a tunnel id twice, as Neutron does (409 TapMirrorTunnelConflict): two
    # sessions of one project need their own first_tunnel_id blocks.
    def program() -> None:
        MirrorSession("blue", args(), connect=no_cloud)  # type: ignore[arg-type]
        MirrorSession(
            "green",
            args(  # type: ignore[arg-type]
                sources=[{"name": "cache", "port_id": MONITOR_PORT}], first_tunnel_id=1001
            ),
            connect=no_cloud,
        )

    run = run_program(program, mocks)

    assert by_name(run.of_type(TAP_MIRROR))["green-cache"].inputs["directions"] == {
        "in": 1001,
        "out": 1002,
    }
    assert len(run.of_type(TAP_MIRROR)) == 3


def test_components_exports_the_facade_under_cloud_prefixed_names() -> None:
    import components  # noqa: PLC0415
    import components.openstack  # noqa: PLC0415

    assert components.OpenStackMirrorSession is MirrorSession
    assert components.openstack.MirrorSession is MirrorSession
    assert components.OpenStackMirrorBackend is MirrorBackend
    assert components.OpenStackMirrorSessionArgs is components.openstack.MirrorSessionArgs
