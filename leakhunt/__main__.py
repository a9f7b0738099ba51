"""``python -m leakhunt`` runs the command line."""

import sys

from leakhunt.cli import main

sys.exit(main())
