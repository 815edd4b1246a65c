"""CLI glue: the ``evallib run`` and ``evallib batch`` handlers (see :mod:`evallib.cli`).

Progress goes to stderr, one line per analysis; the path of the page or index goes
to stdout. Errors propagate to :func:`evallib.cli.main`, which prints one line.
"""
from __future__ import annotations

import sys

from evallib.batch.build import build_pack, run_analysis
from evallib.batch.worker import limit_blas_threads


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run_command(args) -> int:
    """``evallib run PARAMS.yaml [--out DIR]``."""
    limit_blas_threads()
    res = run_analysis(args.params, args.out, progress=_stderr)
    rec = res.manifest["analyses"][0]
    sys.stdout.write(f"{res.out / rec['page']}\n")
    return res.exit_code


def batch_command(args) -> int:
    """``evallib batch PACK.yaml [--out DIR] [--workers N] [--scheduler ADDR] [--force]``."""
    res = build_pack(args.pack, args.out, workers=args.workers, scheduler=args.scheduler,
                     force=args.force, progress=_stderr)
    s = res.manifest["summary"]
    _stderr(f"{s['ok']} ok ({s['cached']} from cache), {s['failed']} failed, {res.elapsed:.1f} s")
    sys.stdout.write(f"{res.index}\n")
    return res.exit_code


__all__ = ["run_command", "batch_command"]
