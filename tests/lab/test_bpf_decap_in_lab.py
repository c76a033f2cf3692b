"""The sensor's decapsulation paths side by side in the lab: the tc BPF program and the Python
fallback decapsulate the same streams byte for byte (every cloud's feed, the gateway mirror's
bulk TCP with final checksums), lose nothing of a 2000-packet burst per feed, and ``check``
names the path each feed takes and notices a broken program."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from lab import CheckResult, Host, Lab, Status, checks
from lab.checks.common import feed_paths

pytestmark = pytest.mark.lab

ALL_FEEDS = ("vxlan", "geneve", "gre", "erspan")
PATHS = {"bpf": "bpf python", "python": "python"}
"""CLOUDTAP_SENSOR_PATHS that put every feed on one path (no kernel device)."""


def assert_passed(results: Sequence[CheckResult]) -> None:
    assert results, "the check produced no result"
    failures = [result.line() for result in results if result.status is not Status.PASS]
    assert not failures, "\n".join(failures)


@pytest.fixture
def on_path(lab: Lab, request: pytest.FixtureRequest) -> Iterator[str]:
    """Every feed on the path named by the test's parameter; the lab's default paths again
    afterwards."""
    path: str = request.param
    lab.sensor_paths = PATHS[path]
    try:
        lab.sensor("apply", check=True)
        yield path
    finally:
        lab.sensor_paths = None
        lab.sensor("apply", check=True)


def expected_path(path: str, lab: Lab) -> str:
    if path == "bpf":
        return f"bpf {lab.topology.link_of(Host.SENSOR).host_interface}"
    return "cloudtap-decap"


@pytest.mark.parametrize("on_path", ["bpf", "python"], indirect=True)
def test_every_stream_arrives_byte_identical_on_each_path(lab: Lab, on_path: str) -> None:
    assert feed_paths(lab) == {feed: expected_path(on_path, lab) for feed in ALL_FEEDS}
    results = checks.sensor_decapsulates_every_feed(lab)
    assert_passed(results)
    # Every stream (ERSPAN III included), then the feed from outside the sources.
    assert len(results) == 8
    assert all(expected_path(on_path, lab) in result.detail for result in results[:7])


@pytest.mark.parametrize("on_path", ["bpf", "python"], indirect=True)
def test_a_burst_of_2000_packets_per_feed_loses_nothing_on_each_path(
    lab: Lab, on_path: str
) -> None:
    results = checks.sensor_loses_nothing_in_a_burst(lab)
    assert_passed(results)
    assert len(results) == 7
    if on_path == "bpf":
        assert all("the tc BPF program decapsulated 2000, dropped 0" in r.detail for r in results)
    else:
        assert all("cloudtap-decap wrote 2000" in r.detail for r in results)


@pytest.mark.parametrize("on_path", ["bpf"], indirect=True)
def test_gateway_mirror_bulk_tcp_through_bpf_is_the_wire_packets(lab: Lab, on_path: str) -> None:
    """The gateway's own VXLAN copies of a bulk TCP transfer, taken off by the BPF program:
    byte-identical to the app's wire packets, checksums included."""
    assert feed_paths(lab)["vxlan"] == expected_path(on_path, lab)
    assert_passed(checks.bulk_tcp_copies_are_the_wire_packets(lab))


def test_the_default_sensor_uses_bpf_for_what_this_kernel_cannot_terminate(lab: Lab) -> None:
    paths = feed_paths(lab)
    assert paths["geneve"].startswith("bpf ")  # never a kernel device
    for feed in ("vxlan", "gre", "erspan"):
        assert paths[feed].startswith(("kernel ", "bpf ")), paths
    checked = lab.sensor("check")
    assert "tc BPF decapsulator on" in checked.stderr
    assert "cloudtap-decap" not in checked.stderr


def test_the_sensors_own_traffic_passes_the_program_untouched(lab: Lab) -> None:
    sensor = str(lab.address(Host.SENSOR))
    assert lab.bpf_program() is not None
    result = lab.run(Host.GATEWAY, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", sensor)
    assert " 0% packet loss" in result.stdout, result.stdout


def test_check_names_a_program_whose_maps_are_wrong_and_apply_repairs_it(lab: Lab) -> None:
    program = lab.bpf_program()
    assert program is not None
    capture = lab.sensor_plan.capture_interface
    argv = [lab.python, "-I", str(lab.bpf_helper_path), "configure", "--prog-id"]
    argv += [str(program[1]), "--feeder", capture, "--feeds", "geneve gre erspan"]
    argv += ["--allow", "10.0.0.0/8"]
    lab.run(Host.SENSOR, *argv)
    try:
        checked = lab.sensor("check")
        assert checked.returncode == 1
        assert "misconfigured" in checked.stderr
        assert "redirects to interface" in checked.stderr
        assert "takes feeds from 10.0.0.0/8" in checked.stderr
    finally:
        lab.sensor("apply", check=True)
    assert lab.sensor("check").returncode == 0


def test_a_sensor_that_cannot_load_the_program_falls_back_to_python_and_says_so(
    lab: Lab,
) -> None:
    moved = lab.bpf_object_path.with_suffix(".away")
    lab.bpf_object_path.rename(moved)
    try:
        applied = lab.sensor("apply", check=True)
        assert "the tc BPF decapsulator cannot run here" in applied.stderr
        assert "is missing" in applied.stderr
        assert lab.bpf_program() is None
        assert feed_paths(lab)["geneve"] == "cloudtap-decap"
        assert "geneve: cloudtap-decap (Python: the slow fallback)" in lab.sensor("check").stderr
    finally:
        moved.rename(lab.bpf_object_path)
        lab.sensor("apply", check=True)
    assert feed_paths(lab)["geneve"].startswith("bpf ")
