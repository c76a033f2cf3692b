"""Which distribution family an instance's image belongs to, for the names of its packages.

cloud-init's ``packages`` installs its whole list in one call, so a single name the image's
package manager does not know (``iproute-tc`` on Debian) installs nothing at all: every role's
package list is therefore kept per family.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from .errors import CloudtapInputError


class OsFamily(StrEnum):
    AMAZON_LINUX = "amazon-linux"
    """Amazon Linux 2023 (dnf): the default image on AWS."""
    DEBIAN = "debian"
    """Debian and Ubuntu (apt)."""
    RHEL = "rhel"
    """Red Hat Enterprise Linux, Rocky Linux, AlmaLinux (dnf)."""


DEFAULT_OS_FAMILY = OsFamily.AMAZON_LINUX


def parse_os_family(field: str, value: Any) -> OsFamily:
    """``value`` (``None``: the default, Amazon Linux) as an :class:`OsFamily`."""
    if value is None:
        return DEFAULT_OS_FAMILY
    if isinstance(value, str):
        try:
            return OsFamily(value)
        except ValueError:
            pass
    raise CloudtapInputError(
        field, value, f"one of {[family.value for family in OsFamily]} (the image's distribution)"
    )
