"""The README's argument tables are generated from the code: they must agree with it."""

from __future__ import annotations

from components.field_docs import field_docs
from components.network_plan import NetworkArgs, PortForwardArgs
from tools.generate import README
from tools.readme_tables import meaning, update


def test_readme_tables_match_the_code() -> None:
    text = README.read_text()
    assert update(text) == text, "README.md is stale: run `python -m tools.generate`"


def test_a_changed_docstring_makes_the_readme_stale() -> None:
    text = README.read_text()
    edited = text.replace(
        "| `cidr_block` | `str` | `10.0.0.0/16` |", "| `cidr_block` | `str` | x |"
    )
    assert edited != text
    assert update(edited) == text


def test_defaults_and_required_fields_are_read_from_the_docstrings() -> None:
    fields = {field.name: field for field in field_docs(PortForwardArgs)}
    assert fields["public_port"].default == "required"
    assert fields["private_port"].default == "``public_port``"
    assert fields["protocol"].default == '``"tcp"``'
    network = {field.name: field for field in field_docs(NetworkArgs)}
    assert network["cidr_block"].default == "``10.0.0.0/16``"
    assert "Default" not in meaning(network["cidr_block"])
