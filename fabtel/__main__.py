"""`python -m fabtel`: the same as the `fabtel` console script."""
import sys

from fabtel.shell.cli import main

sys.exit(main())
