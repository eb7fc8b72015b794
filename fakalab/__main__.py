"""`python -m fakalab` is the `fakalab` command."""

from fakalab.cli import main

main()
