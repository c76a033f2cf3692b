"""Entry point of the cloudtap component package: the Pulumi CLI runs it as a plugin.

The plugin directory is ``provider/`` inside a checkout of the repository, so the library is
imported from the directory above it (the repository root also holds the Pulumi program's own
``__main__.py``, hence a directory of its own here).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi.provider import main

from components.package import serve

if __name__ == "__main__":
    # The CLI passes the engine's address (and flags such as --logtostderr) as arguments.
    serve(sys.argv[1:], main)
