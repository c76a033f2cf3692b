"""At preview: will this update take the `single` gateway down? The running gateway, read from
EC2, compared with what the program now asks for.

A `single` gateway has no second instance to take over, so anything that replaces it (or stops
it) cuts the private tier off from the internet until a new boot has finished. `pulumi preview`
shows `replace` on the instance, among every other change; this says it in one line, with what
causes it and what it costs.

The comparison is with the instance EC2 really runs (found by the gateway's persistent ENI), not
with the stack's last outputs: it sees drift and failed or targeted updates, and it needs no state.
It covers what cloudtap itself changes on the instance: the pinned image, the user data (new
cloudtap scripts or another image family), the key pair (each replaces the instance:
`user_data_replace_on_change`, and EC2 cannot change the others in place) and the instance
type (the provider stops the instance, changes the type and starts it again).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_aws as aws
from pulumi.output import contains_unknowns

from ..replacement_warning import judge_instance_id, outage_sentence

# The running gateway's id and why this update takes it down; None when no instance holds the ENI.
Found = tuple[str, tuple[str, ...]] | None

ONE_PER_ZONE_REMEDY = "gateway_strategy one_per_zone replaces a gateway before it breaks"

# States of an instance that still holds the ENI (a terminated one has let it go).
HOLDING_STATES = ("pending", "running", "stopping", "stopped")


@dataclass(frozen=True)
class RunningGateway:
    """What EC2 reports of the instance that holds the gateway's ENI."""

    instance_id: str
    ami: str
    instance_type: str
    key_name: str
    """``""`` for none."""
    user_data_sha1: str
    """EC2's user data as the provider reports it: the SHA-1 of the bytes, in hex."""


@dataclass(frozen=True)
class WantedGateway:
    """What this program asks for; ``ami`` is ``None`` when the image is not pinned (a newer
    default image is ignored on a running gateway, so it cannot cause a replacement)."""

    ami: str | None
    instance_type: str
    key_name: str
    user_data_base64: str


def user_data_sha1(user_data_base64: str) -> str:
    """The SHA-1 the provider reports for user data given as ``user_data_base64``: of the
    decoded bytes, which is what EC2 stores."""
    return hashlib.sha1(base64.b64decode(user_data_base64), usedforsecurity=False).hexdigest()


def disruptions(running: RunningGateway, wanted: WantedGateway) -> tuple[str, ...]:
    """Why this update takes the gateway down, one phrase per cause; empty when it does not."""
    causes: list[str] = []
    if wanted.ami is not None and wanted.ami != running.ami:
        causes.append(f"image {running.ami} -> {wanted.ami} replaces it")
    if user_data_sha1(wanted.user_data_base64) != running.user_data_sha1:
        causes.append("new user data (cloudtap's boot files or the image family) replaces it")
    if wanted.key_name != running.key_name:
        causes.append(
            f"key pair {running.key_name or '(none)'} -> {wanted.key_name or '(none)'} replaces it"
        )
    if wanted.instance_type != running.instance_type:
        causes.append(
            f"instance type {running.instance_type} -> {wanted.instance_type} stops and starts it"
        )
    return tuple(causes)


def disruption_warning(component: str, instance_id: str, causes: Sequence[str]) -> str:
    """The preview's one line."""
    return (
        f"{component}: this update takes the single gateway {instance_id} down: "
        f"{'; '.join(causes)}: {outage_sentence()}; {ONE_PER_ZONE_REMEDY}"
    )


def _running(result: Any) -> RunningGateway:
    return RunningGateway(
        instance_id=str(result.id),
        ami=str(result.ami),
        instance_type=str(result.instance_type),
        key_name=str(result.key_name or ""),
        user_data_sha1=str(result.user_data or ""),
    )


def warn_before_disruption(
    component: pulumi.Resource,
    component_name: str,
    *,
    instance: pulumi.CustomResource,
    network_interface_id: pulumi.Input[str],
    ami: pulumi.Input[str] | None,
    instance_type: str,
    key_name: pulumi.Input[str] | None,
    user_data_base64: pulumi.Input[str],
) -> pulumi.Output[list[str]]:
    """Look up the instance holding the gateway's ENI and warn when this update takes it down.

    Only at preview (``pulumi up`` previews first, so the line shows there too): during the
    update itself the engine may be deleting that very instance, and a failed lookup would fail
    the update. The result (the causes, empty for none) is for tests and callers; the warning is
    logged on ``component``. Nothing is looked up before the ENI exists (a first deployment).
    Where EC2's answer names no cause (or what the program wants is not known yet) but the
    engine still gives ``instance`` no id, it replaces the instance for a reason of its own:
    that is warned of too (:mod:`components.replacement_warning`).
    """
    invoke = pulumi.InvokeOutputOptions(parent=component)
    by_interface: pulumi.Output[list[aws.ec2.GetInstancesFilterArgsDict]] = (
        pulumi.Output.from_input(network_interface_id).apply(
            lambda eni: [{"name": "network-interface.network-interface-id", "values": [eni]}]
        )
    )
    holders = aws.ec2.get_instances_output(
        filters=by_interface, instance_state_names=list(HOLDING_STATES), opts=invoke
    )

    def inspect(ids: Sequence[str]) -> pulumi.Output[Found]:
        if not ids:
            return pulumi.Output.from_input(cast(Found, None))
        found = aws.ec2.get_instance_output(instance_id=ids[0], opts=invoke)
        wanted = pulumi.Output.all(
            pulumi.Output.from_input(ami) if ami is not None else None,
            pulumi.Output.from_input(key_name) if key_name is not None else "",
            user_data_base64,
        ).apply(
            lambda parts: WantedGateway(
                ami=None if parts[0] is None else str(parts[0]),
                instance_type=instance_type,
                key_name=str(parts[1] or ""),
                user_data_base64=str(parts[2]),
            )
        )
        return pulumi.Output.all(found, wanted).apply(
            lambda pair: (str(pair[0].id), disruptions(_running(pair[0]), pair[1]))
        )

    def announce(ids: object, found: object, instance_id: object) -> list[str]:
        if contains_unknowns(ids) or not ids:
            return []  # a first deployment, or no gateway holds the ENI: nothing to take down
        if not contains_unknowns(found) and isinstance(found, tuple) and found[1]:
            running_id, causes = found
            pulumi.log.warn(
                disruption_warning(component_name, running_id, causes), resource=component
            )
            return list(causes)
        return judge_instance_id(
            component, component_name, instance_id, "instance", ONE_PER_ZONE_REMEDY
        )

    details: pulumi.Output[Found] = holders.ids.apply(inspect)
    return pulumi.Output.all(holders.ids, details, instance.id).apply(
        lambda parts: announce(*parts), run_with_unknowns=True
    )
