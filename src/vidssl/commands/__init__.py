"""Command-line commands, one module per group; see ``vidssl.cli``."""
