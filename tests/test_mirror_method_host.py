"""The ``host`` mirror method: chosen by ``auto`` only for sources nothing else reaches, and
named in the preview as something the host's owner can switch off."""

from __future__ import annotations

import pytest

from components.errors import CloudtapInputError
from components.mirror_plan import (
    HOST_FEED_SWITCH,
    MirrorInterface,
    MirrorSource,
    decide,
    parse_method,
    preview_line,
)
from components.mirroring import MirrorMethod

SOURCE = MirrorSource("legacy", "t2.micro", (MirrorInterface("eni-0123", "1"),))


def test_auto_picks_a_host_feed_only_when_no_gateway_sees_the_source() -> None:
    seen = decide(MirrorMethod.AUTO, SOURCE, False, "t2 cannot be mirrored")
    assert seen.method is MirrorMethod.GATEWAY
    unseen = decide(MirrorMethod.AUTO, SOURCE, False, "t2 cannot be mirrored", gateway_sees=False)
    assert unseen.method is MirrorMethod.HOST
    assert "no gateway forwards its traffic" in unseen.reason
    native = decide(MirrorMethod.AUTO, SOURCE, True, "Nitro", gateway_sees=False)
    assert native.method is MirrorMethod.NATIVE


def test_the_preview_says_the_hosts_owner_can_switch_it_off() -> None:
    line = preview_line(decide(MirrorMethod.HOST, SOURCE, True, "any"))
    assert line.startswith("legacy (t2.micro): host feed — method is host")
    assert HOST_FEED_SWITCH in line
    assert "whoever controls the host can switch it off" in line


def test_host_is_refused_where_the_caller_does_not_wire_host_feeds() -> None:
    with pytest.raises(CloudtapInputError, match="HostFeeds component"):
        parse_method("host", "cloudtap:mirror.method")
    assert parse_method("host", host_feeds=True) is MirrorMethod.HOST
    assert parse_method(None) is MirrorMethod.AUTO
