from gitcoord.hooks.run import entry

entry()
