from gitcoord.cli import entry

entry()
