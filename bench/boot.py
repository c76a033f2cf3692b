"""How long a gateway replacement keeps the private tier off the internet, as far as a machine
here can tell: the rendered gateway user data booted for real (``tests/boot``: Debian 12 under
systemd in systemd-nspawn, cloud-init from a NoCloud seed, packages through the caching archive
proxy), from the container's start to the first passing ``cloudtap-gateway check``.

A cloud adds the instance's launch and its image's own boot (kernel, firmware) to this; the
figure is what cloudtap's part costs, quoted by the preview's warning for a ``single`` gateway.
Needs root and what ``tests/boot`` needs; prints why and reports nothing otherwise.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid

from . import Report, Summary

REPS = 3


def _boot_once() -> float:
    from lab.stack import load_plan  # noqa: PLC0415 - only when the bench runs
    from tests.boot import image  # noqa: PLC0415
    from tests.boot.archive_proxy import ArchiveProxy  # noqa: PLC0415
    from tests.boot.machine import WORK_BASE, Machine  # noqa: PLC0415
    from tests.boot.test_real_boot import STACK, gateway_role  # noqa: PLC0415

    root = image.ensure_root()
    role = gateway_role(load_plan(STACK))
    WORK_BASE.mkdir(parents=True, exist_ok=True)
    socket = WORK_BASE / f"{os.getpid()}-bench-archive.sock"
    with (
        ArchiveProxy(socket, image.cache_directory() / "archive") as proxy,
        Machine(
            "bench-gateway",
            root,
            interface=role.interface,
            proxy_socket=proxy.socket_path,
            user_data=role.user_data,
            instance_id=f"i-{uuid.uuid4().hex[:17]}",
        ) as machine,
    ):
        started = time.monotonic()
        machine.boot()
        while machine.run(role.script, "check", check=False).returncode != 0:
            if time.monotonic() - started > 300:
                raise RuntimeError("the gateway's check did not pass within 300 s")
            time.sleep(0.2)
        return time.monotonic() - started


def run(quick: bool) -> Report:
    from tests.boot.conftest import unavailable_reason  # noqa: PLC0415

    title = "Gateway boot: container start to the first passing check (tests/boot's real boot)"
    reason = unavailable_reason()
    if reason is not None:
        return Report(
            "boot", title, ["note"], [[reason]], [Summary("gateway boot", reason, "-", None)]
        )
    load_before = os.getloadavg()[0]
    seconds = [_boot_once() for _ in range(1 if quick else REPS)]
    load_after = os.getloadavg()[0]
    rows = [[str(index + 1), f"{value:.1f}"] for index, value in enumerate(seconds)]
    median = statistics.median(seconds)
    return Report(
        "boot",
        title,
        ["boot", "seconds"],
        rows,
        [
            Summary(
                "gateway boot to first passing check",
                f"{median:.1f} s median ({min(seconds):.1f}-{max(seconds):.1f})",
                "-",
                None,
            )
        ],
        [
            "packages from the boot test's local archive cache; a cloud adds the instance's "
            "launch and the image's own boot",
            f"1-minute load average {load_before:.2f} before, {load_after:.2f} after",
        ],
    )
