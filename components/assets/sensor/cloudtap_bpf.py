#!/usr/bin/env python3
"""cloudtap-bpf: fills the maps of the sensor's tc decapsulator and reads its counters.

Installed as ``/usr/local/lib/cloudtap/cloudtap-bpf`` beside the object it serves,
``cloudtap_decap.bpf.o``, which ``cloudtap-sensor apply`` loads with ``tc`` on the interface
where feeds arrive. ``tc`` (iproute2) can load a program but not write its maps, and no image
ships bpftool: this talks to the kernel's ``bpf(2)`` system call directly, with the standard
library only (Python 3.9, Amazon Linux 2023's), finding the maps through the id of the program
``tc filter show`` prints (nothing is pinned, so every network namespace has its own).

    cloudtap-bpf configure --prog-id N --feeder DEV --feeds "geneve gre" --allow "CIDR..."
                           [--vxlan-port P --geneve-port P] [--vlans "VNI:VLAN..."]
    cloudtap-bpf verify    (the same arguments): exit 1, saying what differs, unless the maps
                           hold exactly that; prints the counters line when they do
    cloudtap-bpf configure-tagger|verify-tagger --prog-id N --feeder DEV --vlans "VNI:VLAN..."
                           the same for the kernel vxlan device's tagger (cloudtap_vlan)
    cloudtap-bpf served --prog-id N: the feeds the program serves now, space-separated
    cloudtap-bpf counters --prog-id N: the counters as one JSON object

The counters (packets and bytes per feed and outcome, summed over CPUs) are named
``<feed>_<outcome>``: ``decapsulated`` (redirected into the feeder end), ``malformed`` and
``failed`` (dropped), ``fragment`` and ``refused_source`` (passed to the host's stack).
"""

from __future__ import annotations

import argparse
import ctypes
import ipaddress
import json
import os
import platform
import socket
import struct
import sys
from collections.abc import Sequence

FEEDS = ("vxlan", "geneve", "gre", "erspan")
"""In the order of the program's ``enum feed``."""
OUTCOMES = ("decapsulated", "malformed", "fragment", "refused_source", "failed")
"""In the order of the program's ``enum outcome``."""
CONFIG_MAP = "ct_config"
SOURCES_MAP = "ct_sources"
COUNTERS_MAP = "ct_counters"
VLANS_MAP = "ct_vlans"
MAX_VLANS = 64  # components/sensor.py
VLAN_KEY = struct.Struct("=I")  # VNI
VLAN_VALUE = struct.Struct("=H")  # VLAN id

SYSCALL_BPF = {"x86_64": 321, "aarch64": 280}
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_MAP_GET_NEXT_KEY = 4
BPF_PROG_GET_FD_BY_ID = 13
BPF_MAP_GET_FD_BY_ID = 14
BPF_OBJ_GET_INFO_BY_FD = 15
ATTR_SIZE = 128
"""Bytes of ``union bpf_attr`` passed; the kernel requires the part it does not know to be 0."""
CONFIG = struct.Struct("=IIHH")
"""``struct config``: feeder ifindex, feed bits, VXLAN port, GENEVE port (host byte order)."""
SOURCE_KEY = struct.Struct("=I4s")
"""``struct source_key``: prefix length, then the address in network byte order."""


class BpfError(Exception):
    pass


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def bpf(command: int, attr: bytes) -> int:
    number = SYSCALL_BPF.get(platform.machine())
    if number is None:
        raise BpfError(f"no bpf(2) system call number known for {platform.machine()}")
    buffer = ctypes.create_string_buffer(attr.ljust(ATTR_SIZE, b"\0"), ATTR_SIZE)
    result = _libc.syscall(number, command, buffer, ATTR_SIZE)
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return int(result)


def _address(buffer: ctypes.Array[ctypes.c_char]) -> int:
    return ctypes.addressof(buffer)


def object_info(fd: int, size: int) -> ctypes.Array[ctypes.c_char]:
    info = ctypes.create_string_buffer(size)
    bpf(BPF_OBJ_GET_INFO_BY_FD, struct.pack("=IIQ", fd, size, _address(info)))
    return info


class Map:
    def __init__(self, map_id: int) -> None:
        self.fd = bpf(BPF_MAP_GET_FD_BY_ID, struct.pack("=III", map_id, 0, 0))
        info = object_info(self.fd, 40)
        (self.key_size, self.value_size, self.max_entries) = struct.unpack_from("=III", info, 8)
        self.name = info.raw[24:40].split(b"\0", 1)[0].decode()

    def _element(self, command: int, key: bytes, value: ctypes.Array[ctypes.c_char] | None) -> None:
        key_buffer = ctypes.create_string_buffer(key, len(key))
        value_address = _address(value) if value is not None else 0
        bpf(command, struct.pack("=IIQQQ", self.fd, 0, _address(key_buffer), value_address, 0))

    def lookup(self, key: bytes, size: int) -> bytes:
        value = ctypes.create_string_buffer(size)
        self._element(BPF_MAP_LOOKUP_ELEM, key, value)
        return value.raw

    def update(self, key: bytes, value: bytes) -> None:
        self._element(BPF_MAP_UPDATE_ELEM, key, ctypes.create_string_buffer(value, len(value)))

    def delete(self, key: bytes) -> None:
        self._element(BPF_MAP_DELETE_ELEM, key, None)

    def all_keys(self) -> list[bytes]:
        found: list[bytes] = []
        key: ctypes.Array[ctypes.c_char] | None = None
        while True:
            following = ctypes.create_string_buffer(self.key_size)
            key_address = _address(key) if key is not None else 0
            try:
                bpf(
                    BPF_MAP_GET_NEXT_KEY,
                    struct.pack("=IIQQ", self.fd, 0, key_address, _address(following)),
                )
            except FileNotFoundError:
                return found
            found.append(following.raw)
            key = following
            if len(found) > self.max_entries:
                raise BpfError(f"{self.name}: more keys than entries")


def program_maps(prog_id: int, *, tagger: bool = False) -> dict[str, Map]:
    """The maps of program ``prog_id`` (``tagger``: cloudtap_vlan), by name."""
    fd = bpf(BPF_PROG_GET_FD_BY_ID, struct.pack("=III", prog_id, 0, 0))
    try:
        count = struct.unpack_from("=I", object_info(fd, 80), 52)[0]
        ids = ctypes.create_string_buffer(4 * count)
        info = ctypes.create_string_buffer(80)
        struct.pack_into("=IQ", info, 52, count, _address(ids))
        bpf(BPF_OBJ_GET_INFO_BY_FD, struct.pack("=IIQ", fd, 80, _address(info)))
    finally:
        os.close(fd)
    maps = [Map(map_id) for map_id in struct.unpack(f"={count}I", ids.raw)]
    named = {found.name: found for found in maps}
    missing = {CONFIG_MAP, SOURCES_MAP, COUNTERS_MAP, VLANS_MAP} - set(named)
    if tagger:
        missing.discard(SOURCES_MAP)
    if missing:
        raise BpfError(f"program {prog_id} has no map {', '.join(sorted(missing))}")
    return named


def possible_cpus() -> int:
    with open("/sys/devices/system/cpu/possible", encoding="ascii") as handle:
        ranges = handle.read().strip()
    total = 0
    for part in ranges.split(","):
        first, _, last = part.partition("-")
        total += int(last or first) - int(first) + 1
    return total


def wanted_config(args: argparse.Namespace) -> bytes:
    bits = sum(1 << FEEDS.index(feed) for feed in args.feeds)
    return CONFIG.pack(socket.if_nametoindex(args.feeder), bits, args.vxlan_port, args.geneve_port)


def source_key(network: ipaddress.IPv4Network) -> bytes:
    return SOURCE_KEY.pack(network.prefixlen, network.network_address.packed)


def configure_vlans(table: Map, vlans: dict[int, int]) -> None:
    wanted = {VLAN_KEY.pack(vni): VLAN_VALUE.pack(vlan) for vni, vlan in vlans.items()}
    for key in table.all_keys():
        if key not in wanted:
            table.delete(key)
    for key, value in sorted(wanted.items()):
        table.update(key, value)


def vlan_differences(table: Map, vlans: dict[int, int]) -> list[str]:
    found = {
        VLAN_KEY.unpack(key)[0]: VLAN_VALUE.unpack(table.lookup(key, VLAN_VALUE.size))[0]
        for key in table.all_keys()
    }
    if found == vlans:
        return []
    return [f"tags {vlan_words(found) or 'no VNI'}, not {vlan_words(vlans) or 'no VNI'}"]


def vlan_words(vlans: dict[int, int]) -> str:
    return " ".join(f"{vni}:{vlan}" for vni, vlan in sorted(vlans.items()))


def configure(args: argparse.Namespace) -> None:
    maps = program_maps(args.prog_id)
    configure_vlans(maps[VLANS_MAP], args.vlans)
    sources = maps[SOURCES_MAP]
    wanted = {source_key(network) for network in args.allow}
    for key in sources.all_keys():
        if key not in wanted:
            sources.delete(key)
    for key in sorted(wanted):
        sources.update(key, b"\1")
    # The config last: until it names the feeds, the program passes every packet.
    maps[CONFIG_MAP].update(struct.pack("=I", 0), wanted_config(args))


def differences(args: argparse.Namespace) -> list[str]:
    maps = program_maps(args.prog_id)
    found: list[str] = []
    config = maps[CONFIG_MAP].lookup(struct.pack("=I", 0), CONFIG.size)
    ifindex, bits, vxlan_port, geneve_port = CONFIG.unpack(config)
    wanted_ifindex, wanted_bits, _, _ = CONFIG.unpack(wanted_config(args))
    if ifindex != wanted_ifindex:
        found.append(f"redirects to interface {ifindex}, not {args.feeder} ({wanted_ifindex})")
    if bits != wanted_bits:
        serving = [feed for index, feed in enumerate(FEEDS) if bits & (1 << index)]
        found.append(f"serves {' '.join(serving) or 'no feed'}, not {' '.join(args.feeds)}")
    if (vxlan_port, geneve_port) != (args.vxlan_port, args.geneve_port):
        found.append(f"has ports VXLAN {vxlan_port} GENEVE {geneve_port}")
    keys = set(maps[SOURCES_MAP].all_keys())
    if keys != {source_key(network) for network in args.allow}:
        networks = sorted(
            f"{socket.inet_ntoa(address)}/{prefix}"
            for prefix, address in (SOURCE_KEY.unpack(key) for key in keys)
        )
        found.append(f"takes feeds from {' '.join(networks) or 'nowhere'}")
    found += vlan_differences(maps[VLANS_MAP], args.vlans)
    return found


def configure_tagger(args: argparse.Namespace) -> None:
    maps = program_maps(args.prog_id, tagger=True)
    configure_vlans(maps[VLANS_MAP], args.vlans)
    # The feeder last: until then the tagger drops.
    config = CONFIG.pack(socket.if_nametoindex(args.feeder), 0, args.vxlan_port, args.geneve_port)
    maps[CONFIG_MAP].update(struct.pack("=I", 0), config)


def tagger_differences(args: argparse.Namespace) -> list[str]:
    maps = program_maps(args.prog_id, tagger=True)
    ifindex = CONFIG.unpack(maps[CONFIG_MAP].lookup(struct.pack("=I", 0), CONFIG.size))[0]
    wanted = socket.if_nametoindex(args.feeder)
    found = [] if ifindex == wanted else [f"redirects to interface {ifindex}, not {args.feeder}"]
    return found + vlan_differences(maps[VLANS_MAP], args.vlans)


def served(prog_id: int) -> list[str]:
    config = program_maps(prog_id)[CONFIG_MAP].lookup(struct.pack("=I", 0), CONFIG.size)
    bits = CONFIG.unpack(config)[1]
    return [feed for index, feed in enumerate(FEEDS) if bits & (1 << index)]


def counters(prog_id: int, *, tagger: bool = False) -> dict[str, dict[str, int]]:
    table = program_maps(prog_id, tagger=tagger)[COUNTERS_MAP]
    stride = (table.value_size + 7) // 8 * 8
    cpus = possible_cpus()
    values: dict[str, dict[str, int]] = {}
    for slot in range(table.max_entries):
        raw = table.lookup(struct.pack("=I", slot), stride * cpus)
        packets = sum(struct.unpack_from("=Q", raw, cpu * stride)[0] for cpu in range(cpus))
        size = sum(struct.unpack_from("=Q", raw, cpu * stride + 8)[0] for cpu in range(cpus))
        outcome, feed = divmod(slot, len(FEEDS))
        if outcome < len(OUTCOMES):
            values[f"{FEEDS[feed]}_{OUTCOMES[outcome]}"] = {"packets": packets, "bytes": size}
    return values


def counters_line(prog_id: int, feeds: Sequence[str], *, tagger: bool = False) -> str:
    """``geneve 12 decapsulated, 0 dropped, 0 passed; ...`` for the feeds served."""
    values = counters(prog_id, tagger=tagger)
    parts = []
    for feed in feeds:

        def packets(outcome: str, feed: str = feed) -> int:
            return values[f"{feed}_{outcome}"]["packets"]

        dropped = packets("malformed") + packets("failed")
        passed = packets("fragment") + packets("refused_source")
        parts.append(
            f"{feed} {packets('decapsulated')} decapsulated, {dropped} dropped, "
            f"{passed} passed (fragments, other sources)"
        )
    return "; ".join(parts)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cloudtap-bpf", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "command",
        choices=("configure", "verify", "configure-tagger", "verify-tagger", "served", "counters"),
    )
    parser.add_argument("--prog-id", type=int, required=True)
    parser.add_argument("--feeder", help="the feeder end of the capture interface")
    parser.add_argument("--feeds", default="", help="space-separated: vxlan geneve gre erspan")
    parser.add_argument("--allow", default="", help="space-separated IPv4 networks")
    parser.add_argument("--vxlan-port", type=int, default=4789)
    parser.add_argument("--geneve-port", type=int, default=6081)
    parser.add_argument("--vlans", default="", help="space-separated VNI:VLAN pairs")
    args = parser.parse_args(argv)
    args.feeds = args.feeds.split()
    args.vlans = parse_vlans(parser, args.vlans)
    if args.command in ("configure-tagger", "verify-tagger"):
        if not args.feeder:
            parser.error("--feeder is required")
        if not args.vlans:
            parser.error("--vlans: at least one VNI:VLAN")
        return args
    if args.command in ("configure", "verify"):
        if not args.feeder:
            parser.error("--feeder is required")
        if not args.feeds or any(feed not in FEEDS for feed in args.feeds):
            parser.error(f"--feeds: got {args.feeds}; expected some of {list(FEEDS)}")
        try:
            args.allow = [ipaddress.IPv4Network(text) for text in args.allow.split()]
        except ValueError as error:
            parser.error(f"--allow: {error}")
        if not args.allow:
            parser.error("--allow: at least one network")
    return args


def parse_vlans(parser: argparse.ArgumentParser, text: str) -> dict[int, int]:
    vlans: dict[int, int] = {}
    for word in text.split():
        vni, _, vlan = word.partition(":")
        if not (vni.isdigit() and vlan.isdigit() and vni.isascii() and vlan.isascii()):
            parser.error(f"--vlans: got {word!r}; expected VNI:VLAN")
        if not (1 <= int(vni) <= 16777215 and 1 <= int(vlan) <= 4094):
            parser.error(f"--vlans: got {word!r}; expected VNI 1-16777215, VLAN 1-4094")
        if int(vni) in vlans or int(vlan) in vlans.values():
            parser.error(f"--vlans: {word!r} repeats a VNI or a VLAN")
        vlans[int(vni)] = int(vlan)
    if len(vlans) > MAX_VLANS:
        parser.error(f"--vlans: more than {MAX_VLANS}")
    return vlans


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        if args.command == "configure":
            configure(args)
        elif args.command == "verify":
            found = differences(args)
            if found:
                print(f"cloudtap-bpf: program {args.prog_id} " + "; ".join(found), file=sys.stderr)
                return 1
            print(counters_line(args.prog_id, args.feeds))
        elif args.command == "configure-tagger":
            configure_tagger(args)
        elif args.command == "verify-tagger":
            found = tagger_differences(args)
            if found:
                print(f"cloudtap-bpf: program {args.prog_id} " + "; ".join(found), file=sys.stderr)
                return 1
            print(
                f"tags {vlan_words(args.vlans)}; "
                + counters_line(args.prog_id, ["vxlan"], tagger=True)
            )
        elif args.command == "served":
            print(" ".join(served(args.prog_id)))
        else:
            print(json.dumps(counters(args.prog_id), sort_keys=True))
    except (OSError, BpfError) as error:
        print(f"cloudtap-bpf: program {args.prog_id}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
