"""The console's data interface: `core.console.data` (what the console's screens use) and its
local backend `core.console.local` (imported only where a console on a desk file or database
is built)."""
