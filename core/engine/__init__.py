"""The conversation engine: widget sessions, identity, per-message trust, routing, agent actions.

`Engine` is a facade over small services, each given its collaborators when it is built:

    Directory ─ Timeline ─ Access ─ Routing ─ Automation (the rules) ─ TrustWindow
        └──────── Opening (new conversations) ─ Identification ─ WidgetSessions
                  AgentActions ─ DeskReads ─ AgentAccess (what an agent may see)

Every public method is one transaction and appends to the `events` change feed, so consoles
and servers sharing the database file see it. Times come from `desk.clock` (ms). The engine
runs the rules it is given (none by default); `Engine.for_desk` loads the desk's rules file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.engine.access import Access
from core.engine.agent_access import AgentAccess, AgentScope
from core.engine.agent_actions import AgentActions
from core.engine.automation import Automation
from core.engine.directory import Directory
from core.engine.hooks import MAX_MESSAGE_CHARS, NoRules, RuleAction, RuleFacts, Rules
from core.engine.identify import Identification
from core.engine.opening import DEFAULT_LOGIN_HOLD_S, Opening
from core.engine.reads import DeskReads
from core.engine.routing import Routing
from core.engine.sessions import WidgetSessions
from core.engine.text import InvalidInput, check_body, hash_token, render
from core.engine.timeline import Timeline
from core.engine.trust import TrustWindow
from core.store import Desk

if TYPE_CHECKING:
    from core.identity import Keyring

__all__ = [
    "DEFAULT_LOGIN_HOLD_S",
    "AgentScope",
    "MAX_MESSAGE_CHARS",
    "Engine",
    "InvalidInput",
    "NoRules",
    "RuleAction",
    "RuleFacts",
    "Rules",
    "check_body",
    "hash_token",
    "render",
]


class Engine:
    """The desk's behaviour. One per process (or per thread group) over an open `Desk`."""

    def __init__(
        self, desk: Desk, *, rules: Rules | None = None, keyring: Keyring | None = None
    ) -> None:
        self.desk = desk
        self.rules: Rules = rules if rules is not None else NoRules()
        self._keyring = keyring
        self.directory = directory = Directory(desk)
        timeline = Timeline(desk, directory)
        access = Access(desk, timeline)
        self.routing = routing = Routing(desk, directory, timeline)
        automation = Automation(desk, self.rules, timeline)
        self.trust = trust = TrustWindow(desk, self._get_keyring, access)
        opening = Opening(desk, directory, timeline, access, routing, automation)
        identification = Identification(
            desk, directory, timeline, access, routing, automation, trust
        )
        self.sessions = WidgetSessions(
            desk,
            directory,
            self._get_keyring,
            timeline=timeline,
            access=access,
            identification=identification,
            trust=trust,
            opening=opening,
            automation=automation,
        )
        self.agents = AgentActions(desk, directory, timeline, routing)
        self.reads = DeskReads(desk)
        #: The agent API's reads and actions, checked against what the agent may see.
        self.agent_access = AgentAccess(desk, self.reads, self.agents)
        self._bind()

    @classmethod
    def for_desk(cls, desk: Desk, *, keyring: Keyring | None = None) -> Engine:
        """The engine with the desk's rules file (<db>.rules.toml), reloaded when it changes;
        a bad file refuses to start with `file:line: reason`."""
        from core.rules import rules_for_desk  # core.rules imports core.engine.hooks

        return cls(desk, rules=rules_for_desk(desk), keyring=keyring)

    def _bind(self) -> None:
        """The public calls, each answered by the service that owns it."""
        sessions, agents, reads = self.sessions, self.agents, self.reads
        directory, routing, trust = self.directory, self.routing, self.trust
        # widget sessions
        self.init_session = sessions.init_session
        self.session = sessions.session
        self.session_for_token = sessions.session_for_token
        self.submit_onboarding = sessions.submit_onboarding
        self.set_user = sessions.set_user
        self.clear_user = sessions.clear_user
        self.end_session = sessions.end_session
        self.send_message = sessions.send_message
        # agents
        self.reply = agents.reply
        self.send_login_prompt = agents.send_login_prompt
        self.transfer = agents.transfer
        self.take = agents.take
        self.close = agents.close
        self.reopen = agents.reopen
        # reads
        self.conversation = reads.conversation
        self.profile = reads.profile
        self.find_profile = reads.find_profile
        self.past_conversations = reads.past_conversations
        self.timeline = reads.timeline
        self.session_timeline = reads.session_timeline
        self.widget_events = reads.widget_events
        self.export_conversations = reads.export_conversations
        # lookups
        self.app = directory.app
        self.first_app_id = directory.first_app_id
        self.agent_id = directory.agent_id
        self.agent_handles = directory.agent_handles
        self.inbox_id = directory.inbox_id
        self.default_inbox = directory.default_inbox
        self.follow = directory.follow
        # timers
        self.expire_trust = trust.expire_trust
        self.revoke_retired_trust = trust.revoke_retired_trust
        self.release_holds = routing.release_holds
        self.assign_queued = routing.assign_queued

    @property
    def keyring(self) -> Keyring:
        """The token verifier and minter, loaded on first use (it pulls in PyJWT)."""
        return self._get_keyring()

    def _get_keyring(self) -> Keyring:
        if self._keyring is None:
            from core.identity import Keyring

            self._keyring = Keyring(self.desk)
        return self._keyring

    @property
    def now(self) -> int:
        return self.desk.clock.now_ms()

    def tick(self) -> None:
        """Timers: lapse trust windows, release login holds, hand queued chats to free agents.
        Servers and the demo call this about once a second.
        """
        self.trust.expire_trust()
        self.trust.revoke_retired_trust()
        self.routing.release_holds()
        self.routing.assign_queued()
