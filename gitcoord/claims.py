"""Former home of resources and overlap; kept only so older imports keep working.

New code imports ``gitcoord.resources`` (grammar, validation) and ``gitcoord.overlap``
(automata, witness, index). Remove this module once nothing imports it.
"""

from __future__ import annotations

from gitcoord.overlap import ResourceIndex, covers, overlaps, witness
from gitcoord.resources import MAX_RESOURCE_BYTES, Kind, Resource, parse_resource

__all__ = [
    "MAX_RESOURCE_BYTES",
    "Kind",
    "Resource",
    "ResourceIndex",
    "covers",
    "overlaps",
    "parse_resource",
    "witness",
]
