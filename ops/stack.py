"""Compatibility: the producer side's composition root lives in producers.stack."""

from producers.stack import Stack, build_access, build_stack, publish_gateway

__all__ = ["Stack", "build_access", "build_stack", "publish_gateway"]
