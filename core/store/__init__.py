"""The desk's store: the only package that speaks SQL.

`Desk` (`core.store.desk`) owns the SQLite file, its transactions and the `events` change feed;
the modules beside it are the named reads and writes the rest of the desk calls, one module
a subject (queue, timeline, profiles, directory, conversations, items, widget sessions,
seed). They take an open transaction (`Tx`, from `desk.transaction()` or `desk.reading()`)
and plain values, and return plain values or `Row`s. A second backend (PostgreSQL) would
implement this package's functions and nothing else.
"""

from core.store.desk import NOT_WAITING_OFFSET, Desk, Event, Row, Tx, queue_key

__all__ = ["NOT_WAITING_OFFSET", "Desk", "Event", "Row", "Tx", "queue_key"]
