"""The versioned desk schema and its migrations.

The version lives in `PRAGMA user_version`. Each migration takes the database from version
N-1 to N inside one transaction. DDL here is plain, portable SQL where that costs nothing;
triggers are the SQLite spelling of rules a PostgreSQL backend would keep as triggers too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

IDENTITY_STATES = ("ANONYMOUS", "CLAIMED", "TRUSTED")
IDENTITY_SOURCES = ("none", "onboarding_form", "set_user", "jwt")
CONVERSATION_STATUSES = ("OPEN", "WAITING", "CLOSED")
TRUST_PATHS = ("before_routing", "after_routing", "never", "different_identity")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _v1(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        f"""
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE apps (
            app_id TEXT PRIMARY KEY,
            store_name TEXT NOT NULL,
            login_url TEXT NOT NULL,
            signup_url TEXT NOT NULL,
            first_message TEXT NOT NULL,
            greeting TEXT NOT NULL,
            onboarding_enabled INTEGER NOT NULL DEFAULT 1 CHECK (onboarding_enabled IN (0, 1)),
            onboarding_identity TEXT NOT NULL DEFAULT 'email'
                CHECK (onboarding_identity IN ('email', 'phone')),
            trust_window_s INTEGER NOT NULL DEFAULT 3600 CHECK (trust_window_s > 0),
            allowed_origins TEXT NOT NULL DEFAULT '[]'
        );
        CREATE TABLE inboxes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE
        );
        CREATE TABLE agents (
            id INTEGER PRIMARY KEY,
            handle TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            capacity INTEGER NOT NULL DEFAULT 5 CHECK (capacity >= 0),
            available INTEGER NOT NULL DEFAULT 1 CHECK (available IN (0, 1)),
            -- OPEN + WAITING conversations assigned; kept by the triggers below, for routing
            open_conversations INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE profiles (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX profiles_name ON profiles (name COLLATE NOCASE);
        CREATE TABLE profile_emails (
            email TEXT PRIMARY KEY,
            profile_id INTEGER NOT NULL REFERENCES profiles (id)
        );
        CREATE INDEX profile_emails_profile ON profile_emails (profile_id);
        CREATE TABLE profile_phones (
            phone TEXT PRIMARY KEY,
            profile_id INTEGER NOT NULL REFERENCES profiles (id)
        );
        CREATE INDEX profile_phones_profile ON profile_phones (profile_id);

        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            profile_id INTEGER NOT NULL REFERENCES profiles (id),
            app_id TEXT REFERENCES apps (app_id),
            inbox_id INTEGER NOT NULL REFERENCES inboxes (id),
            assignee_id INTEGER REFERENCES agents (id),
            status TEXT NOT NULL CHECK ({_in("status", CONVERSATION_STATUSES)}),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            routed_at INTEGER,
            -- routing held until the customer logs in (a rule), or until this time
            hold_until INTEGER,
            closed_at INTEGER,
            -- the first customer message still without an agent reply; NULL when none waits
            waiting_since INTEGER,
            -- queue order: waiting_since while a customer waits, else last activity pushed
            -- behind every waiting one (see store.queue_key)
            queue_key INTEGER NOT NULL,
            identity_state TEXT NOT NULL DEFAULT 'ANONYMOUS'
                CHECK ({_in("identity_state", IDENTITY_STATES)}),
            identity_source TEXT NOT NULL DEFAULT 'none'
                CHECK ({_in("identity_source", IDENTITY_SOURCES)}),
            authenticated_at INTEGER,
            trust_path TEXT CHECK (trust_path IS NULL OR {_in("trust_path", TRUST_PATHS)}),
            last_customer_item_id INTEGER,
            last_customer_trusted INTEGER,
            last_preview TEXT NOT NULL DEFAULT '',
            item_count INTEGER NOT NULL DEFAULT 0
        );
        -- Queue pages are keyset scans of these: (queue_key, id) > (?, ?) ORDER BY queue_key, id.
        -- The partial ones cover the working queues (OPEN and WAITING together).
        CREATE INDEX conversations_active_queue ON conversations (queue_key, id)
            WHERE status != 'CLOSED';
        CREATE INDEX conversations_assignee_queue ON conversations (assignee_id, queue_key, id)
            WHERE status != 'CLOSED';
        CREATE INDEX conversations_inbox_queue ON conversations (inbox_id, queue_key, id)
            WHERE status != 'CLOSED';
        CREATE INDEX conversations_status_queue ON conversations (status, queue_key, id);
        CREATE INDEX conversations_profile ON conversations (profile_id, status);
        CREATE INDEX conversations_created ON conversations (created_at);

        CREATE TABLE conversation_tags (
            conversation_id INTEGER NOT NULL REFERENCES conversations (id),
            tag TEXT NOT NULL,
            PRIMARY KEY (conversation_id, tag)
        );

        CREATE TABLE widget_sessions (
            id TEXT PRIMARY KEY,
            app_id TEXT NOT NULL REFERENCES apps (app_id),
            token_hash TEXT UNIQUE,
            profile_id INTEGER REFERENCES profiles (id),
            identity_state TEXT NOT NULL DEFAULT 'ANONYMOUS'
                CHECK ({_in("identity_state", IDENTITY_STATES)}),
            identity_source TEXT NOT NULL DEFAULT 'none'
                CHECK ({_in("identity_source", IDENTITY_SOURCES)}),
            display_name TEXT,
            trusted_until INTEGER,
            trusted_kid TEXT,
            expiry_notified INTEGER NOT NULL DEFAULT 0,
            conversation_id INTEGER REFERENCES conversations (id),
            client_address TEXT,
            created_at INTEGER NOT NULL,
            ended_at INTEGER
        );

        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations (id),
            type TEXT NOT NULL CHECK (type IN ('message', 'event')),
            sender TEXT NOT NULL CHECK (sender IN ('customer', 'agent', 'bot', 'system')),
            event TEXT,
            body TEXT NOT NULL,
            at INTEGER NOT NULL,
            -- fixed when a customer message is received; NULL for every other item
            trusted INTEGER CHECK (trusted IN (0, 1)),
            agent_id INTEGER REFERENCES agents (id),
            session_id TEXT,
            CHECK ((type = 'message' AND sender = 'customer') = (trusted IS NOT NULL)),
            CHECK ((type = 'event') = (event IS NOT NULL))
        );
        CREATE INDEX items_conversation ON items (conversation_id, id);

        CREATE TABLE signing_keys (
            kid TEXT PRIMARY KEY,
            alg TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('desk', 'secret', 'pem', 'jwks_file', 'jwks_url')),
            public_material TEXT,
            jwks_url TEXT,
            issuer TEXT,
            audience TEXT,
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
            fingerprint TEXT,
            demo_only INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            retired_at INTEGER
        );

        CREATE TABLE api_users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            token_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );

        CREATE TABLE token_audit (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            code TEXT NOT NULL,
            kid TEXT,
            session_id TEXT,
            client_address TEXT,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX token_audit_at ON token_audit (at);

        CREATE TABLE jti_bindings (
            jti TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            bound_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        );

        -- The change feed: append-only; consoles, servers and feeds tail it by id. Rows are
        -- never deleted (trigger below), so the rowid alone is monotonic: no AUTOINCREMENT.
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            at INTEGER NOT NULL,
            conversation_id INTEGER,
            item_id INTEGER,
            session_id TEXT,
            profile_id INTEGER,
            agent_id INTEGER
        );
        CREATE INDEX events_session ON events (session_id, id);

        -- Agent load for routing, kept right whoever writes (several processes share the file).
        CREATE TRIGGER agent_load_insert AFTER INSERT ON conversations
        WHEN new.assignee_id IS NOT NULL AND new.status != 'CLOSED'
        BEGIN
            UPDATE agents SET open_conversations = open_conversations + 1
            WHERE id = new.assignee_id;
        END;
        CREATE TRIGGER agent_load_update AFTER UPDATE OF status, assignee_id ON conversations
        WHEN old.assignee_id IS NOT new.assignee_id
            OR (old.status = 'CLOSED') != (new.status = 'CLOSED')
        BEGIN
            UPDATE agents SET open_conversations = open_conversations - 1
            WHERE id = old.assignee_id AND old.status != 'CLOSED';
            UPDATE agents SET open_conversations = open_conversations + 1
            WHERE id = new.assignee_id AND new.status != 'CLOSED';
        END;

        -- Timeline items and the feed never change once written.
        CREATE TRIGGER items_immutable BEFORE UPDATE ON items
        BEGIN SELECT RAISE(ABORT, 'timeline items are immutable once written'); END;
        CREATE TRIGGER items_no_delete BEFORE DELETE ON items
        BEGIN SELECT RAISE(ABORT, 'timeline items cannot be deleted'); END;
        CREATE TRIGGER events_immutable BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the events feed is append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the events feed is append-only'); END;
        """,
    )


def _v2(conn: sqlite3.Connection) -> None:
    """The trust boundary (docs/trust-model.md): what each widget session may see.

    - `session_access`: the conversations a session may read and write now, and how it got
      there: `started` (its own) or `trusted` (an open conversation of its verified profile,
      joined while TRUSTED). clear_user and a switch to another person delete its rows.
    - `widget_sessions.visible_after`: change-feed id before which nothing reaches the session
      (its last clear_user or identity switch), so replays cannot reach the previous customer.
    - `widget_sessions.trust_late_in`: the conversation in which the current trust began after
      routing (rules see the current trust timing, not the first).
    - `widget_sessions.previous_conversation_id`: the conversation of the person before an
      identity switch (scenario 5 routes the new person to another agent).
    - `conversations.started_session_id`, `claimed_name` (the name the session gave, shown
      beside the profile's), `trusted_until` (the trust window of its last trusted session).
    - `signing_keys.apps`: the apps a site key may trust sessions of (JSON list; '[]' = the
      desk's only app).
    - `jti_bindings` gains `scope` (the key or keyset): replay is checked per key.
    """
    run_script(
        conn,
        """
        CREATE TABLE session_access (
            session_id TEXT NOT NULL REFERENCES widget_sessions (id),
            conversation_id INTEGER NOT NULL REFERENCES conversations (id),
            via TEXT NOT NULL CHECK (via IN ('started', 'trusted')),
            granted_at INTEGER NOT NULL,
            PRIMARY KEY (session_id, conversation_id)
        );
        CREATE INDEX session_access_conversation ON session_access (conversation_id);
        ALTER TABLE widget_sessions ADD COLUMN visible_after INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE widget_sessions ADD COLUMN trust_late_in INTEGER;
        ALTER TABLE widget_sessions ADD COLUMN previous_conversation_id INTEGER;
        ALTER TABLE conversations ADD COLUMN started_session_id TEXT;
        ALTER TABLE conversations ADD COLUMN claimed_name TEXT;
        ALTER TABLE conversations ADD COLUMN trusted_until INTEGER;
        ALTER TABLE signing_keys ADD COLUMN apps TEXT NOT NULL DEFAULT '[]';
        CREATE INDEX events_conversation ON events (conversation_id, id)
            WHERE conversation_id IS NOT NULL;
        CREATE INDEX widget_sessions_trusted ON widget_sessions (trusted_until)
            WHERE identity_state = 'TRUSTED';

        CREATE TABLE jti_uses (
            scope TEXT NOT NULL,
            jti TEXT NOT NULL,
            session_id TEXT NOT NULL,
            bound_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (scope, jti)
        );
        -- Bindings made before keys had scopes hold for every key until they expire.
        INSERT INTO jti_uses (scope, jti, session_id, bound_at, expires_at)
            SELECT '*', jti, session_id, bound_at, expires_at FROM jti_bindings;
        DROP TABLE jti_bindings;

        -- Sessions keep the conversations they started.
        UPDATE conversations SET started_session_id = (
            SELECT e.session_id FROM events e
            WHERE e.kind = 'conversation.created' AND e.conversation_id = conversations.id
        );
        INSERT OR IGNORE INTO session_access (session_id, conversation_id, via, granted_at)
            SELECT s.id, s.conversation_id, 'started', s.created_at FROM widget_sessions s
            JOIN conversations c ON c.id = s.conversation_id AND c.started_session_id = s.id;
        """,
    )


def _v3(conn: sqlite3.Connection) -> None:
    """Flood budgets (core/budgets.py, docs/config.md#flood-budgets).

    - `apps` gains its budgets: per client address and per app, a minute's worth of session
      starts, identifications and new conversations (0: no limit), and
      `address_unassigned_max`, the conversations one address may have waiting unassigned.
    - `widget_sessions.api_user`: the API user whose credentials started the session (a
      site's backend or the HTTP feed); such sessions are not counted against the budgets.
    - `conversations.opened_from`: the client address (IPv6: its /64) of the session that
      started it, NULL for sessions the budgets do not count; with its partial index, counting
      an address's open unassigned conversations reads only those.
    """
    budgets = [
        ("address_sessions_per_min", 60),
        ("app_sessions_per_min", 6000),
        ("address_identifications_per_min", 60),
        ("app_identifications_per_min", 6000),
        ("address_conversations_per_min", 60),
        ("app_conversations_per_min", 3000),
        ("address_unassigned_max", 20),
    ]
    for column, default in budgets:
        conn.execute(
            f"ALTER TABLE apps ADD COLUMN {column} INTEGER NOT NULL DEFAULT {default}"
            f" CHECK ({column} BETWEEN 0 AND 1000000)"
        )
    run_script(
        conn,
        """
        ALTER TABLE widget_sessions ADD COLUMN api_user TEXT;
        ALTER TABLE conversations ADD COLUMN opened_from TEXT;
        CREATE INDEX conversations_unassigned_from ON conversations (opened_from, app_id)
            WHERE opened_from IS NOT NULL AND assignee_id IS NULL AND status != 'CLOSED';
        """,
    )
    from core.addresses import address_group

    rows = conn.execute(
        "SELECT c.id, s.client_address FROM conversations c"
        " JOIN widget_sessions s ON s.id = c.started_session_id"
        " WHERE c.status != 'CLOSED' AND s.client_address IS NOT NULL"
    ).fetchall()
    conn.executemany(
        "UPDATE conversations SET opened_from = ? WHERE id = ?",
        [(address_group(address), conversation_id) for conversation_id, address in rows],
    )


def _v4_token_audit_context(conn: sqlite3.Connection) -> None:
    """The token audit says whose rejection it was (`gladdesk audit`, docs/trust-model.md).

    - `origin`: `widget` (a widget session's setUser) or `cli` (`gladdesk verify`); the
      authentication report counts the widget's only.
    - `app_id`: the app the token was presented for, when known.
    - `session_state`, `profile_id`: the presenting session's identity state and profile at
      that moment, so the audit can name who the customer claimed to be.
    - indexes on `(session_id, at)` (a session's rejections: the console's profile pane) and
      `(code, at)` (the audit filtered by code).

    Rows from before: `app_id` from their session; a row whose session is not a widget
    session (none, or a name `verify --session` made up) came from the CLI.
    """
    run_script(
        conn,
        """
        ALTER TABLE token_audit ADD COLUMN origin TEXT NOT NULL DEFAULT 'widget'
            CHECK (origin IN ('widget', 'cli'));
        ALTER TABLE token_audit ADD COLUMN app_id TEXT;
        ALTER TABLE token_audit ADD COLUMN session_state TEXT;
        ALTER TABLE token_audit ADD COLUMN profile_id INTEGER;
        CREATE INDEX token_audit_session ON token_audit (session_id, at)
            WHERE session_id IS NOT NULL;
        CREATE INDEX token_audit_code ON token_audit (code, at);
        UPDATE token_audit SET app_id = (
            SELECT s.app_id FROM widget_sessions s WHERE s.id = token_audit.session_id
        );
        UPDATE token_audit SET origin = 'cli' WHERE app_id IS NULL;
        """,
    )


def _v5_desk_administration(conn: sqlite3.Connection) -> None:
    """Running a desk from the command line (`gladdesk apps / agents / inboxes / config`,
    docs/config.md).

    - `apps.greeting_new`: the greeting of a customer the desk may not treat as returning;
      NULL: the desk's own (core/engine/greeting.py `GREETING_NEW`).
    - `agents.disabled`: an agent who left or is on leave. A disabled agent is also not
      `available`, so routing, taking and the widget's availability skip them; their open
      chats stay theirs until someone transfers them.
    - `agent_inboxes`: the inboxes an agent works. An agent without rows works every inbox;
      with rows, routing hands them only conversations of those inboxes.
    """
    run_script(
        conn,
        """
        ALTER TABLE apps ADD COLUMN greeting_new TEXT;
        ALTER TABLE agents ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0
            CHECK (disabled IN (0, 1));
        CREATE TABLE agent_inboxes (
            agent_id INTEGER NOT NULL REFERENCES agents (id),
            inbox_id INTEGER NOT NULL REFERENCES inboxes (id),
            PRIMARY KEY (agent_id, inbox_id)
        );
        CREATE INDEX agent_inboxes_inbox ON agent_inboxes (inbox_id);
        """,
    )


def _v6_message_search(conn: sqlite3.Connection) -> None:
    """Full-text search over conversation history (core/store/search.py).

    `items.message_text`: a virtual column, the body of messages only (NULL for events, so
    "closed" or "assigned" do not match every conversation's events). sqlite-utils makes the
    FTS5 index of it and the triggers that keep it (items are only ever inserted) and fills it
    for an existing desk; inside this migration's transaction it runs its scripts statement
    by statement (no implicit commit), and it is told not to change the connection's pragmas.
    """
    import sqlite_utils  # only here: the rest of the store does without it

    conn.execute(
        "ALTER TABLE items ADD COLUMN message_text TEXT"
        " GENERATED ALWAYS AS (CASE WHEN type = 'message' THEN body END) VIRTUAL"
    )
    database = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
    database.table("items").enable_fts(
        ["message_text"],
        fts_version="FTS5",
        create_triggers=True,
        tokenize="unicode61 remove_diacritics 2",
    )


def _v7_agent_accounts(conn: sqlite3.Connection) -> None:
    """Agents signing in over the network (the agent API, docs/agent-api.md).

    - `agents.role`: `agent` (their own and their inboxes' unassigned conversations) or
      `admin` (every conversation, and the admin REST API with their token).
    - `agents.token_hash`: the SHA-256 (hex) of the agent's personal access token, as API
      users' tokens are stored; NULL when they have none (never issued, or revoked when the
      agent was disabled). Unique, so a request finds its agent by one indexed lookup.
    - `agents.token_created_at`: when that token was issued (ms); NULL with no token.
    """
    run_script(
        conn,
        """
        ALTER TABLE agents ADD COLUMN role TEXT NOT NULL DEFAULT 'agent'
            CHECK (role IN ('agent', 'admin'));
        ALTER TABLE agents ADD COLUMN token_hash TEXT;
        ALTER TABLE agents ADD COLUMN token_created_at INTEGER;
        CREATE UNIQUE INDEX agents_token_hash ON agents (token_hash);
        """,
    )


def _v8_shared_budgets(conn: sqlite3.Connection) -> None:
    """Flood budgets every server process of a desk counts together (core/store/buckets.py,
    docs/config.md#flood-budgets): a token bucket per key, its tokens when last counted,
    that time and when it is full again (ms; a full bucket's row may go)."""
    run_script(
        conn,
        """
        CREATE TABLE rate_buckets (
            key TEXT PRIMARY KEY,
            tokens REAL NOT NULL,
            counted_at INTEGER NOT NULL,
            full_at INTEGER NOT NULL
        );
        CREATE INDEX rate_buckets_full ON rate_buckets (full_at);
        """,
    )


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Execute a multi-statement script inside the caller's transaction.

    `Connection.executescript` commits first, which would break a migration's atomicity.
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement: {statement.strip()[:60]}")


#: MIGRATIONS[n] takes the schema from version n to n + 1. Append only; never edit one that shipped.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _v1,
    _v2,
    _v3,
    _v4_token_audit_context,
    _v5_desk_administration,
    _v6_message_search,
    _v7_agent_accounts,
    _v8_shared_budgets,
]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to SCHEMA_VERSION, one transaction per step. Returns the version."""
    version = schema_version(conn)
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = schema_version(conn)
            if version < SCHEMA_VERSION:
                MIGRATIONS[version](conn)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version
