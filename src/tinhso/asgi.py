"""ASGI entry point for uvicorn and other servers: `tinhso.asgi:app`."""

from tinhso.app import create_app

app = create_app()
