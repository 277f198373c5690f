"""Engines and sessions for the store; SQLite gets the pragmas that make it safe to share."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]

SessionFactory = sessionmaker[Session]
T = TypeVar("T")
R = TypeVar("R")


def make_engine(url: str) -> Engine:
    """An engine for the store URL; creates the SQLite file's folder when needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; foreign keys make deletes cascade.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL is durable against a process crash (only a power loss can drop the
    # last commits) and saves an fsync per write: the API and workers write on every job.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(engine, expire_on_commit=False)


def connect(factory: SessionFactory, write: bool = False) -> AbstractContextManager[Connection]:
    """One transaction on the factory's engine, without an ORM session (for the hot paths).

    Commits when the block ends, rolls back if it raises. `write=True` for a transaction that
    writes: on SQLite it waits its turn at the file's writer lock first.
    """
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine):
        return _session_connection(factory)
    database = bind.url.database
    if write and fcntl is not None and bind.dialect.name == "sqlite" and database and database != ":memory:":
        return _locked(writer_lock(database), bind)
    return bind.begin()


@contextmanager
def _session_connection(factory: SessionFactory) -> Iterator[Connection]:
    with factory.begin() as session:
        yield session.connection()


@contextmanager
def _locked(lock: WriterLock, engine: Engine) -> Iterator[Connection]:
    with lock, engine.begin() as connection:
        yield connection


class WriterLock:
    """One writer at a time into a SQLite file, across the threads and processes that write it.

    SQLite lets a writer that finds the file locked poll for it, sleeping up to 100 ms between
    tries: while another process writes steadily (an API storing turns), a worker waiting to
    store answers can starve for most of a second, and every task thread behind it with it.
    Here writers queue on a thread lock, then on an flock of a file beside the database, which
    wakes the next waiter as soon as the lock is free. Writers that skip it (migrations, rare
    ORM writes) still work: SQLite's own locking and busy timeout stay in force.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread_lock = threading.Lock()
        self._fd = -1

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            # Opened per use (a few microseconds): no descriptor is kept, none leaks into a fork.
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *_exc: object) -> None:
        try:
            os.close(self._fd)  # releases the flock
        finally:
            self._fd = -1
            self._thread_lock.release()


_writer_locks: dict[str, WriterLock] = {}
_writer_locks_guard = threading.Lock()


def writer_lock(database: str) -> WriterLock:
    """The process's writer lock of a SQLite database file (shared by the engines on that file)."""
    lock = _writer_locks.get(database)
    if lock is None:
        with _writer_locks_guard:
            lock = _writer_locks.setdefault(database, WriterLock(f"{Path(database).resolve()}.writer-lock"))
    return lock


def ping(engine: Engine) -> None:
    """Raise if the store cannot be reached."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


class GroupCommit(Generic[T, R]):
    """Writes from many threads share one transaction; each caller still returns after its own commit.

    A caller queues its item. The first caller to find no group in flight takes every queued item
    (up to `max_items`), writes them with `write_many` in one transaction and hands each caller
    its own result; callers that arrive meanwhile form the next group. The busier the store, the
    larger the groups: one commit, one lock and one fsync serve many jobs. If `write_many`
    raises, that group is written again item by item with `write_one`, so an error reaches only
    the caller whose item caused it.
    """

    def __init__(
        self,
        write_many: Callable[[list[T]], Sequence[R]],
        write_one: Callable[[T], R],
        max_items: int = 64,
    ) -> None:
        self._write_many = write_many
        self._write_one = write_one
        self._max_items = max_items
        self._cond = threading.Condition()
        self._queue: list[_Slot[T, R]] = []
        self._busy = False

    def submit(self, item: T) -> R:
        """Write `item` (with whatever else is queued) and return its result, or raise its error."""
        slot: _Slot[T, R] = _Slot(item)
        with self._cond:
            self._queue.append(slot)
            while self._busy and not slot.settled:
                self._cond.wait()
            if slot.settled:
                return slot.outcome()
            self._busy = True
        try:
            while not slot.settled:
                with self._cond:
                    group = self._queue[: self._max_items]
                    del self._queue[: self._max_items]
                self._write(group)
                with self._cond:
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
        return slot.outcome()

    def _write(self, group: list[_Slot[T, R]]) -> None:
        try:
            self._write_group(group)
        except BaseException as exc:  # every caller must get an outcome, whatever was raised
            for slot in group:
                if not slot.settled:
                    slot.settle(None, exc)
            raise

    def _write_group(self, group: list[_Slot[T, R]]) -> None:
        if len(group) > 1:
            try:
                results = self._write_many([slot.item for slot in group])
            except Exception:
                pass  # written again one by one, below
            else:
                for slot, result in zip(group, results, strict=True):
                    slot.settle(result, None)
                return
        for slot in group:
            try:
                slot.settle(self._write_one(slot.item), None)
            except Exception as exc:
                slot.settle(None, exc)


class _Slot(Generic[T, R]):
    """One caller's item in a GroupCommit, and its outcome once written."""

    __slots__ = ("_error", "_result", "item", "settled")

    def __init__(self, item: T) -> None:
        self.item = item
        self.settled = False
        self._result: R | None = None
        self._error: BaseException | None = None

    def settle(self, result: R | None, error: BaseException | None) -> None:
        self._result, self._error, self.settled = result, error, True

    def outcome(self) -> R:
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]
