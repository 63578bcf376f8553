"""``cloacina-compiler``: the build service (build loop, probes, status, metrics)."""

from cloacinactl.services.compiler.service import CompilerService, CompilerServiceConfig

__all__ = ["CompilerService", "CompilerServiceConfig"]
