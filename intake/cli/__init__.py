"""The `intake` command line: main.py reads the arguments, commands.py does each
command, operator.py the operator's extras, common.py what they share."""

from .main import COMMANDS, build_parser, main, secret_values

__all__ = ["COMMANDS", "build_parser", "main", "secret_values"]
