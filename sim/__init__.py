"""gladdesk sim: simulated customers and demo data, driving the desk from outside.

The demo desk builder, the scenario scripts' language and player, the simulated customers
(the random mix, the console's background run, the trainer's walkthrough) and the widget
clients they drive a desk with (in-process or over HTTP). Uses `core`; `core` never imports
it. Never imports textual or rich.
"""
