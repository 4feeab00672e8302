"""IWINV: AlimTalk and SMS/LMS/MMS on two hosts with two key sets (docs/providers.md#iwinv).

This module is the type's plugin only; the adapter (``provider``) is imported when an IWINV
provider is built."""

from kmsg_cli.core.models import MessageType
from kmsg_cli.providers.plugin import Capabilities, ProviderPlugin

PLUGIN = ProviderPlugin(
    kind="iwinv",
    capabilities=Capabilities(
        types=frozenset({MessageType.SMS, MessageType.LMS, MessageType.MMS, MessageType.ALIMTALK}),
        max_batch=1000,
        schedule_window=(15 * 60 + 60, 180 * 86_400),  # docs/providers.md#scheduling-windows
        native_failover=True,
        templates=True,
        # docs/providers.md#template-administration
        template_admin=frozenset({"create", "update", "delete"}),
        channel_key="api_key",
    ),
    settings="kmsg_cli.providers.iwinv.settings:IwinvSettings",
    adapter="kmsg_cli.providers.iwinv.provider:IwinvProvider",
)
