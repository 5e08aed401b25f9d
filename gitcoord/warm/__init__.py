"""The warm path: a per-user fork server that has imported gitcoord once, and its tiny client.

`client.entry` is the `gitcoord` console script. It hands the call (argv, working directory,
environment, umask and standard streams) to a server of the same code and interpreter, which forks
a child per call; when no such server can be used, the call runs in this process as before.
Nothing here holds coordination state: every call reads the repository afresh (DESIGN §14).
"""
