"""`python -m treeport`."""

from treeport.cli import run

run()
