"""A faithful local Gmail API v1 + Google OAuth, with quotas and seeded faults.

Start it with `jessie sandbox`, or in-process with `sandbox.gmail.server.SandboxServer`.
"""
