"""kmsg: send Korean SMS/LMS/MMS and KakaoTalk messages from the command line."""

__version__ = "0.1.0"
