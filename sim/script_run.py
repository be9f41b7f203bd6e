"""One simulated customer playing one scenario script, step by step (`ScriptRun`).

The customer acts through a `sim.widget_client.WidgetClient` (in this process, or a server
over HTTP); agents' steps act on the desk's `Engine` when the client has one. What each step
did comes back as a `StepOutcome`; drivers (the customer mix, the trainer) decide what time
means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.engine import Engine
from core.errors import DeskError
from sim.scenarios import Cast, Person, Scenario, Step, default_cast
from sim.widget_client import Contact, WidgetClient, as_widget_client


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one step did, in one line of plain text, plus what a driver needs to know."""

    step: Step
    summary: str
    wait_s: float = 0.0
    trusted: bool | None = None  # a `say`: the stored flag of the message
    rejected: str | None = None  # a refused token: its rejection code
    error: str | None = None  # the step failed (the desk refused it); nothing changed
    mismatch: str | None = None  # an expectation of the script did not hold
    skipped: bool = False  # an agent step left to a human (or with no agent assigned)


#: Steps the random mix appends so simulated agents answer and close their chats.
WRAP_UP = (
    Step(index=-1, line=0, action="reply", params={"text": "{answer}"}),
    Step(index=-1, line=0, action="close", params={}),
)


def _corrupt(token: str) -> str:
    """Flip one character in the middle of the signature (not the last: padding bits)."""
    head, _, signature = token.rpartition(".")
    middle = len(signature) // 2
    flipped = "B" if signature[middle] == "A" else "A"
    return f"{head}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"


class ScriptRun:
    """One simulated customer playing a script against an `Engine`, one step at a time.

    Given a `WidgetClient` without agents instead (a server over HTTP), only the customer's
    side plays: agent steps are skipped, since agents do not act through the widget API.

    The run never sleeps nor moves a clock: a `wait` step returns its `wait_s` and the driver
    (the customer mix, the trainer) decides what time means.
    """

    def __init__(
        self,
        engine: Engine | WidgetClient,
        scenario: Scenario,
        cast: Cast | None = None,
        *,
        skip_agents: frozenset[str] = frozenset(),
        extra_steps: tuple[Step, ...] = (),
    ) -> None:
        self.engine = engine
        self.widget = as_widget_client(engine)
        #: Agent actions need the engine itself; None over HTTP.
        self.agents = self.widget.agents
        self.scenario = scenario
        self.cast = cast or default_cast(scenario)
        self.skip_agents = skip_agents
        self.steps = scenario.steps + extra_steps
        self.position = 0
        self.session_id: str | None = None
        self.first_message: str | None = None
        self.conversations: list[int] = []
        self.current: Person | None = None
        self.outcomes: list[StepOutcome] = []
        self.left = False  # the widget session has ended

    @property
    def done(self) -> bool:
        return self.position >= len(self.steps)

    @property
    def conversation_id(self) -> int | None:
        """The chat agent steps act on: the session's current one, else the last it had."""
        if self.session_id is not None:
            current = self.widget.conversation_of(self.session_id)
            if current is not None:
                return current
        return self.conversations[-1] if self.conversations else None

    def step(self) -> StepOutcome:
        """Run the next step. Desk errors are recorded in the outcome, not raised."""
        if self.done:
            raise IndexError("the script has no more steps")
        step = self.steps[self.position]
        self.position += 1
        try:
            outcome = getattr(self, f"_do_{step.action}")(step)
        except DeskError as exc:
            outcome = StepOutcome(step, f"{step.action} failed: {exc}", error=str(exc))
        self.outcomes.append(outcome)
        return outcome

    def run_all(self, on_wait: Callable[[float], None] | None = None) -> list[StepOutcome]:
        """Every remaining step; `on_wait(seconds)` is called for each wait."""
        out = []
        while not self.done:
            outcome = self.step()
            if outcome.wait_s and on_wait is not None:
                on_wait(outcome.wait_s)
            out.append(outcome)
        return out

    def close_leftovers(self) -> list[str]:
        """Close what an earlier run left open for this script's people, so this run is a
        story of its own: otherwise a trusted login joins the open chat (the same customer
        on another device) and a claim starts one beside it. Each closed chat, in words.

        Agents close them (their assignee, else the first agent), so only on an `Engine`."""
        engine = self.agents
        if engine is None:
            return []
        closed = []
        for person in self.cast.people.values():
            try:
                profile = engine.find_profile(person.contact)
            except DeskError:
                continue  # nobody has this email or phone yet
            for past in engine.past_conversations(profile.id):
                if past.status == "CLOSED":
                    continue
                handles = engine.agent_handles()
                agent = engine.conversation(past.id).assignee or (handles[0] if handles else None)
                if agent is None:
                    continue  # a desk without agents: nobody can close it
                engine.close(past.id, agent, force=True)
                closed.append(f"closed #{past.id} ({person.name}), left open by an earlier run")
        return closed

    def leave(self) -> None:
        """The customer is gone: the widget session ends (unless the script ended it), so it
        can read nothing the desk writes later."""
        if self.session_id is not None and not self.left:
            self.widget.end_session(self.session_id)
            self.left = True

    # -- helpers -------------------------------------------------------------------------------

    def _text(self, template: str) -> str:
        topic = self.cast.topic
        values = {
            "question": topic.question,
            "answer": topic.answer,
            "thanks": topic.thanks,
            "first_name": (self.current.name.split() or [""])[0] if self.current else "there",
        }
        for key, value in values.items():
            template = template.replace("{" + key + "}", value)
        return template

    def _person(self, step: Step) -> Person:
        return self.cast.people[step.params["as"]]

    def _session(self) -> str:
        if self.session_id is None:
            raise DeskError("the widget is not open (the open step failed)")
        return self.session_id

    def _contact(self, person: Person) -> Contact:
        return {"email": person.email} if person.email else {"phone": person.phone or ""}

    def _agent_for(self, step: Step) -> tuple[Engine | None, int | None, str | None, str | None]:
        """(engine, conversation, agent handle, why skipped)."""
        if self.agents is None:
            return None, None, None, "agents do not act through the widget API"
        conversation_id = self.conversation_id
        if conversation_id is None:
            return None, None, None, "no conversation yet"
        conversation = self.agents.conversation(conversation_id)
        if conversation.status == "CLOSED":
            return None, conversation_id, None, "the chat is closed"
        agent = step.params.get("agent") or conversation.assignee
        if agent is None:
            return None, conversation_id, None, "no agent assigned"
        if agent in self.skip_agents:
            return None, conversation_id, agent, f"left to {agent}"
        return self.agents, conversation_id, agent, None

    # -- actions -------------------------------------------------------------------------------

    def _do_open(self, step: Step) -> StepOutcome:
        app_id = step.params.get("app") or self.widget.default_app_id()
        start = self.widget.init_session(app_id)
        self.session_id = start.session_id
        self.first_message = start.first_message
        if "login_as" not in step.params:
            return StepOutcome(step, "Widget opened; the first message carries the login link")
        person = self.cast.people[step.params["login_as"]]
        refused = self._log_in(step, person, 600)
        if refused is not None:
            return refused
        return StepOutcome(
            step, f"Widget opened with {person.name}'s signed token from the site (trusted)"
        )

    def _do_onboarding(self, step: Step) -> StepOutcome:
        person = self._person(step)
        self.widget.submit_onboarding(self._session(), name=person.name, **self._contact(person))
        self.current = person
        return StepOutcome(step, f"Onboarding form: {person.name} <{person.contact}> (claimed)")

    def _do_set_user(self, step: Step) -> StepOutcome:
        person = self._person(step)
        self.widget.set_user(self._session(), name=person.name, **self._contact(person))
        self.current = person
        return StepOutcome(step, f"setUser: {person.name} <{person.contact}> (claimed)")

    def _do_login(self, step: Step) -> StepOutcome:
        person = self._person(step)
        refused = self._log_in(step, person, step.params.get("ttl_s", 600))
        if refused is not None:
            return refused
        return StepOutcome(step, f"Logged in as {person.name} with a signed token (trusted)")

    def _log_in(self, step: Step, person: Person, ttl_s: int) -> StepOutcome | None:
        """`setUser({jwt})` with a token minted now; the outcome when the desk refuses it."""
        token = self.widget.mint_token(name=person.name, ttl_s=ttl_s, **self._contact(person))
        try:
            # The name only names a profile created now (signed claims win): over HTTP the
            # site's backend mints tokens without one.
            self.widget.set_user(self._session(), name=person.name, jwt=token)
        except DeskError as exc:
            return StepOutcome(
                step, f"Login refused: {exc}", rejected=exc.code, error=f"login refused: {exc}"
            )
        self.current = person
        return None

    def _do_logout(self, step: Step) -> StepOutcome:
        self.widget.clear_user(self._session())
        self.current = None
        return StepOutcome(step, "Logged out (clearUser): the widget is anonymous again")

    def _do_say(self, step: Step) -> StepOutcome:
        sent = self.widget.send_message(self._session(), self._text(step.params["text"]))
        if sent.conversation_id not in self.conversations:
            self.conversations.append(sent.conversation_id)
        expected = step.params.get("expect_trusted")
        mismatch = None
        if expected is not None and expected != sent.trusted:
            mismatch = f"step {step.index + 1}: expected the message to be" + (
                " trusted" if expected else " untrusted"
            )
        where = f"new chat {sent.conversation_id}" if sent.new_conversation else "chat"
        return StepOutcome(
            step,
            f"Customer wrote ({'trusted' if sent.trusted else 'not verified'}) in {where}"
            + (f", assigned to {sent.assignee}" if sent.assignee else ""),
            trusted=sent.trusted,
            mismatch=mismatch,
        )

    def _do_wait(self, step: Step) -> StepOutcome:
        seconds = float(step.params["seconds"])
        return StepOutcome(step, f"{seconds:g} seconds pass", wait_s=seconds)

    def _do_reply(self, step: Step) -> StepOutcome:
        engine, conversation_id, agent, skipped = self._agent_for(step)
        if engine is None or conversation_id is None or agent is None:
            return StepOutcome(step, f"Agent reply skipped: {skipped}", skipped=True)
        engine.reply(conversation_id, agent, self._text(step.params["text"]))
        return StepOutcome(step, f"Agent {agent} replied")

    def _do_login_prompt(self, step: Step) -> StepOutcome:
        engine, conversation_id, agent, skipped = self._agent_for(step)
        if engine is None or conversation_id is None or agent is None:
            return StepOutcome(step, f"Login prompt skipped: {skipped}", skipped=True)
        engine.send_login_prompt(conversation_id, agent)
        return StepOutcome(step, f"Agent {agent} sent the login prompt")

    def _do_close(self, step: Step) -> StepOutcome:
        engine, conversation_id, agent, skipped = self._agent_for(step)
        if engine is None or conversation_id is None or agent is None:
            return StepOutcome(step, f"Close skipped: {skipped}", skipped=True)
        if engine.conversation(conversation_id).customer_waiting:
            return StepOutcome(step, "Close skipped: the customer is waiting", skipped=True)
        engine.close(conversation_id, agent)
        return StepOutcome(step, f"Agent {agent} closed the chat")

    def _do_bad_token(self, step: Step) -> StepOutcome:
        token = self._bad_token(step.params["kind"])
        expected = step.params.get("expect")
        try:
            self.widget.set_user(self._session(), jwt=token)
        except DeskError as exc:
            mismatch = None
            if expected is not None and exc.code != expected:
                mismatch = f"step {step.index + 1}: expected rejection {expected}, got {exc.code}"
            return StepOutcome(
                step, f"Token rejected: {exc.code}", rejected=exc.code, mismatch=mismatch
            )
        return StepOutcome(
            step,
            "Bad token was accepted",
            mismatch=f"step {step.index + 1}: a {step.params['kind']} token was accepted",
        )

    def _bad_token(self, kind: str) -> str:
        if kind == "garbage":
            return "not-a-token"
        if kind == "too_large":
            return "a" * 9000
        person = self.current or next(iter(self.cast.people.values()), None)
        contact: Contact = self._contact(person) if person else {"email": "someone@example.com"}
        if kind == "alg_none":
            import jwt

            now_s = self.widget.now_ms() // 1000
            claims = {**contact, "iat": now_s, "exp": now_s + 300}
            return jwt.encode(claims, "", algorithm="none")
        return _corrupt(self.widget.mint_token(ttl_s=300, **contact))

    def _do_end(self, step: Step) -> StepOutcome:
        self.widget.end_session(self._session())
        self.left = True
        return StepOutcome(step, "The customer closed the widget")
