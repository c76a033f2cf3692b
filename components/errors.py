"""Errors raised while a Pulumi program runs (at preview), before any cloud call.

Every message names the field, the value that was given and what is expected, so the user can
fix the stack file without reading cloudtap's source.
"""

from __future__ import annotations

from typing import Any


class CloudtapInputError(ValueError):
    """An argument that cloudtap can prove wrong before anything is deployed."""

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(self._message())

    def _message(self) -> str:
        return f"{self.field}: got {self.value!r}; expected {self.expected}"

    def refield(self, field: str) -> None:
        """Name the field by a longer path (a stack key in front), keeping the error's class."""
        self.field = field
        self.args = (self._message(),)
