"""The desk's HTTP side: widget API with SSE, widget.js, demo portal, admin REST API."""

from __future__ import annotations

from core.web.app import create_app

__all__ = ["create_app"]
