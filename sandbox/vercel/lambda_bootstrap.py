"""What a function instance of the local Vercel runs: the part AWS Lambda plays on Vercel.

Run as `python -c <this file's text>` in the assembled function (the task root), on a bare
Python, so the task root is the working directory and first on sys.path and nothing of the
local machine is importable. The filesystem is read-only outside /tmp: an audit hook makes
every write elsewhere raise OSError(EROFS), which is what code meets on Lambda's read-only
mount. Then the generated handler is imported; with VERCEL_IPC_PATH set, Vercel's own
runtime (`vercel_runtime.vc_init`, vendored into the function) starts its HTTP server and
reports to the local Vercel over that socket, exactly as it does on Vercel.

Stdlib only, and never imported by anything: it runs inside the deployed function.
"""

import errno
import os
import sys

_LAMBDA_TMP = ("/tmp", os.environ.get("TMPDIR", "/tmp"))  # noqa: S108 -- Lambda's one writable place
_WRITABLE = tuple({os.path.realpath(place) + os.sep for place in _LAMBDA_TMP})
_TASK_ROOT = os.path.realpath(os.getcwd()) + os.sep  # read-only even where it lies under /tmp here
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Audit events that change the filesystem, and which of their arguments are paths.
_CHANGES = {
    "os.mkdir": (0,),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.rename": (0, 1),
    "os.symlink": (1,),
    "os.link": (1,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.truncate": (0,),
    "os.utime": (0,),
}


def _refuse_outside_tmp(path: object) -> None:
    if isinstance(path, int):  # a descriptor: it was opened (and checked) before
        return
    real = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
    if (real + os.sep).startswith(_TASK_ROOT) or not (real + os.sep).startswith(_WRITABLE):
        raise OSError(errno.EROFS, "Read-only file system", real)


def _read_only_filesystem(event: str, args: tuple[object, ...]) -> None:
    if event == "open":
        path, _mode, flags = args
        if isinstance(flags, int) and flags & _WRITE_FLAGS:
            _refuse_outside_tmp(path)
    elif event in _CHANGES:
        for position in _CHANGES[event]:
            _refuse_outside_tmp(args[position])


sys.addaudithook(_read_only_filesystem)
import vc__handler__python  # type: ignore[import-not-found]  # noqa: E402, F401 -- serves until stopped
