"""Shared building blocks without business rules."""
