"""`python -m sandbox.gmail [--port P] [--accounts N --messages M --seed S] …`"""

import argparse
import sys

from .cli import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m sandbox.gmail", description="The local Gmail + Google OAuth sandbox")
add_arguments(parser)
sys.exit(run(parser.parse_args()))
