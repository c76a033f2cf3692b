"""What the lab proves about the rendered sensor: every cloud's mirror feed arrives on the capture
interface as the exact inner frames, even in back-to-back bursts; nothing from outside the feed
sources does; ``cloudtap-sensor check`` notices each piece going missing; ``apply`` is idempotent.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import struct
import time
from collections import Counter
from collections.abc import Mapping
from typing import Final

from .. import feeds
from ..lab import RECORD_FRAMES, SENSOR_TABLE, Lab
from ..topology import Host
from .common import (
    SETTLE,
    CheckResult,
    Damage,
    check_names,
    check_result,
    decap_pid,
    failure_message,
    feed_paths,
    kernel_device,
    reapply_sensor,
)

OUTSIDE_SOURCE: Final = ipaddress.IPv4Address("198.51.100.7")
"""TEST-NET-2 (RFC 5737): a feed source outside every network, which the sensor must refuse."""
FEED_COUNT: Final = 100
"""Packets per feed stream (the sizes cycle every 7, jumbo frames included)."""
BURST_COUNT: Final = 2000
"""Packets per feed in one unpaced burst, as a mirror session sends when a workload bursts."""
ARRIVAL_TIMEOUT: Final = 20.0
"""Seconds the inner frames of what was sent may take to arrive on the capture interface: well
under one on an idle machine, more on a busy one, where the decapsulator runs late."""
_FEED_OF_KIND: Final = {
    "aws-vxlan": "vxlan",
    "azure-vxlan": "vxlan",
    "gwlb-geneve": "geneve",
    "gwlb-inline": "geneve",
    "gre": "gre",
    "erspan": "erspan",
    "erspan3": "erspan",
}
_KIND_VNI: Final = {"aws-vxlan": 77, "azure-vxlan": 4_000_001}
_KIND_SOURCE: Final = {"aws-vxlan": Host.APP, "azure-vxlan": Host.MANAGEMENT}
_KIND_TITLE: Final = {
    "aws-vxlan": "AWS Traffic Mirroring VXLAN (VNI 77, per-flow UDP source ports)",
    "azure-vxlan": "Azure vTAP VXLAN (VNI 4000001)",
    "gwlb-geneve": "AWS mirror to a GWLB endpoint (GENEVE around VXLAN around Ethernet)",
    "gwlb-inline": "AWS GWLB GENEVE inline (bare IP, class-0x0108 options)",
    "gre": "OpenStack tap mirror GRE (TEB, with and without key, sequence, checksum)",
    "erspan": "OpenStack tap mirror ERSPAN type II (Linux erspan_ver 1)",
    "erspan3": "ERSPAN type III (Linux erspan_ver 2), with and without the subheader",
}


def sensor_decapsulates_every_feed(lab: Lab) -> list[CheckResult]:
    """Mirror feeds as AWS, Azure and OpenStack send them, from addresses in the network (sent
    from the gateway host, which routes to the sensor), arrive on the capture interface as the
    exact inner frames (bare IP from a GWLB behind the sensor's fixed Ethernet header); a feed
    from outside the feed sources arrives not at all."""
    name = "sensor_decapsulates_every_feed"
    sensor = str(lab.address(Host.SENSOR))
    paths = feed_paths(lab)
    expected: dict[str, list[bytes]] = {}
    with lab.record(Host.SENSOR, lab.sensor_plan.capture_interface) as recording:
        for kind in feeds.KINDS:
            source = lab.address(_KIND_SOURCE.get(kind, Host.APP))
            vni = _KIND_VNI.get(kind, 77)
            lab.send_feed(Host.GATEWAY, kind, source=source, count=FEED_COUNT, vni=vni)
            expected[kind] = [
                frame
                for _, frame in feeds.stream(
                    kind, FEED_COUNT, source=str(source), destination=sensor, vni=vni
                )
            ]
        lab.send_feed(Host.GATEWAY, "aws-vxlan", source=OUTSIDE_SOURCE, count=20, vni=99)
        recording.wait_for_frames(sum(map(len, expected.values())), ARRIVAL_TIMEOUT)
        time.sleep(SETTLE)  # and the outsider's packets their chance to arrive, wrongly
    frames = recording.frames()
    arrived = Counter(frame.data for frame in frames)
    results = []
    for kind in feeds.KINDS:
        want = Counter(expected[kind])
        got = Counter({data: arrived[data] for data in want if arrived[data]})
        found = sum((want & got).values())
        duplicates = sum((got - want).values())
        largest = max(len(data) for data in want)
        ok = found == len(expected[kind]) and duplicates == 0
        path = paths.get(_FEED_OF_KIND[kind], "no decapsulation path")
        detail = (
            f"{found}/{len(expected[kind])} inner frames byte-identical (60 to {largest} bytes), "
            f"{duplicates} duplicated, via {path}"
        )
        results.append(check_result(name, _KIND_TITLE[kind], ok, detail))
    wanted = Counter(data for frames_of_kind in expected.values() for data in frames_of_kind)
    extra = sum((arrived - wanted).values())
    truncated = sum(frame.truncated for frame in frames)
    ok = extra == 0 and truncated == 0
    detail = (
        f"20 VXLAN packets from {OUTSIDE_SOURCE}: none arrived; {extra} unexpected frame(s) and "
        f"{truncated} truncated on {lab.sensor_plan.capture_interface} in all"
    )
    results.append(check_result(name, "a feed from outside the feed sources", ok, detail))
    return results


_VNI_KINDS: Final = ("aws-vxlan", "azure-vxlan", "gwlb-geneve")
"""The streams that carry a session's VNI: VXLAN's own, or the inner VXLAN's inside GWLB GENEVE.
(The lab's GWLB inline stream carries GENEVE VNI 0, GRE and ERSPAN none: never tagged.)"""


def with_vlan_tag(frame: bytes, vlan: int) -> bytes:
    """``frame`` with an 802.1Q tag (TPID 0x8100, PCP 0, DEI 0, ``vlan``) after its MACs."""
    return frame[:12] + struct.pack("!HH", 0x8100, vlan) + frame[12:]


def capture_digest(frames: Counter[bytes]) -> str:
    """One sha256 over a capture's frames in byte order: equal for equal captures."""
    digest = hashlib.sha256()
    for data in sorted(frames.elements()):
        digest.update(len(data).to_bytes(4, "big") + data)
    return digest.hexdigest()[:16]


def sensor_tags_copies_by_vni(lab: Lab, vlan_by_vni: Mapping[int, int]) -> list[CheckResult]:
    """With the sensor's ``vlan_by_vni`` in force: every stream as each cloud sends it (AWS VNI
    77, Azure VNI 4000001, GWLB GENEVE around VXLAN with VNI 77, GWLB inline, GRE, ERSPAN II and
    III) arrives on the capture interface as exactly the frames expected: a stream whose VNI
    the map lists with that tag after the MACs (outermost above the stream's own tags), every
    other byte-identical; nothing else arrives. The last result's detail ends with the
    capture's digest (:func:`capture_digest`), so that paths can be compared capture for
    capture."""
    name = "sensor_tags_copies_by_vni"
    sensor = str(lab.address(Host.SENSOR))
    paths = feed_paths(lab)
    expected: dict[str, list[bytes]] = {}
    with lab.record(Host.SENSOR, lab.sensor_plan.capture_interface) as recording:
        for kind in feeds.KINDS:
            source = lab.address(_KIND_SOURCE.get(kind, Host.APP))
            vni = _KIND_VNI.get(kind, 77)
            vlan = vlan_by_vni.get(vni) if kind in _VNI_KINDS else None
            lab.send_feed(Host.GATEWAY, kind, source=source, count=FEED_COUNT, vni=vni)
            expected[kind] = [
                frame if vlan is None else with_vlan_tag(frame, vlan)
                for _, frame in feeds.stream(
                    kind, FEED_COUNT, source=str(source), destination=sensor, vni=vni
                )
            ]
        recording.wait_for_frames(sum(map(len, expected.values())), ARRIVAL_TIMEOUT)
        time.sleep(SETTLE)  # and anything unexpected its chance to arrive
    frames = recording.frames()
    arrived = Counter(frame.data for frame in frames)
    results = []
    for kind in feeds.KINDS:
        want = Counter(expected[kind])
        got = Counter({data: arrived[data] for data in want if arrived[data]})
        found = sum((want & got).values())
        duplicates = sum((got - want).values())
        vni = _KIND_VNI.get(kind, 77)
        vlan = vlan_by_vni.get(vni) if kind in _VNI_KINDS else None
        what = "untagged" if vlan is None else f"with 802.1Q tag 0x8100 VLAN {vlan}"
        path = paths.get(_FEED_OF_KIND[kind], "no decapsulation path")
        detail = (
            f"{found}/{len(expected[kind])} inner frames byte for byte as mirrored, {what}, "
            f"{duplicates} duplicated, via {path}"
        )
        ok = found == len(expected[kind]) and duplicates == 0
        results.append(check_result(name, f"{_KIND_TITLE[kind]}, tags by VNI", ok, detail))
    wanted = Counter(data for frames_of_kind in expected.values() for data in frames_of_kind)
    extra = sum((arrived - wanted).values())
    truncated = sum(frame.truncated for frame in frames)
    detail = (
        f"{extra} unexpected frame(s) (untagged copies of a listed VNI among them, if any) and "
        f"{truncated} truncated on {lab.sensor_plan.capture_interface}; capture "
        f"{capture_digest(arrived)}"
    )
    results.append(
        check_result(name, "nothing but the expected frames", extra == 0 and not truncated, detail)
    )
    return results


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key)}


def sensor_loses_nothing_in_a_burst(
    lab: Lab, *, arrival_timeout: float = ARRIVAL_TIMEOUT
) -> list[CheckResult]:
    """Each feed as one burst of :data:`BURST_COUNT` packets sent back to back: every inner
    frame arrives on the capture interface, exactly once; where cloudtap-decap serves the feed,
    its counters show each packet written and no send error; the capture interface drops none.

    The recording's ring holds a whole burst, and the next burst waits until the recording has
    caught up, so a recorder the machine runs late cannot lose a frame the sensor delivered. A
    burst the sensor lost part of costs ``arrival_timeout`` seconds of waiting."""
    name = "sensor_loses_nothing_in_a_burst"
    sensor = str(lab.address(Host.SENSOR))
    capture = lab.sensor_plan.capture_interface
    paths = feed_paths(lab)
    expected: dict[str, list[bytes]] = {}
    evidence: dict[str, tuple[bool, str]] = {}
    with lab.record(Host.SENSOR, capture, frames=max(BURST_COUNT, RECORD_FRAMES)) as recording:
        for kind in feeds.KINDS:
            source = lab.address(_KIND_SOURCE.get(kind, Host.APP))
            vni = _KIND_VNI.get(kind, 77)
            expected[kind] = [
                frame
                for _, frame in feeds.stream(
                    kind, BURST_COUNT, source=str(source), destination=sensor, vni=vni
                )
            ]
            decap_before = lab.decap_counters()
            bpf_before = lab.bpf_counters()
            rx_before = lab.rx_counters(Host.SENSOR, capture)
            overflows_before = lab.receive_buffer_overflows(Host.SENSOR)
            written = recording.count()
            started = time.monotonic()
            seconds = lab.send_feed(
                Host.GATEWAY, kind, source=source, count=BURST_COUNT, vni=vni, rate=0
            )
            recorded = recording.wait_for_frames(written + BURST_COUNT, arrival_timeout) - written
            waited = time.monotonic() - started
            decap = _delta(decap_before, lab.decap_counters())
            bpf = _delta(bpf_before, lab.bpf_counters())
            received, dropped = (
                now - then
                for now, then in zip(lab.rx_counters(Host.SENSOR, capture), rx_before, strict=True)
            )
            overflows = lab.receive_buffer_overflows(Host.SENSOR) - overflows_before
            feed = _FEED_OF_KIND[kind]
            path = paths.get(feed, "no decapsulation path")
            errors = {key: value for key, value in decap.items() if key.startswith("send_error")}
            ok = dropped == 0 and overflows == 0 and not errors
            detail = (
                f"sent in {seconds:.2f}s, {recorded} recorded {waited:.2f}s after sending began; "
                f"the sensor's socket receive buffers overflowed {overflows} times; {capture} "
                f"received {received}, dropped {dropped}"
            )
            if path == "cloudtap-decap":
                ok = ok and decap.get(feed, 0) == BURST_COUNT
                detail += (
                    f"; cloudtap-decap wrote {decap.get(feed, 0)}, send errors: "
                    f"{', '.join(f'{key} {value}' for key, value in errors.items()) or 'none'}"
                )
            elif path.startswith("bpf "):
                decapsulated = bpf.get(f"{feed}_decapsulated", 0)
                dropped_by_bpf = bpf.get(f"{feed}_malformed", 0) + bpf.get(f"{feed}_failed", 0)
                ok = ok and decapsulated == BURST_COUNT and dropped_by_bpf == 0
                detail += (
                    f"; the tc BPF program decapsulated {decapsulated}, dropped {dropped_by_bpf}"
                )
            evidence[kind] = ok, f"{detail}; via {path}"
    arrived = Counter(frame.data for frame in recording.frames())
    results = []
    for kind in feeds.KINDS:
        want = Counter(expected[kind])
        got = Counter({data: arrived[data] for data in want if arrived[data]})
        found = sum((want & got).values())
        duplicates = sum((got - want).values())
        ok, detail = evidence[kind]
        ok = ok and found == BURST_COUNT and duplicates == 0
        detail = (
            f"{found}/{BURST_COUNT} inner frames byte-identical, {duplicates} duplicated; {detail}"
        )
        results.append(
            check_result(name, f"{_KIND_TITLE[kind]}, {BURST_COUNT} back to back", ok, detail)
        )
    return results


def sensor_check_names_what_is_missing(lab: Lab) -> list[CheckResult]:
    """Each piece of the sensor removed in turn: ``check`` fails naming it; ``apply`` repairs."""
    capture = lab.sensor_plan.capture_interface
    damages = [
        Damage("capture interface deleted", Host.SENSOR, ["ip", "link", "del", "dev", capture],
               expected="is missing"),
        Damage("capture interface MTU 1500", Host.SENSOR,
               ["ip", "link", "set", "dev", capture, "mtu", "1500"],
               expected=f"has MTU 1500, not {lab.sensor_plan.capture_mtu}"),
        Damage("kernel VXLAN device deleted", Host.SENSOR,
               ["ip", "link", "del", "dev", "cloudtap-vxlan"],
               expected="nothing decapsulates vxlan"),
        Damage("nftables table deleted", Host.SENSOR,
               ["nft", "delete", "table", "inet", SENSOR_TABLE],
               expected=f"inet {SENSOR_TABLE} is missing"),
    ]  # fmt: skip
    geneve = feed_paths(lab).get("geneve", "")
    if geneve == "cloudtap-decap":
        damages.append(Damage("cloudtap-decap killed", Host.SENSOR,
                              lambda: ["kill", "-9", decap_pid(lab)],
                              expected="nothing decapsulates geneve"))  # fmt: skip
    elif geneve.startswith("bpf "):
        underlay = geneve.removeprefix("bpf ")
        damages.append(Damage("tc BPF decapsulator removed", Host.SENSOR,
                              ["tc", "filter", "del", "dev", underlay, "ingress", "pref", "10"],
                              expected="nothing decapsulates geneve"))  # fmt: skip
    return [
        check_names(
            lab,
            damage,
            lambda: lab.sensor("check"),
            reapply_sensor,
            check="sensor_check_names_what_is_missing",
            subject=f"sensor check with {damage.what}",
            settle=0.1,  # a killed process takes a moment to go
        )
        for damage in damages
    ]


_PATHS: Final = "decapsulation paths"


_HEARD_ELEMENTS = re.compile(r"(set heard_\d+ \{[^}]*?)\s*elements = \{[^}]*\}")
_COUNTED = re.compile(r"packets \d+ bytes \d+")


def _without_heartbeat_state(table: str) -> str:
    """The sensor's table without what every heartbeat changes (the heard sets' elements and
    the counters): what ``apply`` writes, not what the traffic since did."""
    return _COUNTED.sub("packets - bytes -", _HEARD_ELEMENTS.sub(r"\1", table))


def _sensor_state(lab: Lab) -> tuple[dict[str, str], dict[str, str]]:
    """What ``apply`` must leave as it found it, by what the report calls it: the sensor's table
    and links, how each feed is decapsulated, the tc redirect of each kernel device that does
    it, and the cloudtap-decap process where it serves a feed; and the paths, by feed."""
    paths = feed_paths(lab)
    links = lab.run(Host.SENSOR, "ip", "-o", "link", "show").stdout
    state = {
        "nftables table": _without_heartbeat_state(lab.sensor_table()),
        "links": re.sub(r"\s+link/ether \S+ brd \S+", "", links),  # MACs are stable anyway
    }
    devices = sorted({device for path in paths.values() if (device := kernel_device(path))})
    if devices:
        state["tc filters"] = "".join(
            f"{device}: "
            + lab.run(Host.SENSOR, "tc", "filter", "show", "dev", device, "ingress").stdout
            for device in devices
        )
    program = lab.bpf_program()
    if program is not None:
        listing = lab.run(Host.SENSOR, "tc", "filter", "show", "dev", program[0], "ingress").stdout
        state["tc BPF decapsulator"] = f"{program[0]}: {listing}"
    if "cloudtap-decap" in paths.values():
        ready = (lab.sensor_run_dir / "decap.ready").read_text(encoding="utf-8")
        state["cloudtap-decap process"] = ready
    state[_PATHS] = ", ".join(f"{feed}: {path}" for feed, path in sorted(paths.items()))
    return state, paths


def sensor_apply_is_idempotent(lab: Lab) -> list[CheckResult]:
    """``cloudtap-sensor apply`` again: same table, same interfaces, every feed decapsulated the
    same way, the same tc redirect on each kernel device that decapsulates one, and the same
    decapsulator process (not restarted).

    The paths are those ``cloudtap-sensor check`` reports, so a kernel without a driver (whose
    feed cloudtap-decap takes) is compared for what it really runs."""
    name = "sensor_apply_is_idempotent"
    before, paths = _sensor_state(lab)
    runs = [lab.sensor("apply") for _ in range(2)]
    after, _ = _sensor_state(lab)
    failed = [run for run in runs if run.returncode != 0]
    changed = [label for label in {**before, **after} if before.get(label) != after.get(label)]
    unserved = [feed.value for feed in lab.sensor_plan.feeds if feed.value not in paths]
    ok = not failed and not changed and not unserved
    if failed:
        detail = f"apply exited {failed[0].returncode}: {failure_message(failed[0].stderr)}"
    elif changed or unserved:
        problems = [f"changed between runs: {', '.join(changed)}"] if changed else []
        if unserved:
            problems.append(f"the sensor's check named no path for {', '.join(unserved)}")
        detail = "; ".join(problems)
    else:
        compared = [label for label in before if label != _PATHS]
        detail = f"{', '.join(compared)} unchanged after 2 more runs"
        if "tc filters" not in before:
            detail += "; no kernel device decapsulates a feed here, so no tc redirect to compare"
    return [check_result(name, "sensor apply twice", ok, detail)]
