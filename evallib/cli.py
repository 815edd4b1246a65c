"""The ``evallib`` command (DESIGN.md §5).

Exit codes: 0 success; 1 at least one analysis failed; 2 invalid input or
parameters (one line on stderr, no traceback). Each sub-command's work lives in
its own module and is imported lazily, so ``evallib --help`` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from evallib import __version__
from evallib.exceptions import EvalError

# sub-command -> "module:function"; the function takes the argparse namespace and
# returns an exit code.
COMMANDS = {
    "demo-data": "evallib.data.demo:demo_data_command",
    "fit": "evallib.its.fitcmd:fit_command",
    "run": "evallib.batch:run_command",
    "batch": "evallib.batch:batch_command",
    "import": "evallib.data.nhs.importer:import_command",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evallib", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"evallib {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("demo-data", help="write the synthetic demo table and truth.json")
    s.add_argument("--out", default="data/demo", help="output folder (default data/demo)")
    s.add_argument("--seed", type=int, default=20200901, help="random seed")

    s = sub.add_parser("fit", help="fit one analysis without a notebook")
    s.add_argument("params", help="params YAML")
    s.add_argument("--json", action="store_true", help="print results.json instead of a summary")

    s = sub.add_parser("run", help="execute the analysis notebook and render its HTML")
    s.add_argument("params", help="params YAML")
    s.add_argument("--out", default=None, help="output folder (default out/<params name>)")

    s = sub.add_parser("batch", help="build the board pack for a pack YAML")
    s.add_argument("pack", help="pack YAML (params/black_country_demo.yaml)")
    s.add_argument("--out", default=None, help="board pack folder (default out/<pack name>)")
    s.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    s.add_argument("--scheduler", default=None, help="Dask scheduler address tcp://HOST:PORT")
    s.add_argument("--force", action="store_true", help="ignore the cache and run everything")

    s = sub.add_parser("import", help="turn NHS England files into the tidy table")
    s.add_argument("kind", choices=["rtt", "cancer", "ae", "dm01", "beds"])
    s.add_argument("paths", nargs="+", help="files, zips or folders")
    s.add_argument("--out", required=True, help="tidy table to write or update (.csv or .parquet)")
    s.add_argument("--ods-map", default=None, help="CSV of old_code,new_code successor mappings")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    module, func = COMMANDS[args.command].split(":")
    try:
        handler = getattr(importlib.import_module(module), func)
        return int(handler(args) or 0)
    except EvalError as exc:
        msg = " ".join(str(exc).split())
        print(f"evallib {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"evallib {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
