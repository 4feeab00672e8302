"""IWINV adapter (PROVIDERS.md §4): AlimTalk and SMS/LMS/MMS on two hosts with two key sets."""

from kmsg_cli.providers.iwinv.provider import IwinvProvider

__all__ = ["IwinvProvider"]
