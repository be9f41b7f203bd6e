"""gladdesk sim: simulated customers and demo data, driving the desk from outside.

The demo desk builder, the scenario scripts' language, the customer feed and its HTTP
widget client. Uses `core`; `core` never imports it. Never imports textual or rich.
"""
