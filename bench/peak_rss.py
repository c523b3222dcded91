"""Run a `jessie` command in this process, then report its peak resident memory on stderr."""

from __future__ import annotations

import json
import resource
import sys

from app.cli import main

if __name__ == "__main__":
    code = main(sys.argv[1:])
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"peak_rss_mb": round(peak_kb / 1024, 1)}), file=sys.stderr)
    sys.exit(code)
