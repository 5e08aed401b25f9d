"""Notion publishing: `setup` creates the databases, `sync` upserts the records and pulls reviews back.

Import `gitcoord.notion.sync` only from the notion commands: it loads `notion_client`.
"""
