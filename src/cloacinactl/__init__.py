"""Cloacina for Python: workflow orchestration engine, services and CLI."""

__version__ = "0.1.0"
