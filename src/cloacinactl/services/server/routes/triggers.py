"""(being written)"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from cloacinactl.services.server.auth import authorized

router = APIRouter(dependencies=[Depends(authorized)], tags=["triggers"])
