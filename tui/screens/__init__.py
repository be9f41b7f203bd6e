"""The console's screens: each arranges widgets and turns keys into core calls."""
