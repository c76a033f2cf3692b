"""A gateway replaced under load: a new gateway that takes over the interfaces (the ENI) and runs
the rendered ``cloudtap-gateway apply`` brings forwarding and the gateway mirror back, whether
the old one was killed first or is still running (make before break); the outages a pinging
client saw are printed side by side (measurements, not asserted)."""

from __future__ import annotations

from lab.gateway_failover import FailoverResult, run_failover, run_takeover


def test_forwarding_and_mirroring_return_after_the_gateway_is_replaced(
    lab_environment: None,
) -> None:
    result = run_failover()
    assert "cloudtap-gateway: ok: forwarding on" in result.apply_output
    assert result.mirrored_before, "the mirror copied nothing before the failover"
    assert result.forwarding_back, "no ping was answered through the new gateway"
    assert result.mirroring_back, "the sensor received no copy through the new gateway"
    print(
        f"failover: outage {result.outage_seconds:.3f} s as a client saw it; the new gateway's "
        f"attach and apply took {result.applied_at - result.killed_at:.3f} s"
    )


def _assert_replaced(result: FailoverResult) -> None:
    assert "cloudtap-gateway: ok: forwarding on" in result.apply_output
    assert result.mirrored_before, "the mirror copied nothing before the replacement"
    assert result.forwarding_back, "no ping was answered through the new gateway"
    assert result.mirroring_back, "the sensor received no copy through the new gateway"


def test_a_ready_gateway_takes_over_from_one_still_running(lab_environment: None) -> None:
    takeover = run_takeover()
    assert "table ip cloudtap" in takeover.ready_output  # preflighted before the takeover
    assert takeover.old_gateway_running, "the superseded gateway should still be up"
    _assert_replaced(takeover)
    killed = run_failover()
    _assert_replaced(killed)
    took = takeover.applied_at - takeover.killed_at
    print(
        f"make-before-break takeover (old gateway running): outage "
        f"{takeover.outage_seconds:.3f} s, takeover and apply {took:.3f} s; "
        f"kill-then-replace: outage {killed.outage_seconds:.3f} s, "
        f"{killed.applied_at - killed.killed_at:.3f} s (the lab leaves out the boot that a "
        f"kill-then-replace waits for on AWS and a takeover does not)"
    )
