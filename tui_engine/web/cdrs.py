"""Call records on the portal's side: the writer the telephony component reports to (through
the composition root, ``tui_engine.wiring``), their retention, and the formula-safe CSV.

The telephony component hands over a *plain* mapping when a call ends (it never imports the
portal); :class:`CallRecorder` turns it into a :class:`CallRecord` and writes it in the
background, so a slow store never delays a BYE. Records older than the retention are purged
at start and then every :data:`PURGE_EVERY` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import time
from collections.abc import Iterable, Mapping
from typing import Any

from tui_engine.obs.logging import get_logger
from tui_engine.web.store.cdrs import CallRecord, CdrStore

log = get_logger("tui_engine.cdrs")

PURGE_EVERY = 3600.0

#: After a batch, the writer waits this long for more records before it stops: under load the
#: calls that end meanwhile share the next batch (one thread hop, one commit for all of them).
#: A record still waits for no one: the first of a quiet period is written at once.
BATCH_LINGER = 0.05
#: Seconds a cancelled writer still spends writing what it holds (see ``CallRecorder._write``):
#: a healthy store needs milliseconds; a stalled one must not hold a stopping engine for ever.
FLUSH_GRACE = 2.0

CSV_COLUMNS = (
    "call_id", "started_at", "answered_at", "ended_at", "duration", "caller", "dialled", "dialplan",
    "menus", "digits", "no_input", "end_reason", "sip_status",
)

#: A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A text cell a spreadsheet shows as text: a leading formula character gets a ``'`` in
    front (OWASP's advice), whatever the caller ID a stranger put in the ``From`` header.
    Numbers we write ourselves (times, counts) are never negative, so they pass unchanged."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _iso(t: float | None) -> str:
    return "" if t is None else dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")


def csv_header() -> str:
    out = io.StringIO()
    csv.writer(out).writerow(CSV_COLUMNS)
    return out.getvalue()


def csv_lines(records: Iterable[CallRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for r in records:
        writer.writerow([
            csv_cell(r.call_id), _iso(r.started_at), _iso(r.answered_at), _iso(r.ended_at),
            f"{r.duration:.3f}", csv_cell(r.caller), csv_cell(r.dialled), csv_cell(r.dialplan),
            csv_cell(" > ".join(r.menus)), r.digits, r.no_input, csv_cell(r.end_reason),
            "" if r.sip_status is None else r.sip_status,
        ])
    return out.getvalue()


class CallRecorder:
    """An engine component: receives finished calls, writes them, purges old ones."""

    def __init__(self, store: CdrStore, retention: float) -> None:
        self.store = store
        self.retention = retention  # seconds; 0 keeps records for ever
        #: records waiting for the writer; one write (one thread hop, one transaction) takes them all
        self._queue: list[CallRecord] = []
        self._writer: asyncio.Task[None] | None = None
        #: the batch being written, in a task of its own: a cancelled writer still waits for it
        self._writing: asyncio.Task[None] | None = None
        self._writing_size = 0
        self._cut_off = 0  #: records of writes cancelled themselves (not known to be stored)
        self._stopping = False  #: stop() waits for the writer: no lingering then
        self._lingering: asyncio.Future[None] | None = None
        self._purger: asyncio.Task[None] | None = None

    # -- what the telephony component calls -----------------------------------------------------
    def record(self, mapping: Mapping[str, Any]) -> None:
        """A call ended: write its record in the background (never raises into the call path)."""
        try:
            record = CallRecord.from_mapping(mapping)
        except (KeyError, TypeError, ValueError):
            log.exception("cdr.malformed", call_id=mapping.get("call_id"))
            return
        self._queue.append(record)
        if self._writer is None:
            self._start_writer(asyncio.get_running_loop())

    def _start_writer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._writer = writer = loop.create_task(self._write())
        writer.add_done_callback(self._writer_done)

    def _writer_done(self, writer: asyncio.Task[None]) -> None:
        """A writer cancelled before its first step never ran its ``finally``: the records it was
        started for are still queued. Another writer takes them while the loop runs (a cancelled
        task is not a stopped loop); see :meth:`_write` for the loop that closes first."""
        if writer is not self._writer:
            return  # it ended normally (its ``finally`` let go of it)
        self._writer = None
        loop = writer.get_loop()
        if self._queue and not loop.is_closed():
            self._start_writer(loop)

    async def _write(self) -> None:
        """Write what has queued up, in batches, until nothing is left.

        Why batches: one write per call cost a worker-thread hop and a transaction (an fsync of
        the WAL) each, and under load the loop's thread waited for the GIL behind every one
        (0.4 ms per call set-up, measured with bench/_cpu_counts.py). Records that end while a
        batch is being written form the next batch; once nothing is left the writer lingers
        :data:`BATCH_LINGER` for more: at 1 000 calls/s a batch written in 0.2 ms would
        otherwise hold one or two records, and the hop and the commit came back per call.

        Cancelled (a task cancelled at shutdown, ``asyncio.run`` ending without :meth:`stop`, a
        :meth:`stop` that ran out of time): the records queued while it lingered, and the batch
        being written, are still written, for at most :data:`FLUSH_GRACE` seconds; what a second
        cancellation or that grace leaves unwritten is logged once (``cdr.lost``), with its
        count. A write cancelled itself (a runner cancels every task, that one too) may or may
        not have reached the store: counted there as ``in_flight``; the records behind it are
        still written. A loop closed with the writer still pending (``GeneratorExit``) can write
        nothing: that loss is logged the same way. A killed process (SIGKILL) logs nothing: at
        most the records of the last :data:`BATCH_LINGER` and the batch in flight are lost.
        """
        try:
            try:
                await self._drain(linger=True)
            except asyncio.CancelledError:
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    async with asyncio.timeout(FLUSH_GRACE):
                        await self._drain(linger=False)
                raise
        finally:
            if self._writer is _current_task():
                self._writer = None
            self._lost()

    async def _drain(self, *, linger: bool) -> None:
        while self._queue or self._writing is not None:
            if self._writing is None:
                batch, self._queue = self._queue, []
                self._writing_size = len(batch)
                self._writing = asyncio.get_running_loop().create_task(self._add(batch))
            # shielded: cancelling the writer must not cancel a write half done (a Redis command
            # half sent, a SQLite insert its thread completes anyway): the batch is waited for
            writing = self._writing
            try:
                await asyncio.shield(writing)
            except asyncio.CancelledError:
                # The writer itself asked to stop (``cancelling()``: a runner cancels every task,
                # the write too) goes to _write's recovery, unless this is that recovery already.
                writer = asyncio.current_task()
                if not writing.cancelled() or (linger and writer is not None and writer.cancelling()):
                    raise
                # the write itself was cancelled: it may or may not be in the store; the records
                # queued behind it are still written
                self._cut_off += self._writing_size
            self._writing = None
            if linger and not self._queue and not self._stopping:
                await self._linger()

    async def _add(self, batch: list[CallRecord]) -> None:
        try:
            await self.store.add(*batch)
        except Exception:  # a failed batch loses only itself (logged with its count)
            log.exception("cdr.write_failed", records=len(batch), call_ids=[r.call_id for r in batch[:5]])

    def _lost(self) -> None:
        """The writer ends with records unwritten (see :meth:`_write`): say so, once, with the count."""
        writing, self._writing = self._writing, None
        unsure = 0 if writing is None or (writing.done() and not writing.cancelled()) else self._writing_size
        unsure, self._cut_off = unsure + self._cut_off, 0
        lost, self._queue = self._queue, []
        if lost or unsure:
            log.error("cdr.lost", records=len(lost) + unsure, in_flight=unsure,
                      call_ids=[r.call_id for r in lost[:5]])

    async def _linger(self) -> None:
        """:data:`BATCH_LINGER`, or less: :meth:`stop` ends the wait."""
        loop = asyncio.get_running_loop()
        self._lingering = waiting = loop.create_future()
        timer = loop.call_later(BATCH_LINGER, _settle, waiting)
        try:
            await waiting
        finally:
            timer.cancel()
            self._lingering = None

    # -- Component ------------------------------------------------------------------------------
    def setup_http(self, app: object) -> None:
        """No routes of its own: the portal serves the history (``/api/cdrs``)."""

    async def start(self, engine: object = None) -> None:
        self._stopping = False
        self._purger = asyncio.get_running_loop().create_task(self._purge_loop())

    async def stop(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
        self._stopping = True
        if self._lingering is not None:
            _settle(self._lingering)
        if self._writer is not None:  # the last calls' records (hung up by the shutdown) are written
            await asyncio.gather(self._writer, return_exceptions=True)
        await self.store.aclose()

    def apply_config(self, config: object) -> None:
        """Set by the composition root (it reads the option); see :meth:`set_retention`."""

    def set_retention(self, seconds: float) -> None:
        self.retention = seconds

    async def purge_once(self, now: float) -> int:
        if self.retention <= 0:
            return 0
        n = await self.store.purge(now - self.retention)
        if n:
            log.info("cdr.purged", records=n, retention_s=self.retention)
        return n

    async def _purge_loop(self) -> None:
        while True:
            try:
                await self.purge_once(time.time())
            except Exception:
                log.exception("cdr.purge_failed")
            await asyncio.sleep(PURGE_EVERY)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # a pending writer closed by the garbage collector: no loop runs
        return None


def _settle(waiting: asyncio.Future[None]) -> None:
    if not waiting.done():
        waiting.set_result(None)
