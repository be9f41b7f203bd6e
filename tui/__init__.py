"""gladdesk terminal UI (Textual)."""
