"""The gateway mirror and the sensor, rendered and run in network namespaces: one test per
behaviour of the issue "Mirroring on AWS" (data plane).

The tests call the same check functions as ``python -m lab``; each result carries its
evidence, which becomes the assertion message.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from components import sensor
from components.cloud_config import written_files
from lab import CheckResult, Host, Lab, Status, checks
from lab.topology import VPC_MTU

pytestmark = pytest.mark.lab


def assert_passed(results: Sequence[CheckResult]) -> None:
    assert results, "the check produced no result"
    failures = [result.line() for result in results if result.status is not Status.PASS]
    assert not failures, "\n".join(failures)


def by_subject(results: Sequence[CheckResult]) -> dict[str, CheckResult]:
    return {result.subject: result for result in results}


def test_sensor_runs_the_files_its_cloud_config_writes(lab: Lab) -> None:
    rendered = written_files(sensor.render_cloud_config(lab.sensor_plan))
    assert lab.sensor_script_path.read_text() == rendered[sensor.SCRIPT_PATH].content
    assert lab.decap_path.read_text() == rendered[sensor.DECAP_PATH].content
    assert lab.sensor_settings_path.read_text() == sensor.render_settings(lab.sensor_plan)
    assert f'FEED_SOURCE_CIDRS="{lab.topology.plan.cidr_block}"' in (
        lab.sensor_settings_path.read_text()
    )


def test_sensor_check_reports_each_feeds_decapsulation_path(lab: Lab) -> None:
    checked = lab.sensor("check")
    assert checked.returncode == 0, checked.stderr
    # This kernel has the vxlan driver but neither geneve nor ip_gre: the tc BPF program takes
    # those, and Python is not needed.
    assert "vxlan: kernel cloudtap-vxlan" in checked.stderr
    assert "geneve: bpf eth0, gre: bpf eth0, erspan: bpf eth0" in checked.stderr
    assert "cloudtap-decap" not in checked.stderr
    assert "arrive on eth0 (MTU 9001)" in checked.stderr


def test_gateway_mirrors_to_the_lab_sensor_over_a_jumbo_underlay(lab: Lab) -> None:
    checked = lab.gateway("check")
    sensor_address = lab.address(Host.SENSOR)
    assert f"mirroring private-tier traffic on gw-priv to {sensor_address} (VXLAN VNI 4242)" in (
        checked.stderr
    )
    assert 'MIRROR_UNDERLAY_MTU="9001"' in lab.settings_path.read_text()
    mtu = lab.run(Host.GATEWAY, "cat", "/sys/class/net/gw-mon/mtu").stdout.strip()
    assert mtu == str(VPC_MTU)


def test_app_traffic_shows_on_the_sensor_both_directions(lab: Lab) -> None:
    results = checks.mirror_shows_app_traffic_at_the_sensor(lab)
    assert_passed(results)
    detail = results[0].detail
    assert "ICMP echo request 10.0.64.10 > 203.0.113.10" in detail
    assert "ICMP echo reply 203.0.113.10 > 10.0.64.10" in detail
    assert "TCP 203.0.113.10:" in results[1].detail


def test_every_forwarded_packet_arrives_once_byte_for_byte(lab: Lab) -> None:
    results = by_subject(checks.mirror_copies_every_forwarded_packet_exactly(lab))
    exact = results["app <-> internet and port forwards, byte-for-byte"]
    assert exact.status is Status.PASS, exact.line()
    assert "0 missing, 0 extra, 0 duplicated" in exact.detail
    assert "whole Ethernet frames" in exact.detail


def test_the_sensors_own_traffic_and_the_feed_are_never_copied(lab: Lab) -> None:
    results = by_subject(checks.mirror_copies_every_forwarded_packet_exactly(lab))
    amplification = results["no amplification: own traffic and feed never copied"]
    assert amplification.status is Status.PASS, amplification.line()


def test_every_cloud_feed_format_arrives_decapsulated_and_byte_exact(lab: Lab) -> None:
    results = checks.sensor_decapsulates_every_feed(lab)
    assert_passed(results)
    assert len(results) == 8  # seven formats and the refused outsider
    assert "via kernel cloudtap-vxlan" in results[0].detail
    assert "60 to 8000 bytes" in results[0].detail


def test_production_forwarding_loses_nothing_while_the_sensor_is_down(lab: Lab) -> None:
    results = checks.production_survives_a_sensor_outage(lab)
    assert_passed(results)
    assert [result.subject for result in results] == [
        "sensor healthy (baseline)",
        "sensor link down",
        "sensor decapsulation removed",
        "sensor address gone",
    ]


def test_gateway_check_names_each_broken_piece_of_the_mirror(lab: Lab) -> None:
    results = checks.gateway_check_names_a_broken_mirror(lab)
    assert_passed(results)
    assert len(results) == 4


def test_sensor_check_names_each_missing_piece(lab: Lab) -> None:
    results = checks.sensor_check_names_what_is_missing(lab)
    assert_passed(results)
    assert len(results) == 5


def test_sensor_apply_again_changes_nothing_and_keeps_the_decapsulator(lab: Lab) -> None:
    assert_passed(checks.sensor_apply_is_idempotent(lab))


def test_gateway_apply_again_leaves_the_mirror_table_byte_identical(lab: Lab) -> None:
    results = checks.apply_is_idempotent(lab)
    assert_passed(results)
    assert "table netdev cloudtap_mirror too" in results[0].detail
