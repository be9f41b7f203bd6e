"""gladdesk core: the desk, headless. Never imports textual or rich."""
