"""The hourly sync: one account (engine), one run (runner), and their SQL (messages, runs)."""
