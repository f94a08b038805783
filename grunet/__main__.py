"""`python -m grunet` runs the command line."""
import sys

from grunet.cli import main

sys.exit(main())
