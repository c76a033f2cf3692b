"""Which EC2 instance types AWS Traffic Mirroring accepts as a *source*: data with its sources.

Pure Python, no AWS call. ``Hypervisor == "nitro"`` is not enough: AWS excludes many Nitro
families, allows a handful of older Xen families, and never mirrors bare metal. The rule here:

1. bare metal (size ``metal`` or ``metal-*``): never;
2. a family on AWS's list of allowed non-Nitro types: yes;
3. any other Xen (non-Nitro) family: no;
4. a family on AWS's Traffic Mirroring exclusion list: no;
5. a Nitro v5 or v6 family: no (the EC2 Nitro page: "Traffic Mirroring is not supported");
6. a Nitro v2 or v3 family: yes;
7. a Nitro v4 family not on the exclusion list, or a family this data does not know: *unconfirmed*,
   treated as not mirrorable (the gateway mirror in ``auto`` mode, an error in ``native`` mode).
   The exclusion list names nearly every v4 family and is updated later than the Nitro page, so
   assuming "yes" would turn a preview that passes into an ``up`` that fails.

Sources (both retrieved 2026-11-21, from the stored copies of AWS's documentation; the pages
themselves carry no revision date):

- AWS Traffic Mirroring guide, "Traffic Mirroring limitations", section "Instance types":
  https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-network-limitations.html
  (the same list appears on "Understand traffic mirror session concepts",
  https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-sessions.html).
- Amazon EC2 instance types guide, "Instances built on the AWS Nitro System" (families by Nitro
  version, and which versions support Traffic Mirroring):
  https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-nitro-instances.html

Known gaps, stated rather than guessed: the exclusion list is AWS's as published, which may lag
new families; the list of Xen families below is cloudtap's (AWS publishes the Nitro list, not a
Xen list) and only serves the wording of messages — an unknown family is refused either way.
Update the sets and ``RETRIEVED`` together, then regenerate the copy the enrolment function
ships (``python -m components.aws.mirror_support >
components/assets/enrolment/mirror_support.json``; a test fails while the two differ).

AWS may widen its support before this data is updated: ``mirrorable_instance_types`` (a field of
the AWS MirrorSession) names types or families a user has checked AWS mirrors, and wins over the
data (:func:`mirror_support`'s ``assumed_mirrorable``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from ..errors import CloudtapInputError
from ..shapes import split_instance_type

RETRIEVED = "2026-11-21"
LIMITATIONS_URL = (
    "https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-network-limitations.html"
)

# "Traffic Mirroring is available only on the following non-Nitro instance types: C4, D2, G3,
# G3s, H1, I3, M4, P2, P3, R4, X1, and X1e. Note that this does not include T2 instances."
ALLOWED_NON_NITRO = frozenset(
    {"c4", "d2", "g3", "g3s", "h1", "i3", "m4", "p2", "p3", "r4", "x1", "x1e"}
)

# "Traffic Mirroring is not available on the following virtualized Nitro instance types".
EXCLUDED = frozenset(
    {
        # General purpose
        *("m8g", "m6a", "m6i", "m6id", "m6idn", "m6in", "m7a", "m7g", "m7gd", "m7i", "m7i-flex"),
        # Compute optimized
        *("c8g", "c6a", "c6gd", "c6gn", "c6i", "c6id", "c6in", "c7a", "c7g", "c7gd", "c7gn"),
        "c7i",
        # Memory optimized
        *("r8g", "r6a", "r6i", "r6id", "r6idn", "r6in", "r7a", "r7g", "r7gd", "r7i", "r7iz"),
        *("x8g", "x2idn", "x2iedn", "x2iezn"),
        # Storage optimized
        *("i4g", "i4i", "im4gn", "is4gen"),
        # Accelerated computing
        *("inf2", "p5", "trn1", "trn1n"),
        # High-performance computing
        *("hpc6a", "hpc6id", "hpc7a", "hpc7g"),
    }
)

# Virtualized Nitro families by Nitro version (the EC2 Nitro page). v2 to v4: "Traffic Mirroring
# is supported" (less the exclusion list); v5 and v6: "Traffic Mirroring is not supported".
NITRO_V2 = frozenset(
    {
        *("m5", "m5a", "m5ad", "m5d", "m6g", "m6gd", "t3", "t3a", "t4g", "a1"),
        *("c5", "c5a", "c5ad", "c5d", "c6g", "c6gd"),
        *("r5", "r5a", "r5ad", "r5b", "r5d", "r6g", "r6gd", "x2gd", "z1d"),
        "g5g",
    }
)
NITRO_V3 = frozenset(
    {
        *("m5dn", "m5n", "m5zn", "c5n"),
        *("r5dn", "r5n", "u-3tb1", "u-6tb1", "u-9tb1", "u-12tb1", "u-18tb1", "u-24tb1", "x2iezn"),
        *("d3", "d3en", "i3en"),
        *("dl1", "dl2q", "g4ad", "g4dn", "g5", "inf1", "p4d", "p4de", "vt1", "p3dn"),
    }
)
NITRO_V4 = frozenset(
    {
        *("m6a", "m6i", "m6id", "m6idn", "m6in", "m7a", "m7g", "m7gd", "m7i", "m7i-flex"),
        *("c6a", "c6gn", "c6i", "c6id", "c6in", "c7a", "c7g", "c7gd", "c7i", "c7i-flex"),
        *("r6a", "r6i", "r6id", "r6idn", "r6in", "r7a", "r7g", "r7gd", "r7i", "r7iz"),
        *("u7i-6tb", "u7i-8tb", "u7i-12tb", "u7in-16tb", "u7in-24tb", "u7in-32tb", "u7inh-32tb"),
        *("x2idn", "x2iedn"),
        *("i4g", "i4i", "i7i", "im4gn", "is4gen"),
        *("f2", "g6", "g6e", "g6f", "gr6", "gr6f", "inf2", "p5", "p5e", "trn1", "trn1n"),
        *("hpc6a", "hpc6id", "hpc7a"),
    }
)
NITRO_V5 = frozenset(
    {
        *("m8g", "m8gd", "c7gn", "c8g", "c8gd", "r8g", "r8gd", "x8g", "i7ie", "i8g"),
        *("p5en", "p6e-gb200", "trn2", "trn2u", "hpc7g"),
    }
)
NITRO_V6 = frozenset(
    {
        *("m8a", "m8azn", "m8gb", "m8gn", "m8i", "m8id", "m8i-flex", "m8in", "m8idn", "m8ine"),
        *("m8ib", "m8idb"),
        *("c8a", "c8gb", "c8gn", "c8i", "c8id", "c8i-flex", "c8in", "c8ine", "c8ib"),
        *("r8a", "r8gb", "r8gn", "r8i", "r8id", "r8i-flex", "r8in", "r8idn", "r8ib", "r8idb"),
        *("x8aedz", "x8i", "i8ge", "g7e", "p6-b200", "p6-b300", "hpc8a"),
    }
)
# Xen-based (non-Nitro) families that are not on the allowed list: cloudtap's own list, for the
# wording of messages only (see the module docstring).
OTHER_XEN = frozenset(
    {"t1", "t2", "m1", "m2", "m3", "c1", "c3", "cc2", "cr1", "r3", "i2", "g2", "hs1", "f1"}
)


class Verdict(StrEnum):
    """What cloudtap concludes about mirroring a source of one instance type."""

    SUPPORTED = "supported"
    UNSUPPORTED = "unsupported"
    UNCONFIRMED = "unconfirmed"
    """Not known to be refused, not known to work: treated as not mirrorable."""


@dataclass(frozen=True)
class MirrorSupport:
    instance_type: str
    family: str
    verdict: Verdict
    reason: str
    """One clause for preview lines and errors, e.g. "t2 is not a Nitro type and not in AWS's
    allowed non-Nitro list"."""

    @property
    def mirrorable(self) -> bool:
        return self.verdict is Verdict.SUPPORTED


# The name users search for (cf. arkime/aws-aio NonMirrorableEniType), not "...Error".
class NonMirrorableInstanceType(CloudtapInputError):  # noqa: N818
    """A source that AWS Traffic Mirroring cannot copy, in ``native`` mode (at preview)."""

    def __init__(self, field: str, support: MirrorSupport) -> None:
        self.support = support
        super().__init__(
            field,
            support.instance_type,
            f"an instance type AWS Traffic Mirroring accepts as a source: {support.reason} "
            f"(data: {LIMITATIONS_URL}, retrieved {RETRIEVED}); use method auto or gateway "
            "to copy it at the gateway instead",
        )


# A program with many sources of few types asks the same question again and again.
def mirror_support(instance_type: str, assumed_mirrorable: Collection[str] = ()) -> MirrorSupport:
    """Whether AWS can mirror an interface of ``instance_type`` (``family.size``), and why.

    ``assumed_mirrorable``: types or families the user says AWS mirrors (the
    ``mirrorable_instance_types`` override); they win over the data."""
    support = _data_verdict(instance_type)
    if support.mirrorable or not (
        instance_type in assumed_mirrorable or support.family in assumed_mirrorable
    ):
        return support
    return MirrorSupport(
        instance_type,
        support.family,
        Verdict.SUPPORTED,
        f"{instance_type} is in mirrorable_instance_types, which overrides cloudtap's data "
        f"(retrieved {RETRIEVED}: {support.verdict.value})",
    )


@functools.lru_cache(maxsize=512)
def _data_verdict(instance_type: str) -> MirrorSupport:  # noqa: PLR0911 - a decision table
    parts = split_instance_type(instance_type)
    if parts is None:
        raise ValueError(f"not an EC2 instance type (family.size): {instance_type!r}")
    family, size = parts

    def verdict(value: Verdict, reason: str) -> MirrorSupport:
        return MirrorSupport(instance_type, family, value, reason)

    if size == "metal" or size.startswith("metal-"):
        return verdict(
            Verdict.UNSUPPORTED, f"{instance_type} is bare metal, which AWS never mirrors"
        )
    if family in ALLOWED_NON_NITRO:
        return verdict(
            Verdict.SUPPORTED, f"{family} is on AWS's short list of mirrorable non-Nitro types"
        )
    if family in OTHER_XEN:
        return verdict(
            Verdict.UNSUPPORTED,
            f"{family} is not a Nitro type and not in AWS's allowed non-Nitro list",
        )
    if family in EXCLUDED:
        return verdict(
            Verdict.UNSUPPORTED, f"{family} is on AWS's list of Nitro types it does not mirror"
        )
    if family in NITRO_V5 | NITRO_V6:
        version = 5 if family in NITRO_V5 else 6
        return verdict(
            Verdict.UNSUPPORTED,
            f"{family} is a Nitro v{version} type, and AWS does not mirror Nitro v5 or later",
        )
    if family in NITRO_V2 | NITRO_V3:
        return verdict(Verdict.SUPPORTED, f"{family} is a Nitro type AWS mirrors")
    if family in NITRO_V4:
        return verdict(
            Verdict.UNCONFIRMED,
            f"{family} is a Nitro v4 type missing from AWS's exclusion list, which names nearly "
            "every other v4 family; cloudtap does not assume AWS mirrors it",
        )
    return verdict(
        Verdict.UNCONFIRMED,
        f"{family} is not in cloudtap's instance-type data (retrieved {RETRIEVED}); if AWS "
        "mirrors it, add it to components/aws/mirror_support.py",
    )


def support_data() -> dict[str, object]:
    """The data above as JSON-ready lists, in the order :func:`mirror_support` reads them: what
    the enrolment function ships (``components/assets/enrolment/mirror_support.json``)."""
    return {
        "retrieved": RETRIEVED,
        "source": LIMITATIONS_URL,
        "allowed_non_nitro": sorted(ALLOWED_NON_NITRO),
        "other_xen": sorted(OTHER_XEN),
        "excluded": sorted(EXCLUDED),
        "nitro_v5_v6": sorted(NITRO_V5 | NITRO_V6),
        "nitro_v2_v3": sorted(NITRO_V2 | NITRO_V3),
        "nitro_v4": sorted(NITRO_V4),
    }


def support_json() -> str:
    return json.dumps(support_data(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(support_json(), end="")
