"""pooldbg: Windows crash-dump pool analysis from Python.

A thin layer over the pooldbg library (the same code as the ``pooldbg`` command line): every
method returns what ``pooldbg -z DUMP -c "CMD" --format json`` prints, parsed. Nothing here
analyses anything itself.

    >>> import pooldbg
    >>> with pooldbg.open("MEMORY.DMP") as d:
    ...     d.info()["build"]
    ...     top = d.poolused()            # list of dicts: pandas.DataFrame(top) works
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Union

from ._pooldbg import Native as _Native, __version__

__all__ = ["open", "Dump", "Error", "CommandError", "__version__"]

#: The plugins shipped in the wheel, next to this module.
PLUGIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugins")

PathLike = Union[str, "os.PathLike[str]"]


class Error(Exception):
    """A pooldbg failure; the message is the command line's."""


class CommandError(Error):
    """A kd command failed; ``result`` holds the CLI's JSON object (with its ``error``)."""

    def __init__(self, message: str, result: Dict[str, Any]):
        super().__init__(message)
        self.result = result


class Dump:
    """An open dump. Use :func:`open`; close it with :meth:`close` or a ``with`` block."""

    def __init__(self, path: PathLike, symbols: Optional[Sequence[PathLike]] = None):
        syms = [os.fspath(s) for s in ([] if symbols is None else ([symbols] if isinstance(symbols, (str, os.PathLike)) else symbols))]
        self.path = os.fspath(path)
        try:
            self._native = _Native(self.path, syms, [PLUGIN_DIR])
        except OSError as e:
            raise Error(str(e)) from None

    # -- the one general entry -------------------------------------------------------------
    def run(self, command: str) -> Dict[str, Any]:
        """Runs one kd command (``"!poolused 2"``) and returns the CLI's JSON object for it.

        Raises :class:`CommandError` (message as the CLI prints it) when the command fails.
        The GIL is released while the dump is read.
        """
        text, ok = self._native.run(command)
        obj = json.loads(text)
        if not ok:
            name = obj.get("command", command)
            msg = obj.get("error", "failed")
            if not msg.startswith(name):
                msg = f"{name}: {msg}"
            raise CommandError(msg, obj)
        return obj

    # -- typed helpers: rows as lists of dicts ---------------------------------------------
    def info(self) -> Dict[str, Any]:
        """``info``: what the dump holds (arch, build, bugcheck, symbols), one dict."""
        rows = self.run("info").get("rows") or [{}]
        return rows[0]

    def identity(self) -> Dict[str, Any]:
        """The ``dump`` object of ``pooldbg batch`` lines: path, build, bugcheck_code."""
        return json.loads(self._native.identity())

    def poolused(self, flags: int = 0, tag: Optional[str] = None) -> List[Dict[str, Any]]:
        """``!poolused FLAGS [TAG]``: one dict per tag."""
        cmd = f"!poolused {flags}" + (f" {tag}" if tag else "")
        return self.run(cmd)["rows"]

    def pool(self, address: Union[int, str], flags: int = 0) -> List[Dict[str, Any]]:
        """``!pool ADDRESS [FLAGS]``: one dict per block of the page or region."""
        a = f"{address:#x}" if isinstance(address, int) else address
        return self.run(f"!pool {a} {flags}")["rows"]

    def poolfind(self, tag: str, pool_type: Optional[int] = None) -> List[Dict[str, Any]]:
        """``!poolfind TAG [POOLTYPE]``: one dict per allocation with the tag."""
        cmd = f"!poolfind {tag}" + ("" if pool_type is None else f" {pool_type}")
        return self.run(cmd)["rows"]

    def vm(self, flags: Optional[int] = None) -> List[Dict[str, Any]]:
        """``!vm [FLAGS]``: one dict per figure (name, value, source)."""
        return self.run("!vm" if flags is None else f"!vm {flags}")["rows"]

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        """Closes the dump; later calls raise ValueError."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """Is the dump closed?"""
        return self._native.closed

    def __enter__(self) -> "Dump":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<pooldbg.Dump {self.path!r}{' closed' if self.closed else ''}>"


def open(path: PathLike, symbols: Optional[Union[PathLike, Sequence[PathLike]]] = None) -> Dump:  # noqa: A001
    """Opens a dump (crash dump, raw or ELF image) as ``pooldbg -z PATH`` does.

    ``symbols``: one path or several, as ``--symbols`` takes them. Raises :class:`Error` with
    the CLI's message when the dump cannot be opened.
    """
    return Dump(path, symbols)
