"""CLI commands: prepare (being written)."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Adds this group's commands to the vidssl parser."""
