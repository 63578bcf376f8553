"""The three long-running programs: ``daemon``, ``server`` and ``compiler``.

Each is a console script (``cloacina-<name>``) whose ``main`` parses every
flag, builds a config dataclass (a ``supervisor.ServiceConfig`` subclass) and
hands its ``serve`` coroutine to ``supervisor.run_service``.
"""
