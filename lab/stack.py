"""Reading a Pulumi stack file for the lab's command line: the network it describes.

The stack file is read as ``pulumi preview`` reads it: every ``cloudtap:*`` key goes through the
program's own :func:`~components.stack_config.parse_stack_config` (an unknown key or a value of
the wrong shape is refused, naming the key), and every field of ``cloudtap:network`` must be one
that the stack's cloud's network component takes. The lab builds the cloud-neutral part
(:class:`~components.network_plan.NetworkArgs`: addresses, port forwards, the gateway mirror)
from namespaces; the cloud's own fields (instance types, images, tags) describe what a namespace
does not have, and :attr:`LabStack.unmodelled` names them for the report. ``cloudtap:sensor`` and
``cloudtap:mirror`` are checked for their shape only: the lab runs its own sensor (every feed,
the defaults) and always turns the gateway mirror on.

Nothing here imports a cloud SDK: the cloud's own network fields are listed below, and a test
holds each list to its component's arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from components.azure.vnet_plan import AZURE_NETWORK_FIELDS, plan_network_of
from components.errors import CloudtapInputError
from components.fields import reject_unknown_fields
from components.monitored_network import Cloud
from components.network_plan import NETWORK_FIELDS, NetworkPlan, plan_network
from components.stack_config import full_key, parse_stack_config, under

DEFAULT_STACK: Final = Path("stacks") / "Pulumi.aws-dev.yaml"
"""The embedded default: the aws-dev stack, which needs no cloud to be exercised in the lab."""
NETWORK_KEY: Final = full_key("network")
CLOUD_KEY: Final = full_key("cloud")

REPOSITORY: Final = Path(__file__).resolve().parent.parent
"""The checkout holding the lab: the lab is a directory beside ``components/`` and ``stacks/``,
never installed with the library."""

AWS_NETWORK_FIELDS: Final = frozenset(
    {
        "availability_zones",
        "gateway_ami_id",
        "gateway_instance_type",
        "gateway_key_name",
        "gateway_os_family",
        "gateway_strategy",
        "tags",
        "unlisted_instance_types",
    }
)
"""The fields ``MonitoredVpcArgs`` takes beyond ``NetworkArgs``: where the gateway instances run
and what they are (zones, one or one per zone, image and its distribution family, type, key
pair, tags); the lab builds one gateway whatever the strategy. Kept here
because reading them off ``MonitoredVpcArgs`` would import pulumi-aws; a test holds the two
equal."""

OPENSTACK_NETWORK_FIELDS: Final = frozenset(
    {
        "cloud",
        "dns_nameservers",
        "external_network",
        "flavor",
        "gateway_os_family",
        "image",
        "key_pair",
        "network_mtu",
    }
)
"""The fields ``OpenStackNetworkArgs`` takes beyond ``NetworkArgs`` (a test holds them equal)."""

CLOUD_NETWORK_FIELDS: Final[Mapping[Cloud, frozenset[str]]] = {
    Cloud.AWS: AWS_NETWORK_FIELDS,
    Cloud.OPENSTACK: OPENSTACK_NETWORK_FIELDS,
    # Pure planning (no Azure SDK): the fields come from MonitoredVNetArgs itself.
    Cloud.AZURE: AZURE_NETWORK_FIELDS,
}
"""Per cloud that builds a monitored network, the fields its network component takes beyond
``NetworkArgs``. On the others cloudtap builds no network (yet), and the program refuses
``cloudtap:network`` there."""


@dataclass(frozen=True)
class LabStack:
    """What the lab takes from a stack file."""

    plan: NetworkPlan
    """The cloud-neutral network, as the cloud's component would plan it."""
    cloud: Cloud | None
    """``cloudtap:cloud``; ``None`` when the stack does not say (the lab needs no cloud)."""
    unmodelled: Mapping[str, Any] = field(default_factory=dict)
    one_armed: bool = False
    """Whether the cloud's gateway has one interface behind the cloud's router (Azure): the lab
    then builds that shape (:mod:`lab.one_armed`)."""
    """The cloud's own fields of ``cloudtap:network`` the stack sets, by full field name: known
    to be the cloud's (a typo is refused), their values left to ``pulumi preview``."""

    def describe_unmodelled(self) -> str | None:
        """One sentence naming what the lab leaves out; ``None`` when it leaves out nothing."""
        if not self.unmodelled:
            return None
        cloud = self.cloud.value if self.cloud is not None else "the cloud"
        return (
            f"not modelled: {', '.join(self.unmodelled)} ({cloud} fields beyond the cloud-neutral "
            "network: the lab's gateway is a network namespace running the same script; "
            "`pulumi preview` checks their values)"
        )


def default_stack_path() -> Path:
    """``stacks/Pulumi.aws-dev.yaml`` in the checkout holding this package, else under cwd."""
    candidates = [REPOSITORY / DEFAULT_STACK, Path.cwd() / DEFAULT_STACK]
    return next((path for path in candidates if path.is_file()), candidates[0])


def _engine_text(value: Any) -> str:
    # What the Pulumi engine hands the program: strings as they are, anything else as JSON.
    return value if isinstance(value, str) else json.dumps(value, default=str)


def config_values(stack: Mapping[str, Any] | None) -> dict[str, str]:
    """The ``config`` block of a parsed stack file as the engine passes it to the program: full
    key -> text, structured values as JSON."""
    config = (stack or {}).get("config") or {}
    if not isinstance(config, Mapping):
        raise CloudtapInputError("config", config, "a mapping of configuration keys")
    return {str(key): _engine_text(value) for key, value in config.items()}


def _cloud(text: str | None) -> Cloud | None:
    if text is None:
        return None
    try:
        return Cloud(text)
    except ValueError:
        clouds = [cloud.value for cloud in Cloud]
        raise CloudtapInputError(CLOUD_KEY, text, f"one of {clouds}") from None


def lab_stack(stack: Mapping[str, Any] | None) -> LabStack:
    """What the lab takes from a parsed stack file; :class:`CloudtapInputError` for a stack that
    ``pulumi preview`` would refuse for its keys or its network."""
    config = parse_stack_config(config_values(stack))
    cloud = _cloud(config.cloud)
    given = config.section("network")
    if given is not None and cloud is not None and cloud not in CLOUD_NETWORK_FIELDS:
        raise CloudtapInputError(
            NETWORK_KEY,
            given,
            f"no value with {CLOUD_KEY} {cloud.value}: cloudtap builds no monitored network there",
        )
    network = given or {}
    own = CLOUD_NETWORK_FIELDS.get(cloud, frozenset()) if cloud is not None else frozenset()
    reject_unknown_fields(network, NETWORK_FIELDS | own, NETWORK_KEY)
    neutral = {key: value for key, value in network.items() if key in NETWORK_FIELDS}
    if cloud is Cloud.OPENSTACK:
        # OpenStack's own defaults for the neutral fields (one zone, tee clones), without the
        # cloud lookup: the same function the component plans with.
        from components.openstack.network_planning import neutral_network_args  # noqa: PLC0415

        with under("network"):
            neutral = neutral_network_args(network)
    with under("network"):
        # Azure: as MonitoredVNet plans it, one subnet per tier (Azure subnets span zones).
        plan = plan_network_of(network) if cloud is Cloud.AZURE else plan_network(neutral)
    unmodelled = {f"{NETWORK_KEY}.{key}": network[key] for key in sorted(network) if key in own}
    return LabStack(plan, cloud, unmodelled, one_armed=cloud is Cloud.AZURE)


def load_stack(path: Path) -> LabStack:
    """Read and check a stack file; OSError, YAMLError or CloudtapInputError."""
    stack = yaml.safe_load(path.read_text(encoding="utf-8"))
    if stack is not None and not isinstance(stack, Mapping):
        raise CloudtapInputError(str(path), type(stack).__name__, "a YAML mapping")
    return lab_stack(stack)


def load_plan(path: Path) -> NetworkPlan:
    """Plan the network a stack file describes; OSError, YAMLError or CloudtapInputError."""
    return load_stack(path).plan
