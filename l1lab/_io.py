"""Shared plumbing: files that never appear half-written, plain-text tables, JSON out.

Nothing here knows about MNIST, Keras or golden files; it imports no TensorFlow.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any


class OutputError(OSError):
    """An output file cannot be written."""


class AtomicTextFile:
    """A text file that appears at ``path`` only when :meth:`commit` is called.

    It is written to a temporary file beside ``path`` (so the final rename is
    atomic), created at once so an unwritable destination fails before any
    work is done; :meth:`abort` or an exception removes it.

    A symbolic link stays a link: its target is written (atomically). A
    device, FIFO or socket (``/dev/null``, ``/dev/stdout``, a named pipe) is
    written through, as a user expects, never replaced by a regular file.

    Raises:
      OutputError: ``path`` is a directory or its directory is not writable.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path = output_target(self.path)
        if self.path.is_dir():
            raise OutputError(f"{self.path} is a directory; name a file")
        self._tmp: Path | None = None
        if is_special(self.path):  # a device, a FIFO, a socket
            try:
                self._file: IO[str] | None = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
            return
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent or ".", prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self._tmp = Path(tmp)
        # mkstemp makes the file private (0600); the result should be an ordinary file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(fd, 0o666 & ~umask)
        self._file = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, text: str) -> None:
        assert self._file is not None, "file already committed or aborted"
        self._file.write(text)

    def commit(self) -> None:
        if self._file is None:
            return
        self._file.flush()
        if self._tmp is None:  # written through to a special file
            self._file.close()
            self._file = None
            return
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicTextFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def output_target(path: str | os.PathLike) -> Path:
    """Where writing ``path`` lands: a symbolic link's final target (which may not exist yet), else ``path``."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def is_special(path: Path) -> bool:
    """A device, FIFO or socket: written through, never replaced by a regular file."""
    return path.exists() and not path.is_file() and not path.is_dir()


def check_output_file(path: str | os.PathLike, suffix: str = "") -> Path:
    """``path`` as a file that can be written, checked before any work; returns where it lands.

    A link is followed (its target is written), and a device or FIFO is written
    through, as :class:`AtomicTextFile` and :func:`write_atomically` do.

    Args:
      path: the output file.
      suffix: the ending the file's name needs (``".keras"``), if any; a name
        that is only the suffix is refused. A device or FIFO needs none.

    Raises:
      OutputError: a directory, a directory that does not exist or cannot be
        written, a name without the suffix or with nothing before it.
    """
    given = Path(path)
    target = output_target(given)
    special = is_special(target)
    if suffix and not special and (not given.name.endswith(suffix) or given.name == suffix):
        raise OutputError(f"{given}: the file's name needs to end in {suffix} with a name before it (model{suffix})")
    if target.is_dir():
        raise OutputError(f"{given} is a directory; name a file")
    if special:
        if not os.access(target, os.W_OK):
            raise OutputError(f"cannot write {given}: permission denied")
        return target
    if not target.parent.is_dir():
        raise OutputError(f"cannot write {given}: {target.parent} is not a directory")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {given}: {target.parent} is not writable")
    return target


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether writing ``a`` would write ``b``: the same path once links are followed, or one file (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def refuse_clashes(outputs: dict[str, str | os.PathLike], inputs: dict[str, str | os.PathLike] | None = None) -> None:
    """Refuses two outputs that name one file, and an output that would replace an input.

    Args:
      outputs: a label (a flag, ``"--out"``) for each output file.
      inputs: a label for each file the command reads.

    Raises:
      OutputError: the first clash, naming both labels.
    """
    items = [(label, path) for label, path in outputs.items() if path is not None]
    for i, (label, path) in enumerate(items):
        for other, other_path in items[:i]:
            if same_file(path, other_path):
                raise OutputError(f"{other} and {label} name one file ({path}): give each its own file")
        for source, source_path in (inputs or {}).items():
            if source_path is not None and same_file(path, source_path):
                raise OutputError(f"{label} would replace {source} ({path}): write to another file")


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None], suffix: str | None = None) -> Path:
    """Calls ``write(tmp)`` on a temporary path (same suffix), then moves it to ``path``.

    For writers that take a path (``model.save``); nothing half-written is left
    at ``path`` or beside it when ``write`` fails. A symbolic link stays a link
    and its target is written; a device or FIFO is written through, never
    replaced. ``suffix`` is the temporary file's ending that the writer needs
    (``".keras"``; default: ``path``'s own).

    Raises:
      OutputError: ``path`` is a directory or its directory does not exist.
    """
    given = Path(path)
    target = check_output_file(given)
    suffix = suffix or given.suffix or target.suffix
    if is_special(target):  # write a file, then its bytes through
        with tempfile.TemporaryDirectory(prefix="l1lab-") as folder:
            tmp = Path(folder) / f"output{suffix}"
            write(tmp)
            with open(target, "wb") as special:
                special.write(tmp.read_bytes())
        return given
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{suffix}")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return given


def writable_dir(path: str | os.PathLike) -> Path:
    """``path`` as a directory one can write into, created if missing; checked before any work is done.

    Raises:
      OutputError: it is a file, or it cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file; name a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {path}: {exc.strerror or exc}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into {path}: permission denied")
    return path


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` to ``path`` through :class:`AtomicTextFile`; returns the path."""
    with AtomicTextFile(path) as f:
        f.write(text)
    return Path(path)


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to ``path`` through :func:`write_atomically`; returns the path."""
    return write_atomically(path, lambda tmp: tmp.write_bytes(data))


def write_json_atomically(path: str | os.PathLike, value: Any) -> Path:
    """``value`` as indented JSON (no NaN tokens: ``allow_nan=False``), atomically."""
    return write_text_atomically(path, json.dumps(value, indent=1, allow_nan=False) + "\n")


def reviewable_json(value: Any, indent: int = 0) -> str:
    """JSON with sorted keys, one key per line, and each list of scalars on one line.

    Full precision (``repr`` of each float), reviewable as a diff: a changed
    epoch shows as a changed line of its metric. Keys are written as strings
    (an int seed becomes ``"0"``: the JSON boundary).
    """
    pad = " " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = sorted((str(k), v) for k, v in value.items())
        lines = [f"{pad}{json.dumps(k)}: {reviewable_json(v, indent + 1)}" for k, v in items]
        return "{\n" + ",\n".join(lines) + "\n" + " " * indent + "}"
    if isinstance(value, (list, tuple)) and not any(isinstance(v, (dict, list, tuple)) for v in value):
        return json.dumps(list(value), allow_nan=False)
    if isinstance(value, (list, tuple)):
        return "[\n" + ",\n".join(pad + reviewable_json(v, indent + 1) for v in value) + "\n" + " " * indent + "]"
    return json.dumps(value, allow_nan=False)


def format_table(rows: Iterable[Sequence[str]], header: Sequence[str], align: str = "") -> str:
    """A plain-text table: header, a rule of dashes, then the rows.

    Args:
      rows: the cells, as strings.
      header: the column titles.
      align: one letter per column, ``"l"`` (default) or ``"r"`` (numbers).

    Returns:
      The table, lines joined by newlines, trailing spaces stripped.
    """
    rows = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    align = align.ljust(len(header), "l")

    def line(row):
        cells = (c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align))
        return "  ".join(cells).rstrip()

    lines = [line(r) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]
