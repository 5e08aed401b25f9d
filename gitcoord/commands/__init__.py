"""The CLI's commands, one module per area; `gitcoord.cli` gathers them into the `gitcoord` group.

`base` holds what they share (the group's context, `coord()`, the common options). Imports point
down only: command modules import `base` and the library, never `gitcoord.cli` nor each other.
Every `gitcoord` run imports every command module, so none imports a heavy library at module
level: the work is imported inside the command that needs it.
"""
