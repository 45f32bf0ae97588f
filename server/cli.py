"""flask commands: init, create-user, revoke-devices, demo."""

from flask import Flask


def register(app: Flask) -> None:
    """Add the commands to the app's CLI."""
