"""``cloacina-compiler``: the build service (probes now; the build loop plugs in)."""

from cloacinactl.services.compiler.service import CompilerService, CompilerServiceConfig

__all__ = ["CompilerService", "CompilerServiceConfig"]
