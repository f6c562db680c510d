"""Kept so `from tb_lr_plugin.summary import EventWriter` goes on working.

The event-file writer lives in `tb_lr_plugin.event_writer`; this
re-export is for code written against the old path.
"""

from tb_lr_plugin.event_writer import *  # noqa: F403
from tb_lr_plugin.event_writer import EventWriter  # noqa: F401
