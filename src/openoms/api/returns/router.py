"""returns (DESIGN.md §9): filled by its area's work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["returns"])
