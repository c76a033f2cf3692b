"""A gateway replaced under load: a new gateway that takes over the interfaces (the ENI) and runs
the rendered ``cloudtap-gateway apply`` brings forwarding and the gateway mirror back; the outage
a pinging client saw is printed (a measurement, not asserted)."""

from __future__ import annotations

from lab.gateway_failover import run_failover


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
