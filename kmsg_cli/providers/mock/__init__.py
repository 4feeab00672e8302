"""The built-in mock provider: every type, in process, never delivers (docs/providers.md#the-mock-provider)."""

from kmsg_cli.core.models import MessageType
from kmsg_cli.providers.plugin import Capabilities, ProviderPlugin

PLUGIN = ProviderPlugin(
    kind="mock",
    capabilities=Capabilities(
        types=frozenset(MessageType),
        max_batch=1000,
        schedule_window=(0, 180 * 86_400),
        templates=True,
    ),
    settings="kmsg_cli.providers.mock.settings:MockSettings",
    adapter="kmsg_cli.providers.mock.provider:MockProvider",
)
