"""Rules on authentication status (docs/rules.md): a `rules.toml` the engine consults.

A rules file is a list of `[[rules]]`, each with a `when` (conditions, all must hold) and a
`then` (actions)::

    [[rules]]
    name = "Returns for trusted customers"
    [rules.when]
    trigger = "routing"              # routing (default) | message | identity, or a list
    identity_state = "TRUSTED"       # ANONYMOUS | CLAIMED | TRUSTED, or a list
    keywords = ["return", "refund"]  # any of them in the customer's first message
    [rules.then]
    route = "Returns"
    bot_message = "Hi {first_name}, I can see your recent orders."

Conditions: `trigger`, `identity_state`, `identity_source`, `trust_timing`
(`before_routing` | `after_routing` | `untrusted`), `keywords` (first customer message),
`message_keywords` (the message that fired the rule), `inbox`, `app`. A keyword matches
case-insensitively at the start of a word, so `return` matches "Returns" and "returned".
Actions: `bot_message` (placeholders `{first_name}`, `{name}`), `login_prompt = true`,
`route` (an inbox), `tag` (a tag or a list), `require_login = true`.

Order: every matching rule applies, in file order, and its actions run in the order
bot_message, login_prompt, tag, route, require_login. A rule with `stop = true` ends the
evaluation when it matches. The first matching `route` wins, and later rules see its inbox in
their `inbox` condition (at routing, `inbox` is otherwise the default inbox). A login prompt
and each tag are sent at most once per evaluation. `route` and `require_login` only take
effect on the `routing` trigger (a file asking otherwise is refused).

A bad file raises `RulesError` naming the file, the line and the reason. `RuleBook` reloads
the file when it changes (checked at most once a second) and keeps the previous rules in
force while the new file is bad. A desk's rules live in `<database>.rules.toml`, or where the
`rules_path` setting says (relative to the database's folder): see `rules_for_desk`.

The modules: `parse` reads and checks a file into rules, `evaluate` matches facts to actions,
`book` keeps a desk's file loaded and reloads it when it changes.
"""

from core.rules.book import (
    RULES_PATH_SETTING,
    RULES_SUFFIX,
    RuleBook,
    rules_for_desk,
    rules_path_for,
)
from core.rules.evaluate import TRIGGERS, Rule, RuleSet, render_template
from core.rules.parse import MAX_RULES_BYTES, RulesError, load_rules, parse_rules

__all__ = [
    "MAX_RULES_BYTES",
    "RULES_PATH_SETTING",
    "RULES_SUFFIX",
    "TRIGGERS",
    "Rule",
    "RuleBook",
    "RuleSet",
    "RulesError",
    "load_rules",
    "parse_rules",
    "render_template",
    "rules_for_desk",
    "rules_path_for",
]
