"""Setting a desk up and running it from the command line: apps, agents and inboxes added and
changed one by one (`DeskAdmin`), or all at once from a config file (`read_config`,
`apply_config`, `export_config`), and a new desk made ready (`init_desk`).

The modules: `fields` (the checks of every value), `model` (the settings as values),
`admin` (`DeskAdmin`), `config` (the config file), `initial` (`init_desk`). Their SQL is in
`core/store/setup.py`. Every change appends to the change feed, which is how running servers
and consoles learn of it (docs/config.md).
"""

from core.setup.admin import DeskAdmin
from core.setup.config import (
    ConfigError,
    ConfigFile,
    Plan,
    apply_config,
    config_text,
    export_config,
    parse_config,
    plan_config,
    read_config,
)
from core.setup.fields import SettingError
from core.setup.initial import AlreadySetUp, NewDesk, init_desk
from core.setup.model import AgentConfig, AgentStatus, AppConfig, DeskConfig, InboxStatus

__all__ = [
    "AgentConfig",
    "AgentStatus",
    "AlreadySetUp",
    "AppConfig",
    "ConfigError",
    "ConfigFile",
    "DeskAdmin",
    "DeskConfig",
    "InboxStatus",
    "NewDesk",
    "Plan",
    "SettingError",
    "apply_config",
    "config_text",
    "export_config",
    "init_desk",
    "parse_config",
    "plan_config",
    "read_config",
]
