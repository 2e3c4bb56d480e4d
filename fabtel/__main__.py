"""`python -m fabtel`: the same as the `fabtel` console script."""
import sys

from fabtel.cli import main

sys.exit(main())
