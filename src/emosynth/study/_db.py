"""The study's tables (SQLAlchemy 2, portable SQL: SQLite by default, PostgreSQL the same way) and their
schema versions (Alembic, ``emosynth/study/migrations``).

One study owns its images (copied into the study's own folder at creation), its participants and
their trials; a trial holds at most one rating (a unique constraint on participant + trial), so a
resubmission can never record a rating twice. A participant's progress counters (``rated`` of
``trials``) make a rating one short transaction: the current trial is the one at position ``rated``.

The schema is made and changed only by migrations: a new database is migrated to ``HEAD``; one made by
emosynth before migrations (``create_all``, no ``alembic_version`` table) is recognised as revision
0001; an older one is upgraded only when asked (``study serve --upgrade``); a newer one is refused.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    false,
    inspect,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from ..errors import StudyError

DEFAULT_DB = "sqlite:///studies.db"


def now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    folder: Mapped[str] = mapped_column(Text)  # the study's own copy of its images
    consent_text: Mapped[str] = mapped_column(Text)
    completion_code: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attention_checks: Mapped[int] = mapped_column(Integer, default=0)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    sources: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of the run directories sampled
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    platform: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    completion_url: Mapped[str | None] = mapped_column(Text, nullable=True)  # may hold {PARAM} placeholders
    lists: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    counterbalance_scale: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    images: Mapped[list["Image"]] = relationship(back_populates="study", order_by="Image.id")


class Image(Base):
    """An image of the study (or one of its practice images), served by its opaque ``public_id``."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    file: Mapped[str] = mapped_column(String(100))  # name inside the study folder, chosen by create
    practice: Mapped[bool] = mapped_column(Boolean, default=False)
    source_run: Mapped[str] = mapped_column(Text, default="")
    source_file: Mapped[str] = mapped_column(Text, default="")
    target: Mapped[str] = mapped_column(Text, default="")  # the stratum label, e.g. "v=2.0 a=8.0" or "fear"
    target_category: Mapped[str | None] = mapped_column(String(40), nullable=True)
    target_valence: Mapped[float | None] = mapped_column(Float, nullable=True)
    target_arousal: Mapped[float | None] = mapped_column(Float, nullable=True)
    target_dominance: Mapped[float | None] = mapped_column(Float, nullable=True)
    pred_category: Mapped[str | None] = mapped_column(String(40), nullable=True)
    pred_valence: Mapped[float | None] = mapped_column(Float, nullable=True)
    pred_arousal: Mapped[float | None] = mapped_column(Float, nullable=True)
    pred_dominance: Mapped[float | None] = mapped_column(Float, nullable=True)
    cell: Mapped[str] = mapped_column(Text, default="", server_default="")  # a stimulus folder's design cell
    source: Mapped[str] = mapped_column(Text, default="", server_default="")  # the input photo of an edit
    list_index: Mapped[int | None] = mapped_column(Integer, nullable=True)  # its list (--lists), None: all

    study: Mapped[Study] = relationship(back_populates="images")


class Participant(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the study: the export's pseudonym
    token: Mapped[str] = mapped_column(String(64), unique=True)  # secrets.token_urlsafe: the only key
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    consented_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    instructed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    platform_id: Mapped[str | None] = mapped_column(String(200), nullable=True)  # e.g. PROLIFIC_PID
    url_params: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")  # JSON: recorded parameters
    device: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")  # JSON: screen, window, agent
    list_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    scale_reversed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    trials: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # trials in the plan
    practice: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # of which practice (first)
    rated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # = position of the current trial
    current_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (UniqueConstraint("study_id", "number"),
                      Index("ix_participants_platform_id", "study_id", "platform_id", unique=True))


class Trial(Base):
    """One screen of ratings: kind 'practice', 'main' or 'attention' (all three answers must be 1)."""

    __tablename__ = "trials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))

    image: Mapped[Image] = relationship()
    __table_args__ = (UniqueConstraint("participant_id", "position"),
                      CheckConstraint("kind IN ('practice', 'main', 'attention')"))


class Rating(Base):
    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"))
    valence: Mapped[int] = mapped_column(Integer)
    arousal: Mapped[int] = mapped_column(Integer)
    dominance: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    rt_server_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)  # trial current -> answer committed
    rt_client_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)  # image shown -> answer sent (browser)
    window_w: Mapped[int | None] = mapped_column(Integer, nullable=True)
    window_h: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (UniqueConstraint("participant_id", "trial_id"),
                      CheckConstraint("valence BETWEEN 1 AND 9 AND arousal BETWEEN 1 AND 9 "
                                      "AND dominance BETWEEN 1 AND 9"))


def _sqlite_pragmas(dbapi_conn, _record):
    dbapi_conn.isolation_level = None  # transactions are begun by _sqlite_begin, not by the driver
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a server crash
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn):
    """A writing transaction takes SQLite's write lock when it begins (BEGIN IMMEDIATE), so it waits its
    turn (busy timeout) instead of failing when another writer committed after it read."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")


#: the execution option that marks a session as one that writes (see ``writing``)
WRITE = "emosynth_write"


#: one lock per SQLite engine: this process's writers take SQLite's write lock one after another. Without
#: it, threads that collide on BEGIN IMMEDIATE wait in SQLite's busy handler, which sleeps 1, 2, 5, 10 ...
#: 100 ms between tries: under 200 concurrent participants that sleeping was most of the p95 latency.
#: (Other processes on the same file still wait in the busy handler, as before.)
_WRITE_LOCKS: dict[int, threading.RLock] = {}


def write_lock(eng: Engine):
    """The lock this process's writers of ``eng`` hold for the length of a writing transaction (SQLite),
    or a context that does nothing (a server database, which serialises writers itself)."""
    if eng.dialect.name != "sqlite":
        return nullcontext()
    return _WRITE_LOCKS.setdefault(id(eng), threading.RLock())


@contextmanager
def write_transaction(eng: Engine):
    """A connection in a writing transaction on ``eng``: committed at the end, rolled back on an exception."""
    with write_lock(eng), eng.connect() as conn:
        conn = conn.execution_options(**{WRITE: True})
        with conn.begin():
            yield conn


@contextmanager
def writing(Session: sessionmaker):
    """A transaction that writes: committed at the end, rolled back on an exception."""
    with write_lock(Session.kw["bind"]), Session.begin() as s:
        s.connection(execution_options={WRITE: True})
        yield s


_ENGINES: dict[str, Engine] = {}
MIGRATIONS = Path(__file__).with_name("migrations")
#: the schema revision this emosynth writes (the newest in migrations/versions)
HEAD = "0002"
#: the tables of revision 0001, as ``create_all`` made them before migrations
V1_TABLES = {"studies", "images", "participants", "trials", "ratings"}


def _alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def known_revisions() -> list[str]:
    """The schema revisions this emosynth knows, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def schema_revision(connection) -> str | None:
    """The database's schema revision: its ``alembic_version``; "0001" for the tables ``create_all`` made
    before migrations; None for an empty database.

    Args:
        connection: An open SQLAlchemy connection to the database.

    Returns:
        The revision (e.g. ``"0001"``), or None for an empty database.

    Raises:
        StudyError: If the database holds other tables but no study schema.
    """
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" in tables:
        from sqlalchemy import text

        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if not tables & V1_TABLES:
        return None
    if V1_TABLES <= tables:
        return "0001"
    raise StudyError(f"the database holds tables {', '.join(sorted(tables))} but not a study schema")


def migrate(url: str, upgrade: bool = False) -> tuple[str | None, str]:
    """Bring the database at ``url`` to ``HEAD``: an empty one is created at HEAD, an older one is upgraded
    only with ``upgrade``, a newer one is refused.

    Args:
        url: The database URL (SQLAlchemy, e.g. ``sqlite:///study.db``).
        upgrade: Whether to upgrade a database of an older schema (back it up before).

    Returns:
        (revision found, revision now): the first is None for an empty database, the second is ``HEAD``.

    Raises:
        StudyError: If the schema is newer than this emosynth knows, older without ``upgrade``, or the
            database holds other tables but no study schema.
    """
    from alembic import command

    eng = _engine(url)
    known = known_revisions()
    with eng.begin() as conn:
        found = schema_revision(conn)
    if found == HEAD:
        return found, HEAD
    if found is not None and found not in known:
        raise StudyError(f"{_safe(url)}: the study database has schema revision {found}, newer than this "
                         f"emosynth knows (up to {HEAD}); upgrade emosynth to serve it")
    if found is not None and not upgrade:
        raise StudyError(f"{_safe(url)}: the study database has schema revision {found}, older than this "
                         f"emosynth's {HEAD}; back it up, then run `emosynth study serve --upgrade` once")
    with eng.begin() as conn:
        cfg = _alembic_config(conn)
        if found is not None and "alembic_version" not in inspect(conn).get_table_names():
            command.stamp(cfg, found)  # made by create_all before migrations: it is revision 0001
        command.upgrade(cfg, HEAD)
    return found, HEAD


def _safe(url: str) -> str:
    """The URL without its password (for messages)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def retry_on_disconnect(fn, *args):
    """``fn(*args)``, once more if it failed because the database server dropped the connection (a restart
    of the server, an idle timeout): by then the pool has discarded its old connections and reconnects.
    For the participant's operations, which are idempotent or failed before they wrote."""
    try:
        return fn(*args)
    except DBAPIError as e:
        if not e.connection_invalidated:
            raise
        return fn(*args)


def driver_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean PostgreSQL through psycopg 3 (the driver emosynth installs;
    SQLAlchemy's default for them is psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _engine(url: str) -> Engine:
    if url in _ENGINES:
        return _ENGINES[url]
    try:
        if url.startswith("sqlite"):
            eng = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(eng, "connect", _sqlite_pragmas)
            event.listen(eng, "begin", _sqlite_begin)
        else:
            # no pool_pre_ping: a ping per checkout is a round trip per rating (p95 130 -> 200 ms under the
            # benchmark's load); a connection the server dropped fails once, the pool then renews every
            # connection it holds, and the participant's routes retry (``retry_on_disconnect``)
            # at most 20 connections per process (8 kept): 4 serve the participants' routes (DB_THREADS),
            # the rest pages, images and the admin; 4 processes stay under PostgreSQL's default 100
            eng = create_engine(driver_url(url), pool_size=8, max_overflow=12)
        with eng.connect():
            pass
    except Exception as e:  # noqa: BLE001 - any driver's failure to connect is the user's to fix
        raise StudyError(f"cannot open study database {_safe(url)!r}: {str(e).strip().splitlines()[0]}") from None
    _ENGINES[url] = eng
    return eng


def engine_for(url: str, upgrade: bool = False) -> Engine:
    """One engine per database URL, its schema at ``HEAD`` (see ``migrate``); a bad URL, an unreachable
    server or a schema of another revision raises ``StudyError`` (one line)."""
    if url in _ENGINES and url in _CURRENT:
        return _ENGINES[url]
    try:
        migrate(url, upgrade)
    except StudyError:
        dispose(url)
        raise
    except Exception as e:  # noqa: BLE001 - a failed migration: say so in one line, nothing half-done
        dispose(url)
        raise StudyError(f"{_safe(url)}: cannot bring the study schema to {HEAD}: "
                         f"{str(e).strip().splitlines()[0]}") from None
    _CURRENT.add(url)
    return _ENGINES[url]


_CURRENT: set[str] = set()


def sessions(url: str, create: bool = False, upgrade: bool = False) -> sessionmaker:
    """Sessions on the study database ``url``. A SQLite file that does not exist is refused (a mistyped
    path would otherwise become a new, empty database) unless ``create`` (``study create``); an older
    schema is upgraded only with ``upgrade``.

    Args:
        url: The database URL (SQLAlchemy, e.g. ``sqlite:///study.db``).
        create: Whether a SQLite file that does not exist may be created.
        upgrade: Whether to upgrade a database of an older schema (see ``migrate``).

    Returns:
        A ``sessionmaker`` bound to the database's engine, its schema at ``HEAD``.

    Raises:
        StudyError: (one line) For a missing SQLite file without ``create``, a bad URL, an unreachable
            server or a schema of another revision.
    """
    if not create and url not in _ENGINES:
        _check_sqlite_exists(url)
    return sessionmaker(engine_for(url, upgrade), expire_on_commit=False)


def _check_sqlite_exists(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # engine_for says what is wrong with the URL
    if parsed.get_backend_name() != "sqlite":
        return
    db = parsed.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return
    if not Path(db).is_file():
        raise StudyError(f"{url}: no study database at {db}; check --db (study create makes a new one)")


def dispose(url: str) -> None:
    """Close the engine's connections (tests, and a server shutting down).

    Args:
        url: The database URL whose engine to close; nothing happens if it has none.
    """
    eng = _ENGINES.pop(url, None)
    _CURRENT.discard(url)
    if eng is not None:
        _WRITE_LOCKS.pop(id(eng), None)
        eng.dispose()
