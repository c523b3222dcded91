"""Vercel's entrypoint: the ASGI app; in a test-mode Preview, with its own Gmail stand-in mounted."""

from app.web.main import app

if app.state.settings_error is None and app.state.settings.test_mode:
    from sandbox.gmail.deployed import mount  # only a test-mode Preview's function carries it (ci/test_mode.py)

    mount(app, app.state.settings)

__all__ = ["app"]
