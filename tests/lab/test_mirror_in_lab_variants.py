"""Other mirror and sensor shapes in the lab: a sensor elsewhere in the monitor tier with its own
VNI and capture interface, tee clones, a one-armed gateway's choice of interface, and a sensor
that no kernel device decapsulates for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from components.network_plan import plan_network
from lab import Host, Lab, Status, checks

pytestmark = pytest.mark.lab

ELSEWHERE = {
    "gateway_mirror": {"sensor_address": "10.0.144.20", "vni": 77},
    "availability_zone_count": 2,
}


@pytest.fixture(scope="module")
def elsewhere_lab(lab_environment: None) -> Iterator[Lab]:
    sensor_args = {"capture_interface": "ids0", "feeds": ["vxlan", "geneve"], "capture_mtu": 9100}
    with Lab.create(plan_network(ELSEWHERE), sensor_args=sensor_args) as lab:
        yield lab


def test_the_lab_sensor_sits_at_the_mirrors_sensor_address(elsewhere_lab: Lab) -> None:
    assert str(elsewhere_lab.address(Host.SENSOR)) == "10.0.144.20"
    checked = elsewhere_lab.gateway("check")
    assert "to 10.0.144.20 (VXLAN VNI 77)" in checked.stderr, checked.stderr


def test_a_sensor_with_its_own_interface_and_feeds_decapsulates_only_those(
    elsewhere_lab: Lab,
) -> None:
    checked = elsewhere_lab.sensor("check")
    assert checked.returncode == 0, checked.stderr
    assert "capture interface ids0 (MTU 9100); vxlan: kernel cloudtap-vxlan, geneve: " in (
        checked.stderr
    )
    assert "gre" not in checked.stderr
    assert "geneve: bpf eth0" in checked.stderr
    assert "tc BPF decapsulator on eth0: geneve " in checked.stderr
    assert not (elsewhere_lab.sensor_run_dir / "decap.conf").exists()  # no Python needed


def test_copies_reach_a_sensor_in_another_zones_subnet(elsewhere_lab: Lab) -> None:
    results = checks.mirror_shows_app_traffic_at_the_sensor(elsewhere_lab)
    assert [result.status for result in results] == [Status.PASS] * len(results), [
        result.line() for result in results
    ]
    assert "on the sensor's ids0" in results[0].detail


def test_a_one_armed_gateway_mirrors_on_the_interface_routing_to_the_private_tier(
    elsewhere_lab: Lab, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No interface carries a private address here (as on AWS, one ENI in the public subnet):
    the interface the route to the private tier uses is the one mirrored."""
    settings = elsewhere_lab.settings_path.read_text().replace(
        'PRIVATE_CIDRS="10.0.64.0/20 10.0.80.0/20"', 'PRIVATE_CIDRS="10.0.80.0/20"'
    )
    one_armed = tmp_path_factory.mktemp("one-armed") / "gateway.conf"
    one_armed.write_text(settings)
    result = elsewhere_lab.run(
        Host.GATEWAY,
        "bash",
        str(elsewhere_lab.script_path),
        "render",
        env={
            "CLOUDTAP_GATEWAY_CONF": str(one_armed),
            "CLOUDTAP_NET_LIBRARY": str(elsewhere_lab.net_library_path),
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        },
    )
    assert 'type filter hook ingress device "gw-pub" priority filter' in result.stdout
    assert 'type filter hook egress device "gw-pub" priority filter' in result.stdout
    assert 'device "gw-priv"' not in result.stdout


@pytest.fixture(scope="module")
def tee_lab(lab_environment: None) -> Iterator[Lab]:
    with Lab.create(plan_network({"gateway_mirror": {"mode": "tee"}})) as lab:
        yield lab


def test_tee_clones_reach_a_sensor_on_the_same_segment_both_directions(tee_lab: Lab) -> None:
    checked = tee_lab.gateway("check")
    assert "teeing private-tier traffic on gw-priv to next hop 10.0.128.10" in checked.stderr
    results = checks.mirror_shows_app_traffic_at_the_sensor(tee_lab)
    assert results[0].status is Status.PASS, results[0].line()
    assert "on the sensor's eth0: ICMP echo request 10.0.64.10 > 203.0.113.10" in (
        results[0].detail
    )
    assert tee_lab.mirror_table() == ""  # no VXLAN mirror in tee mode


def test_tee_copies_are_not_claimed_to_be_byte_identical(tee_lab: Lab) -> None:
    results = checks.mirror_copies_every_forwarded_packet_exactly(tee_lab)
    assert [result.status for result in results] == [Status.SKIP]
    assert "TTL" in results[0].detail


@pytest.fixture(scope="module")
def decap_only_lab(lab_environment: None) -> Iterator[Lab]:
    """A sensor taking only GENEVE, which no kernel device ever serves: no kernel device at
    all, as on a kernel without the VXLAN, GRE and ERSPAN drivers."""
    with Lab.create(plan_network(), sensor_args={"feeds": ["geneve"]}) as lab:
        yield lab


def test_a_sensor_without_kernel_devices_is_checked_for_what_it_runs(decap_only_lab: Lab) -> None:
    results = checks.sensor_apply_is_idempotent(decap_only_lab)
    assert [result.status for result in results] == [Status.PASS], [r.line() for r in results]
    assert results[0].detail == (
        "nftables table, links, tc BPF decapsulator unchanged after 2 more runs; no kernel "
        "device decapsulates a feed here, so no tc redirect to compare"
    )
