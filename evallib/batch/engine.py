"""The ``evallib-inprocess`` papermill engine and the IPC kernel manager.

:class:`InProcessEngine` runs a notebook's cells in an IPython shell inside the
current (worker) process: no kernel start, and the heavy imports (pandas,
statsmodels, matplotlib) are paid once per worker. Each notebook gets a fresh user
namespace, closed figures, the matplotlib rcParams saved after set-up and its own
warning filters.

papermill finds it through its public ``papermill.engine`` entry point, declared in
``pyproject.toml``::

    [project.entry-points."papermill.engine"]
    evallib-inprocess = "evallib.batch.engine:InProcessEngine"

so ``papermill --engine evallib-inprocess`` works on the command line too. The entry
point is loaded when papermill is imported, so this module imports only what
papermill has already imported.

``EVALLIB_ENGINE=nbclient`` runs notebooks on real Jupyter kernels instead; their
kernels then talk over IPC sockets (:func:`ipc_kernel_manager`).
"""
from __future__ import annotations

import logging
import sys

from papermill.engines import Engine

_SHELL = None
_SHELL_RC: dict = {}


def get_shell():
    """One IPython shell per process, with the inline matplotlib backend."""
    global _SHELL
    if _SHELL is None:
        from IPython.core.interactiveshell import InteractiveShell

        class CapturingShell(InteractiveShell):
            last_error: dict | None = None

            def enable_gui(self, gui=None):  # inline figures need no GUI event loop
                return None

            def _showtraceback(self, etype, evalue, stb):  # noqa: D401 - IPython hook
                self.last_error = {"output_type": "error", "ename": etype.__name__,
                                   "evalue": str(evalue), "traceback": list(stb)}

        import matplotlib
        matplotlib.use("Agg")
        main = sys.modules.get("__main__")
        try:
            _SHELL = CapturingShell.instance(colors="nocolor")
            _SHELL.enable_matplotlib("inline")
        finally:  # IPython installs its user module as __main__, which breaks later spawns
            if main is not None:
                sys.modules["__main__"] = main
        _SHELL_RC.update(matplotlib.rcParams.copy())
    return _SHELL


def _run_in_shell(shell, source: str) -> list:
    """Execute one cell; return nbformat outputs (streams first, then rich outputs)."""
    import nbformat
    from IPython.utils.capture import capture_output

    shell.last_error = None
    with capture_output(stdout=True, stderr=True, display=True) as cap:
        result = shell.run_cell(source, store_history=True, silent=False)
    outputs = []
    if cap.stdout:
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=cap.stdout))
    if cap.stderr:
        outputs.append(nbformat.v4.new_output("stream", name="stderr", text=cap.stderr))
    for out in cap.outputs:
        data = {k: v for k, v in out.data.items()}
        outputs.append(nbformat.v4.new_output("display_data", data=data, metadata=out.metadata or {}))
    if not result.success:
        err = shell.last_error
        if err is None:
            exc = result.error_in_exec or result.error_before_exec
            err = {"output_type": "error", "ename": type(exc).__name__, "evalue": str(exc),
                   "traceback": [f"{type(exc).__name__}: {exc}"]}
        outputs.append(nbformat.v4.new_output("error", ename=err["ename"], evalue=err["evalue"],
                                              traceback=err["traceback"]))
    return outputs


class _CurrentStderrHandler(logging.Handler):
    """Log records to whatever ``sys.stderr`` is at emit time (the cell's captured stream)."""

    def emit(self, record):
        try:
            sys.stderr.write(self.format(record) + "\n")
        except (OSError, ValueError):
            self.handleError(record)


class InProcessEngine(Engine):
    """Papermill engine running cells in this process's IPython shell (no kernel start)."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        import gc
        import warnings

        import matplotlib
        import matplotlib.pyplot as plt

        shell = get_shell()
        saved_main = sys.modules.get("__main__")
        root = logging.getLogger()
        saved_handlers, saved_level = root.handlers[:], root.level
        handler = _CurrentStderrHandler(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.handlers = [handler]
        root.setLevel(logging.WARNING)
        shell.reset(new_session=True)
        shell.execution_count = 1
        plt.close("all")
        matplotlib.rcParams.update(_SHELL_RC)
        saved_filters = warnings.filters[:]
        try:
            for index, cell in enumerate(nb_man.nb.cells):
                nb_man.cell_start(cell, index)
                try:
                    if cell.cell_type != "code":
                        continue
                    count = shell.execution_count
                    cell.outputs = _run_in_shell(shell, cell.source)
                    cell.execution_count = count
                    if any(o.output_type == "error" for o in cell.outputs):
                        nb_man.cell_exception(cell, cell_index=index)
                        break
                finally:
                    nb_man.cell_complete(cell, cell_index=index)
            nb_man.nb.metadata["language_info"] = {"name": "python",
                                                   "version": sys.version.split()[0]}
        finally:
            if saved_main is not None:
                sys.modules["__main__"] = saved_main
            root.handlers = saved_handlers
            root.setLevel(saved_level)
            warnings.filters[:] = saved_filters
            plt.close("all")
            shell.reset(new_session=True)   # clears the namespace, then a full gc.collect()
            # What is still alive now lives across notebooks (modules, the memoised tables and
            # fits): move it out of the collector's sight. Without this every later collection,
            # the two resets' and the automatic ones while a notebook runs, walks those ~360,000
            # objects again (0.35-0.65 s a collection measured in a national-pack worker, and
            # half the run time of a brief analysis). Garbage made later is collected as usual.
            gc.freeze()
        return nb_man.nb


_IPC_KM = None


def ipc_kernel_manager():
    """An ``AsyncKernelManager`` whose kernels talk over IPC sockets, not TCP.

    ipykernel 7 warns about unencrypted TCP; local kernels do not need it. The socket
    paths derive from the (unique, per-kernel) connection file, so parallel workers
    never share them.
    """
    global _IPC_KM
    if _IPC_KM is None:
        from jupyter_client.manager import AsyncKernelManager

        class IPCKernelManager(AsyncKernelManager):
            def __init__(self, **kwargs):
                kwargs.setdefault("transport", "ipc")
                super().__init__(**kwargs)

        _IPC_KM = IPCKernelManager
    return _IPC_KM


def check_engine(name: str) -> None:
    """Raise a one-line error when papermill does not know the engine ``name``.

    The in-process engine is known only through the package's entry point: a checkout
    whose metadata predates it must be reinstalled.
    """
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillException

    from evallib.exceptions import ParameterError

    try:
        papermill_engines.get_engine(name)
    except PapermillException:
        raise ParameterError(
            f"papermill has no engine {name!r}: the installed evallib metadata predates the "
            f"papermill.engine entry point; reinstall with `pip install -e .` (or unset EVALLIB_ENGINE)") from None


__all__ = ["InProcessEngine", "get_shell", "ipc_kernel_manager", "check_engine"]
