"""Open an artifact zip without trusting it: not a zip, truncated, malformed, encrypted or a
zip bomb each become ``ArtifactUnreadable`` with a short reason, never another exception.

A bomb is refused twice: on the sizes the central directory declares, before anything is
inflated, and on the bytes really read, counted as they stream (CPython's zipfile already
stops at the declared size and then fails the CRC; the counter is a second fence that does
not depend on that). Text files are decoded line by line: UTF-8, or UTF-16 when a byte-order
mark says so; undecodable bytes are replaced and counted, never raised.
"""

from __future__ import annotations

import codecs
import io
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO

from bot.insight.model import SummaryBudget


class ArtifactUnreadable(Exception):
    """The artifact (or a member) cannot be read; ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: What zipfile, zlib and friends raise on hostile bytes.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,  # encrypted member
    KeyError,
    IndexError,
    OverflowError,
)


class _Counted(io.RawIOBase):
    """A member stream that fails once more than ``budget`` bytes have come out of it."""

    def __init__(self, raw: IO[bytes], archive: SafeZip) -> None:
        self._raw = raw
        self._archive = archive

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._raw.read(len(buffer))
        except ZIP_ERRORS as exc:
            raise ArtifactUnreadable(f"a file in the zip is damaged ({_short(exc)})") from None
        self._archive.charge(len(data))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


class SafeZip:
    """A zip opened with its declared sizes checked; use as a context manager."""

    def __init__(self, path: Path, limits: SummaryBudget) -> None:
        self._limits = limits
        self._read = 0
        try:
            self._zf = zipfile.ZipFile(path)
            infos = self._zf.infolist()
        except ZIP_ERRORS as exc:
            raise ArtifactUnreadable(f"not a readable zip ({_short(exc)})") from None
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_uncompressed_bytes:
            self._zf.close()
            raise ArtifactUnreadable(
                f"it would unpack to {declared:,} bytes, over the {limits.max_uncompressed_bytes:,}"
                " byte limit"
            )
        # Members by base name, so a bundle nested in a top folder reads the same.
        self._by_name: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if not info.is_dir():
                self._by_name.setdefault(PurePosixPath(info.filename).name, info)

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._zf.close()

    def names(self) -> list[str]:
        """Base names of the members, sorted."""
        return sorted(self._by_name)

    def has(self, name: str) -> bool:
        """Whether a member with this base name exists."""
        return name in self._by_name

    def size(self, name: str) -> int:
        """The member's declared uncompressed size."""
        return self._by_name[name].file_size

    def charge(self, n: int) -> None:
        """Count ``n`` bytes really read; ArtifactUnreadable past the limit."""
        self._read += n
        if self._read > self._limits.max_uncompressed_bytes:
            raise ArtifactUnreadable(
                f"it unpacks to more than {self._limits.max_uncompressed_bytes:,} bytes"
            )

    def open(self, name: str, buffer_size: int = 1 << 16) -> io.BufferedReader:
        """A buffered, counted binary stream over the member called ``name``."""
        try:
            raw = self._zf.open(self._by_name[name])
        except ZIP_ERRORS as exc:
            raise ArtifactUnreadable(f"{name} cannot be opened ({_short(exc)})") from None
        return io.BufferedReader(_Counted(raw, self), buffer_size)

    def read_bytes(self, name: str, cap: int = 4 << 20) -> bytes:
        """The first ``cap`` bytes of a member (small files only: results.json, version.txt)."""
        with self.open(name) as stream:
            return stream.read(cap)

    def lines(self, name: str) -> TextLines:
        """The member's lines as text; see ``TextLines`` for how encodings are handled."""
        return TextLines(self.open(name), self._limits.max_line_bytes)


class TextLines:
    """Iterate a member's lines as ``str``; ``bad_lines`` counts lines with replaced bytes.

    ``binary`` is set when most of what was read was not text (NUL bytes): the caller
    reports the file instead of matching patterns against noise.
    """

    def __init__(self, stream: io.BufferedReader, max_line: int) -> None:
        self._stream = stream
        self._max_line = max_line
        self.bad_lines = 0
        self.lines_read = 0
        self.nul_lines = 0

    @property
    def binary(self) -> bool:
        """True when more than half the lines read held NUL bytes."""
        return self.lines_read > 0 and self.nul_lines * 2 > self.lines_read

    def __iter__(self) -> Iterator[str]:
        head = self._stream.peek(4)[:4]
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            yield from self._utf16()
            return
        if head.startswith(codecs.BOM_UTF8):
            self._stream.read(3)
        while True:
            raw = self._stream.readline(self._max_line)
            if not raw:
                break
            self.lines_read += 1
            if b"\0" in raw:
                self.nul_lines += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad_lines += 1
                text = raw.decode("utf-8", errors="replace")
            yield text.rstrip("\r\n")

    def blocks(self, size: int = 1 << 20) -> Iterator[str]:
        """The text in blocks of whole lines (about ``size`` bytes each), for fast scanning.

        UTF-8 blocks decode in one call; a block that fails is decoded line by line so the
        bad lines are counted. UTF-16 files fall back to ``__iter__``.
        """
        head = self._stream.peek(4)[:4]
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            yield from self._utf16()
            return
        if head.startswith(codecs.BOM_UTF8):
            self._stream.read(3)
        carry = b""
        while True:
            chunk = self._stream.read(size)
            if not chunk:
                break
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) < self._max_line:
                carry = data
                continue
            cut = cut or len(data)
            carry = data[cut:]
            yield self._decode_block(data[:cut])
        if carry:
            yield self._decode_block(carry)

    def _decode_block(self, data: bytes) -> str:
        lines = data.count(b"\n") or 1
        self.lines_read += lines
        if b"\0" in data:
            self.nul_lines += sum(1 for line in data.split(b"\n") if b"\0" in line)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            out = []
            for raw in data.split(b"\n"):
                try:
                    out.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    self.bad_lines += 1
                    out.append(raw.decode("utf-8", errors="replace"))
            return "\n".join(out)

    def _utf16(self) -> Iterator[str]:
        reader = io.TextIOWrapper(self._stream, encoding="utf-16", errors="replace")
        while True:
            text = reader.readline(self._max_line)
            if not text:
                break
            self.lines_read += 1
            if "\ufffd" in text:
                self.bad_lines += 1
            yield text.rstrip("\r\n")

    def close(self) -> None:
        """Close the underlying stream."""
        self._stream.close()


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:120]
