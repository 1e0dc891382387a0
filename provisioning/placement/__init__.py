"""Placement: filters drop hosts that cannot run a request, weighers rank the rest (Nova style).

Filters work in the database (one indexed query over free capacity), never by loading the fleet
into Python; only the few top-ranked candidates are checked against the simulator's mode matrix.
"""
from .request import PlacementRequest
from .scheduler import Placement, candidates, dry_run, explain

__all__ = ["PlacementRequest", "Placement", "candidates", "explain", "dry_run"]
