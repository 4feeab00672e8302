"""SOLAPI adapter: HMAC-SHA256 per attempt, send-many/detail, list, cancel
(docs/providers.md#solapi)."""

from kmsg_cli.providers.solapi.build import (
    SolapiAuth,
    _build_send_request,
    _parse_send_response,
    _parse_status_response,
    normalize_status,
    row_error_class,
    sign,
)
from kmsg_cli.providers.solapi.provider import SolapiProvider

__all__ = [
    "SolapiAuth",
    "SolapiProvider",
    "_build_send_request",
    "_parse_send_response",
    "_parse_status_response",
    "normalize_status",
    "row_error_class",
    "sign",
]
