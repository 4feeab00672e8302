"""An image checked before anything is journaled: its format (from its first bytes, not its name)
and its size against the limit of the provider that sends it (docs/providers.md#images).

The one place in core that reads a file: a stat and sixteen bytes, so a bad image is one clear
line (exit 65) instead of a provider's rejection after the message was journaled."""

from __future__ import annotations

from pathlib import Path

from kmsg_cli.core.models import KAKAO_AD_TYPES, Message, MessageType
from kmsg_cli.errors import InputError, InputFileError

KB = 1024
# (provider type, message type) -> (max bytes, formats); docs/providers.md#images
LIMITS: dict[tuple[str, MessageType], tuple[int, frozenset[str]]] = {
    ("solapi", MessageType.MMS): (200 * KB, frozenset({"JPEG", "PNG", "GIF"})),
    ("iwinv", MessageType.MMS): (100 * KB, frozenset({"JPEG"})),
    ("aligo", MessageType.MMS): (300 * KB, frozenset({"JPEG", "PNG", "GIF"})),
    ("solapi", MessageType.BRAND): (500 * KB, frozenset({"JPEG", "PNG"})),
    ("aligo", MessageType.FRIENDTALK): (500 * KB, frozenset({"JPEG", "PNG"})),
}
# any other provider (the mock, a plugin): what every carrier takes
PORTABLE_MMS = (100 * KB, frozenset({"JPEG"}))
PORTABLE_KAKAO = (500 * KB, frozenset({"JPEG", "PNG"}))
_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"))


def limit(kind: str, message_type: MessageType) -> tuple[int, frozenset[str]]:
    default = PORTABLE_KAKAO if message_type in KAKAO_AD_TYPES else PORTABLE_MMS
    return LIMITS.get((kind, message_type), default)


def image_format(head: bytes) -> str | None:
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def check(message: Message, kind: str) -> None:
    """Refuse an image the provider of type ``kind`` would not take for ``message``'s type."""
    if not message.image:
        return
    path = Path(message.image).expanduser()
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise InputFileError(f"cannot read image {path}: {exc.strerror}") from None
    max_bytes, formats = limit(kind, message.type)
    where = f"{message.type.value} through {kind or 'this provider'}"  # "MMS through solapi"
    found = image_format(head)
    if found not in formats:
        raise InputError(
            f"image {path} is {found or 'not an image kmsg knows'}; {where} takes "
            f"{'/'.join(sorted(formats))}",
            hint="convert it, e.g. to a JPEG",
        )
    if size > max_bytes:
        raise InputError(
            f"image {path} is {size / KB:.0f} KB; the limit for {where} is {max_bytes // KB} KB",
            hint="shrink it (lower JPEG quality or fewer pixels)",
        )
