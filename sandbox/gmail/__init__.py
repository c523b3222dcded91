"""A faithful local Gmail API v1 + Google OAuth, with quotas and seeded faults.

Start it with `python -m sandbox.gmail` (`jessie sandbox` is an alias), or in-process with
`sandbox.gmail.server.SandboxServer`; `environment_for(url)` points Jessie at it.
"""

from .endpoints import environment_for

__all__ = ["environment_for"]
