"""IWINV adapter: AlimTalk and SMS/LMS/MMS on two hosts with two key sets.

Wire facts: docs/providers.md#iwinv."""

from kmsg_cli.providers.iwinv.provider import IwinvProvider

__all__ = ["IwinvProvider"]
