"""Operator commands: ``python -m chalicelib.ops <command>`` (see ``chalicelib.ops.cli``)."""

from chalicelib.ops.cli import main

__all__ = ["main"]
