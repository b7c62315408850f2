"""`openoms import inventory …` and inventory commands."""

from __future__ import annotations
