"""The hourly sync: one account (engine), one run (runner), and their SQL (store)."""
