"""Fixtures of the kit tests."""

from tests.kit.redis_server import redis_url  # noqa: F401
