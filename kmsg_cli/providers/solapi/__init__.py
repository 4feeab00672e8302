"""SOLAPI: HMAC-SHA256 per attempt, send-many/detail, list, cancel (docs/providers.md#solapi).

This module is the type's plugin only; the adapter (``provider``) and its pure builders
(``build``) are imported when a SOLAPI provider is built."""

from kmsg_cli.core.models import MessageType
from kmsg_cli.providers.plugin import Capabilities, ProviderPlugin

PLUGIN = ProviderPlugin(
    kind="solapi",
    capabilities=Capabilities(
        types=frozenset(
            {
                MessageType.SMS,
                MessageType.LMS,
                MessageType.MMS,
                MessageType.ALIMTALK,
                MessageType.BRAND,
            }
        ),
        max_batch=10_000,
        schedule_window=(60, 180 * 86_400),  # docs/providers.md#scheduling-windows
        native_failover=True,
        templates=True,
        # docs/providers.md#template-administration
        template_admin=frozenset({"create", "update", "delete", "request"}),
        channel_key="kakao_pf_id",
        senders=True,
    ),
    settings="kmsg_cli.providers.solapi.settings:SolapiSettings",
    adapter="kmsg_cli.providers.solapi.provider:SolapiProvider",
)
