"""gladdesk cli: the `gladdesk` command line (entry point `cli.main:main`).

It drives `core` (the desk), `sim` (simulated customers, the demo desk) and, for the
terminal commands only, `tui`. `core` never imports it.
"""
