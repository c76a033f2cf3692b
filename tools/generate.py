"""Regenerate what is derived from the code: the README's argument tables and the golden schema.

    .venv/bin/python -m tools.generate          # rewrite README.md and tests/golden/schema.json
    .venv/bin/python -m tools.generate --check  # exit 1, naming the files, when either is stale

``make test`` runs the same comparison (``tests/test_readme_tables.py``, ``tests/test_package.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GOLDEN_SCHEMA = ROOT / "tests" / "golden" / "schema.json"


def schema_text() -> str:
    from components.package import schema  # noqa: PLC0415 - loads the cloud SDKs

    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


def expected() -> dict[Path, str]:
    from tools.readme_tables import update  # noqa: PLC0415

    return {README: update(README.read_text()), GOLDEN_SCHEMA: schema_text()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only say whether files are stale")
    options = parser.parse_args(argv)
    stale = []
    for path, text in expected().items():
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if not options.check:
                path.write_text(text)
    for path in stale:
        verb = "stale" if options.check else "rewritten"
        print(f"{path.relative_to(ROOT)}: {verb}", file=sys.stderr)
    return 1 if options.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
