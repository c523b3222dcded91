"""Local stand-ins for the outside world (Gmail, Google OAuth, Vercel, GitHub). Never deployed, but for
the Gmail stand-in a test-mode Preview carries (gmail/deployed.py, ci/test_mode.py)."""
