"""``python -m corral``: the command line interface."""

import sys

from corral.cli import main

if __name__ == "__main__":
    sys.exit(main())
