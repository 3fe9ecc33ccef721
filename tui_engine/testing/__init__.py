"""Fakes and helpers shipped with the package so users can test their dialplans too."""

from tui_engine.core.clock import FakeClock
from tui_engine.testing.net import free_port, free_port_block

__all__ = ["FakeClock", "free_port", "free_port_block"]
