"""fakalab: load tests, chaos drills and simulations of auto-delivery (发卡) shops.

The parts install as one namespace (`fakalab.reference_shop`, `fakalab.scenarios`,
`fakalab.chaos`, `fakalab.simulate`, `fakalab.reports`, `fakalab.contract`); in a source
checkout they are the top-level folders, which `fakalab/` links to.
"""

from importlib import metadata

__all__ = ["__version__"]

try:
    __version__ = metadata.version("fakalab")
except metadata.PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0+unknown"
