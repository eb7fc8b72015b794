"""What the parts of fakalab agree on, and nothing else.

A drill is asked to do something (a scenario file: `scenario`, with its load `shapes`, the chaos
`monkey` and `--set` `overrides`, the built-in `catalog/`; the reference shop's settings,
`shop_settings`) and writes what it observed (the run directory: `rundir`). Both speak the
vocabulary of order `stages` and upstream `services`. Every other part may import this package;
it imports only `fakalab.chaos` (a scenario's drill section is a chaos plan).
"""
