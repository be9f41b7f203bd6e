"""Worker errors reach the agent: `Worker.StateChanged` does not bubble, so every node that
starts workers forwards it to the app's one reporter (`DeskApp.report_worker`)."""

from __future__ import annotations

from textual.worker import Worker


class ReportsWorkerErrors:
    """Mixin for screens and widgets that run `@work` methods."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report = getattr(self.app, "report_worker", None)  # type: ignore[attr-defined]
        if report is not None:
            report(event)
