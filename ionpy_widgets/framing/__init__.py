"""Sans-IO framers: bytes and a timestamp in, frames out. Imports nothing else of the package."""

from .base import Frame, FrameError, Framer, FrameResult

__all__ = ["Frame", "FrameError", "FrameResult", "Framer"]
