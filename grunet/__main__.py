"""`python -m grunet` runs the command line."""

from grunet.cli import run

run()
