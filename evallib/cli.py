"""evallib: evaluate NHS provider collaboratives with interrupted time series and build board packs.

Exit codes (every command): 0 success; 1 at least one analysis failed (the others
are still produced and listed); 2 invalid input, parameters or output folder, or a
fault such as a full disk (one line on stderr, no traceback); 130 interrupted
(Ctrl-C); 143 terminated (SIGTERM). Each sub-command's work lives in its own module
and is imported lazily, so ``evallib --help`` is instant.

:func:`describe_oserror` is the one place that turns an ``OSError`` reaching the
command line (a full disk, a read-only file system, a permission problem) into one
line.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import signal
import sys

from evallib import __version__
from evallib.exceptions import EvalError

# sub-command -> "module:function"; the function takes the argparse namespace and
# returns an exit code.
COMMANDS = {
    "demo-data": "evallib.data.demo:demo_data_command",
    "fit": "evallib.its.fitcmd:fit_command",
    "run": "evallib.batch.commands:run_command",
    "batch": "evallib.batch.commands:batch_command",
    "import": "evallib.data.nhs.importer:import_command",
    "new-pack": "evallib.newpack:new_pack_command",
}

#: the kinds of NHS England file `evallib import` reads (evallib.data.nhs.LOADERS; a test keeps them equal)
IMPORT_KINDS = ("rtt", "cancer", "ae", "dm01", "beds")
IMPORT_KIND_HELP = {
    "rtt": "referral to treatment waiting times: the monthly Full CSV data file",
    "cancer": "cancer waiting times: the provider extract (CSV or .xlsx) or older provider workbooks",
    "ae": "A&E attendances and emergency admissions: the monthly provider CSV",
    "dm01": "diagnostics waiting times and activity (DM01): the monthly provider CSV",
    "beds": "beds: the urgent and emergency care sitrep, and KH03",
}
DEMO_SEED = 20200901   # evallib.data.demo.SEED (a test keeps them equal)

EXIT_CODES = """exit codes:
  0    success
  1    at least one analysis failed (the others are still built and listed)
  2    invalid input, parameters or output folder, or a fault such as a full
       disk: one line on stderr, no traceback
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM)"""

_FMT = argparse.RawDescriptionHelpFormatter


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (``evallib batch: error: ...``), exit code 2."""

    def error(self, message: str):
        line = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {line} (see `{self.prog} --help`)\n")


def _epilog(examples: list[str], extra: str = "") -> str:
    text = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    if extra:
        text += "\n\n" + extra
    return text + "\n\n" + EXIT_CODES


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="evallib", formatter_class=_FMT,
        description="Evaluate NHS provider collaboratives: interrupted time series, controlled designs "
                    "and HTML board packs.",
        epilog=_epilog(["evallib demo-data --out data/demo",
                        "evallib fit params/rtt_52w_waiters.yaml",
                        "evallib batch params/black_country_demo.yaml --out out/demo",
                        "evallib import rtt downloads/rtt-2024-*.zip --out data/rtt.csv"],
                       "Run `evallib COMMAND --help` for a command's options and defaults."))
    p.add_argument("--version", action="version", version=f"evallib {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    purpose = "write the SYNTHETIC demo table (metrics.csv), its truth.json of planted effects and a README"
    s = sub.add_parser("demo-data", help=purpose, description=purpose + ".", formatter_class=_FMT,
                       epilog=_epilog(["evallib demo-data", "evallib demo-data --out /tmp/demo --seed 7",
                                       "evallib demo-data --national --out data/england"],
                                      "The same seed writes byte-identical files."))
    s.add_argument("--out", default=None,
                   help="output folder (default: data/demo), data/england with --national")
    s.add_argument("--national", action="store_true",
                   help="write the national demo instead: every collaborative of a synthetic England, "
                        "staggered formation dates, planted effects (evallib/data/demo_national.py; default: off)")
    s.add_argument("--seed", type=int, default=DEMO_SEED,
                   help=f"random seed, a whole number from 0 (default: {DEMO_SEED})")

    purpose = "fit one analysis from a params YAML without a notebook and print its summary or results JSON"
    s = sub.add_parser("fit", help=purpose, description=purpose + ".", formatter_class=_FMT,
                       epilog=_epilog(["evallib fit params/rtt_52w_waiters.yaml",
                                       "evallib fit params/rtt_52w_waiters.yaml --json > results.json"]))
    s.add_argument("params", help="params YAML file")
    s.add_argument("--json", action="store_true",
                   help="print results.json instead of the readable summary (default: the summary)")

    purpose = "execute the analysis notebook for one params YAML and render its HTML page"
    s = sub.add_parser("run", help=purpose, description=purpose + ".", formatter_class=_FMT,
                       epilog=_epilog(["evallib run params/rtt_52w_waiters.yaml",
                                       "evallib run params/rtt_52w_waiters.yaml --out out/rtt"],
                                      "The output folder receives <id>.html, <id>.ipynb, results.json, "
                                      "summary.json,\nparams.yaml and manifest.json. An existing --out is "
                                      "replaced only if evallib\nbuilt it (its manifest lists everything in "
                                      "it); anything else is refused."))
    s.add_argument("params", help="params YAML file")
    s.add_argument("--out", default=None, help="output folder (default: out/<params file name>)")

    purpose = "build the board pack of a pack YAML: one page per analysis, an index and a manifest"
    s = sub.add_parser("batch", help=purpose, description=purpose + ".", formatter_class=_FMT,
                       epilog=_epilog(
                           ["evallib batch params/black_country_demo.yaml --out out/demo",
                            "evallib batch params/black_country_demo.yaml --out out/demo --force",
                            "evallib batch pack.yaml --scheduler tcp://127.0.0.1:8786",
                            "SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) evallib batch pack.yaml --force"],
                           "Analyses whose notebook, params, data and evallib source are unchanged are "
                           "reused from the\nprevious pack in --out. An existing --out is replaced only if "
                           "evallib built it (its\nmanifest lists everything in it); anything else is "
                           "refused. A second build into the\nsame --out waits for the first. With "
                           "SOURCE_DATE_EPOCH set, timestamps come from it and\ntwo builds of the same "
                           "inputs are byte-identical."))
    s.add_argument("pack", help="pack YAML file (e.g. params/black_country_demo.yaml)")
    s.add_argument("--out", default=None, help="board pack folder (default: out/<pack file name>)")
    s.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: one per core, at most one per analysis to run)")
    s.add_argument("--scheduler", default=None,
                   help="run on a Dask cluster at this address, tcp://HOST:PORT (default: local processes)")
    s.add_argument("--force", action="store_true", help="ignore the cache and run every analysis (default: off)")

    purpose = "turn NHS England statistical files into the tidy table (or add them to one)"
    kinds = "\n".join(f"  {k:<7} {v}" for k, v in IMPORT_KIND_HELP.items())
    s = sub.add_parser("import", help=purpose, description=purpose + ".", formatter_class=_FMT,
                       epilog=_epilog(["evallib import rtt downloads/rtt/ --out data/rtt.csv",
                                       "evallib import cancer cwt-2024.xlsx --out data/nhs.parquet "
                                       "--ods-map successors.csv"],
                                      f"kinds:\n{kinds}\n\nAn existing --out table is updated: rows for the "
                                      f"same period, organisation and\nmetric are replaced, others kept."))
    s.add_argument("kind", choices=IMPORT_KINDS, metavar="KIND", help=f"one of: {', '.join(IMPORT_KINDS)}")
    s.add_argument("paths", nargs="+", help="files, zips or folders")
    s.add_argument("--out", required=True, help="tidy table to write or update (.csv or .parquet)")
    s.add_argument("--ods-map", default=None,
                   help="CSV of old_code,new_code successor mappings (default: the built-in list)")

    purpose = "write the params pack of a new collaborative (trusts, formation date, measures), ready for batch"
    s = sub.add_parser("new-pack", help=purpose, description=purpose + ".", formatter_class=_FMT,
                       epilog=_epilog(["evallib new-pack params/mine.yaml --trusts RXX,RYY --formation 2021-04 "
                                       "--measures rtt_52w_waiters,cancer_62d_pct --data data/nhs.csv"],
                                      "Trusts and measures must be in the table. An existing file is never "
                                      "overwritten.\nSee evallib/newpack.py for what the pack contains."))
    s.add_argument("pack", help="pack YAML file to write (refused if it exists)")
    s.add_argument("--trusts", required=True, help="treated trusts' codes, comma-separated")
    s.add_argument("--formation", required=True, help="the collaborative's first period, e.g. 2021-04")
    s.add_argument("--measures", required=True, help="metric ids, comma-separated")
    s.add_argument("--data", required=True, help="tidy table (.csv or .parquet), relative to the working directory")
    s.add_argument("--title", default=None, help="pack title (default: names the trusts)")
    s.add_argument("--comparators", default="all_other",
                   help="all_other, matched, none or comma-separated codes (default: all_other)")
    s.add_argument("--no-covid", action="store_true",
                   help="no COVID-19 interruption at 2020-03 (default: one, when it is before formation)")
    return p


# ------------------------------------------------------------------ OSError -> one line
_OS_WORDS = {
    errno.ENOSPC: "no space left on the device: free some space or choose another --out; nothing was "
                  "replaced (the previous output is as it was)",
    errno.EDQUOT: "disk quota exceeded: free some space or choose another --out; nothing was replaced "
                  "(the previous output is as it was)",
    errno.EROFS: "is on a read-only file system: choose a writable location",
    errno.EACCES: "permission denied: choose a location you can write to, or check the permissions",
    errno.EPERM: "operation not permitted here: choose another location",
    errno.ENOENT: "no such file or folder (or the file system does not allow creating it here)",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "already exists",
    errno.ELOOP: "is a symbolic link loop: fix or remove the link",
    errno.ENAMETOOLONG: "the name is too long: use a shorter path",
    errno.EXDEV: "is on another file system than its temporary build folder: choose a folder on one file system",
    errno.ENOLCK: "the file system does not support locks (network share?): choose a local folder",
    errno.EIO: "input/output error (a failing disk or network share)",
    errno.EMFILE: "too many open files in this process: close other programs and try again",
    errno.EBUSY: "is busy: try again later",
    errno.ETXTBSY: "is busy: try again later",
}


def describe_oserror(exc: OSError) -> str:
    """One line for an ``OSError``: the path (when known), then the problem in words."""
    words = _OS_WORDS.get(exc.errno) if exc.errno is not None else None
    if words is None:
        words = exc.strerror or str(exc) or type(exc).__name__
    where = exc.filename if exc.filename is not None else None
    if exc.filename2 is not None:
        where = f"{exc.filename} -> {exc.filename2}"
    return f"{where}: {words}" if where is not None else words


class Terminated(BaseException):
    """Raised in the main thread by ``SIGTERM`` so builds clean up (temporary folder, workers)."""


def _on_sigterm(signum, frame):  # pragma: no cover - exercised through a subprocess
    raise Terminated()


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _say(command: str, text: str) -> None:
    try:
        print(f"evallib {command}: {text}" if command else f"evallib: {text}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except BrokenPipeError:        # `evallib --help | head -c0`
        _silence_stdout()
        _say("", "error: the output pipe was closed before everything was written")
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    module, func = COMMANDS[args.command].split(":")
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (e.g. called from a worker thread)
        pass
    try:
        handler = getattr(importlib.import_module(module), func)
        code = int(handler(args) or 0)
        sys.stdout.flush()          # a closed pipe shows up here, not at interpreter exit
        return code
    except EvalError as exc:
        _say(args.command, f"error: {' '.join(str(exc).split())}")
        return 2
    except BrokenPipeError:
        _silence_stdout()
        _say(args.command, "error: the output pipe was closed before everything was written "
                           "(the reader, e.g. head, stopped early)")
        return 2
    except OSError as exc:
        _say(args.command, f"error: {' '.join(describe_oserror(exc).split())}")
        return 2
    except KeyboardInterrupt:
        _say(args.command, "interrupted")
        return 130
    except Terminated:
        _say(args.command, "terminated (SIGTERM)")
        return 143
    finally:
        if previous is not None:
            try:
                signal.signal(signal.SIGTERM, previous)
            except ValueError:
                pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
