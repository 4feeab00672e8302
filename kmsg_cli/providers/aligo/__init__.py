"""Aligo: form-encoded SMS on apis.aligo.in, AlimTalk on kakaoapi (docs/providers.md#aligo).

This module is the type's plugin only; the adapter (``provider``) is imported when an Aligo
provider is built."""

from kmsg_cli.core.models import MessageType
from kmsg_cli.providers.plugin import Capabilities, ProviderPlugin

PLUGIN = ProviderPlugin(
    kind="aligo",
    capabilities=Capabilities(
        types=frozenset(
            {
                MessageType.SMS,
                MessageType.LMS,
                MessageType.MMS,
                MessageType.ALIMTALK,
                MessageType.FRIENDTALK,
            }
        ),
        max_batch=500,  # /send_mass/ and Kakao sends
        schedule_window=(10 * 60 + 60, 180 * 86_400),  # docs/providers.md#scheduling-windows
        native_failover=True,
        templates=True,
        # docs/providers.md#template-administration
        template_admin=frozenset({"create", "update", "delete", "request"}),
        channel_key="sender_key",
    ),
    settings="kmsg_cli.providers.aligo.settings:AligoSettings",
    adapter="kmsg_cli.providers.aligo.provider:AligoProvider",
)
