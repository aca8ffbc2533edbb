"""``python -m enresnet`` runs the command-line tool (also under torchrun)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
