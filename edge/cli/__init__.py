"""``lepton-edge``'s command line: ``main.py`` is the top level, one module per subcommand.

Each subcommand module has ``add_parser(subcommands, common)`` and a ``run(args)`` that calls
one importable function; ``main.SUBCOMMANDS`` is the one table of them.
"""
