"""``vlan_by_vni`` in the lab: with VNI 77 on VLAN 100, the kernel path (the vxlan device and
its tc tagger), the tc BPF program and cloudtap-decap deliver every cloud's stream with exactly
the same bytes: VNI 77's copies (AWS VXLAN, and GWLB GENEVE around VXLAN by its inner VNI) with
the tag after the MACs, everything else byte-identical to today. The map changes in place, a
tagger whose maps are wrong fails ``check``, a kernel device that cannot tag hands its feed on,
and without the map every path is today's again."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence

import pytest

from components import sensor
from lab import CheckResult, Host, Lab, Status, checks
from lab.checks.common import feed_paths

pytestmark = pytest.mark.lab

VLANS = {77: 100}
"""The AWS stream's VNI (and the GWLB mirror's inner one) is listed; Azure's 4000001 is not."""
PATHS = {"kernel": None, "bpf": "bpf python", "python": "python"}
"""CLOUDTAP_SENSOR_PATHS: the default (vxlan through the kernel device here), all on the tc
program, all on cloudtap-decap."""


def assert_passed(results: Sequence[CheckResult]) -> None:
    assert results, "the check produced no result"
    failures = [result.line() for result in results if result.status is not Status.PASS]
    assert not failures, "\n".join(failures)


def set_vlans(lab: Lab, vlans: Mapping[int, int]) -> None:
    """Render the lab sensor's settings with ``vlans`` and apply them in place."""
    lab.sensor_plan = dataclasses.replace(lab.sensor_plan, vlan_by_vni=tuple(sorted(vlans.items())))
    lab.sensor_settings_path.write_text(sensor.render_settings(lab.sensor_plan), encoding="utf-8")
    applied = lab.sensor("apply-settings", str(lab.sensor_settings_path))
    assert applied.returncode == 0, applied.stderr


@pytest.fixture
def tagging(lab: Lab) -> Iterator[Lab]:
    """The sensor tags VNI 77 with VLAN 100; afterwards the default paths and no tags again."""
    set_vlans(lab, VLANS)
    try:
        yield lab
    finally:
        lab.sensor_paths = None
        set_vlans(lab, {})


def capture_of(results: Sequence[CheckResult]) -> str:
    found = re.search(r"capture ([0-9a-f]{16})$", results[-1].detail)
    assert found, results[-1].detail
    return found[1]


def expected_paths(path: str, lab: Lab) -> dict[str, str]:
    underlay = f"bpf {lab.topology.link_of(Host.SENSOR).host_interface}"
    if path == "python":
        return dict.fromkeys(("vxlan", "geneve", "gre", "erspan"), "cloudtap-decap")
    if path == "bpf":
        return dict.fromkeys(("vxlan", "geneve", "gre", "erspan"), underlay)
    return {"vxlan": "kernel cloudtap-vxlan", "geneve": underlay}


def test_every_path_tags_the_listed_vni_alike_and_leaves_the_rest_untouched(tagging: Lab) -> None:
    lab = tagging
    captures = {}
    for path, setting in PATHS.items():
        lab.sensor_paths = setting
        lab.sensor("apply", check=True)
        paths = feed_paths(lab)
        for feed, want in expected_paths(path, lab).items():
            assert paths[feed] == want, (path, paths)
        checked = lab.sensor("check")
        assert "802.1Q tags by VNI (VNI:VLAN) 77:100 on every path" in checked.stderr
        if path == "kernel":
            assert "vxlan: kernel cloudtap-vxlan with the tc BPF tagger" in checked.stderr
        results = checks.sensor_tags_copies_by_vni(lab, VLANS)
        assert_passed(results)
        assert len(results) == 8
        assert "with 802.1Q tag 0x8100 VLAN 100" in results[0].detail  # AWS VNI 77
        assert "untagged" in results[1].detail  # Azure VNI 4000001
        assert "with 802.1Q tag 0x8100 VLAN 100" in results[2].detail  # GWLB around VNI 77
        assert all("untagged" in result.detail for result in results[3:7])
        captures[path] = capture_of(results)
    assert len(set(captures.values())) == 1, captures


def test_the_map_changes_in_place_and_check_verifies_the_tagger(tagging: Lab) -> None:
    lab = tagging
    capture = lab.sensor_plan.capture_interface
    index = lab.run(Host.SENSOR, "cat", f"/sys/class/net/{capture}/ifindex").stdout
    program = lab.bpf_program()
    other = {4_000_001: 200}
    set_vlans(lab, other)  # the Azure stream's VNI now, the AWS one no more
    assert lab.run(Host.SENSOR, "cat", f"/sys/class/net/{capture}/ifindex").stdout == index
    assert lab.bpf_program() == program  # the same program, its map rewritten
    results = checks.sensor_tags_copies_by_vni(lab, other)
    assert_passed(results)
    assert "untagged" in results[0].detail
    assert "with 802.1Q tag 0x8100 VLAN 200" in results[1].detail

    # The tagger's map made to differ from the settings: check says so; apply repairs it.
    listing = lab.run(Host.SENSOR, "tc", "filter", "show", "dev", "cloudtap-vxlan", "ingress")
    found = re.search(r" id (\d+) name cloudtap_vlan ", listing.stdout)
    assert found, listing.stdout
    argv = [lab.python, "-I", str(lab.bpf_helper_path), "configure-tagger", "--prog-id", found[1]]
    lab.run(Host.SENSOR, *argv, "--feeder", f"{capture}-tx", "--vlans", "4000001:201")
    try:
        checked = lab.sensor("check")
        assert checked.returncode == 1
        assert "the tc BPF tagger on cloudtap-vxlan is misconfigured" in checked.stderr
        assert "tags 4000001:201, not 4000001:200" in checked.stderr
    finally:
        lab.sensor("apply", check=True)
    assert lab.sensor("check").returncode == 0


def test_a_kernel_device_that_cannot_tag_hands_vxlan_to_the_next_path(tagging: Lab) -> None:
    lab = tagging
    moved = lab.bpf_object_path.with_suffix(".away")
    lab.bpf_object_path.rename(moved)
    try:
        applied = lab.sensor("apply", check=True)
        assert "vxlan: the kernel device cannot tag by VNI" in applied.stderr
        assert "is missing" in applied.stderr
        paths = feed_paths(lab)
        assert paths["vxlan"] == "cloudtap-decap"  # the BPF program cannot load either
        assert_passed(checks.sensor_tags_copies_by_vni(lab, VLANS))
    finally:
        moved.rename(lab.bpf_object_path)
        lab.sensor("apply", check=True)
    assert feed_paths(lab)["vxlan"] == "kernel cloudtap-vxlan"


def test_without_the_map_every_path_is_todays_again(lab: Lab) -> None:
    set_vlans(lab, VLANS)
    set_vlans(lab, {})
    assert "VLAN_BY_VNI" not in lab.sensor_settings_path.read_text()
    listing = lab.run(Host.SENSOR, "tc", "filter", "show", "dev", "cloudtap-vxlan", "ingress")
    assert "mirred (Egress Redirect to device" in listing.stdout
    assert "cloudtap_vlan" not in listing.stdout
    assert "no VLAN tags" in lab.sensor("check").stderr
    results = checks.sensor_decapsulates_every_feed(lab)
    assert_passed(results)
