"""``python -m bench [NAME...] [--quick]``: see :mod:`bench`."""

from __future__ import annotations

import argparse
import sys

from . import BENCHES, load, summary_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of {', '.join(BENCHES)}")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, one repeat")
    options = parser.parse_args(argv)
    unknown = [name for name in options.names if name not in BENCHES]
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    reports = [load(name)(options.quick) for name in (options.names or BENCHES)]
    if options.names:
        print("\n\n".join(report.detail() for report in reports))
        print()
    print(summary_table(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
