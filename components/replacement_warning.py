"""At preview: is the engine about to make a gateway instance anew while its interface lives on?

The gateway's interface (AWS ENI, Azure NIC, OpenStack port) outlives its instance: routes and
the public address sit on it. During a preview the engine gives every resource it will create
(or replace) no id yet, and every resource it keeps or updates in place its id. So an interface
with an id next to an instance without one means this update creates the instance while the
network around it already exists: it replaces the running gateway (or, after an earlier update
that failed between the two, creates the missing one). That is the engine's own decision, so it
holds whatever made it (a changed input, a replace rule of the provider, `--replace`).

The private tier has no internet from the old instance's deletion until the new one has booted:
the preview says so in one line. (`pulumi up` previews first, so the line shows there too.)
"""

from __future__ import annotations

import pulumi
from pulumi.output import contains_unknowns

# What a gateway boot cost here (`python -m bench boot`, 2026-12-02: median of 3, 7.8-18.6 s on
# the shared 2-CPU VM): the rendered user data booted in systemd-nspawn, from the container's
# start to the first passing `check`. A cloud adds the instance's launch and its image's boot.
LAB_GATEWAY_BOOT_SECONDS = 14.4

ENGINE_REPLACES = "the engine creates the instance anew"


def outage_sentence() -> str:
    return (
        "the private tier has no internet until the new gateway has booted (cloudtap's "
        f"real-boot test: {LAB_GATEWAY_BOOT_SECONDS:.0f} s, plus the instance's launch and the "
        "image's own boot) and established connections lose their NAT state"
    )


def recreation_warning(component: str, instance: str, remedy: str | None) -> str:
    """The preview's one line when ``instance`` is made anew."""
    line = (
        f"{component}: this update creates the gateway {instance} anew, replacing the running "
        f"one (its interface stays): {outage_sentence()}"
    )
    return f"{line}; {remedy}" if remedy else line


def warn_if_recreated(
    component: pulumi.Resource,
    component_name: str,
    *,
    instance: pulumi.CustomResource,
    interface: pulumi.CustomResource,
    instance_kind: str,
    remedy: str | None = None,
) -> pulumi.Output[list[str]]:
    """At preview, warn when ``instance`` gets no id while ``interface`` has one; the cause
    (:data:`ENGINE_REPLACES`) when it did, else nothing.

    Nothing runs outside a preview (every id is known then) or before the interface exists
    (a first deployment creates both)."""

    def judge(instance_id: object) -> list[str]:
        return judge_instance_id(component, component_name, instance_id, instance_kind, remedy)

    return interface.id.apply(lambda _: instance.id.apply(judge, run_with_unknowns=True))


def judge_instance_id(
    component: pulumi.Resource,
    component_name: str,
    instance_id: object,
    instance_kind: str,
    remedy: str | None,
) -> list[str]:
    """The preview's verdict on an instance id seen with unknowns allowed: no id means the
    engine creates the instance anew (warned, :data:`ENGINE_REPLACES`); an id, nothing."""
    if not contains_unknowns(instance_id):
        return []
    pulumi.log.warn(recreation_warning(component_name, instance_kind, remedy), resource=component)
    return [ENGINE_REPLACES]
