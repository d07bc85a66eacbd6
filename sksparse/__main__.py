"""``python -m sksparse``: the same as the ``sksparse`` command."""

import sys

from sksparse.cli import main

if __name__ == "__main__":
    sys.exit(main())
