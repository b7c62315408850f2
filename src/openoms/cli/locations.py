"""`openoms locations …` commands."""

from __future__ import annotations
