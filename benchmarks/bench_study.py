"""Load test of the study server: N simulated participants rating at once against a real
`emosynth study serve` process on 127.0.0.1, on SQLite and on PostgreSQL (a throwaway cluster, tests/_pg.py).

Each participant joins, consents, reads the instructions and rates every trial (2 practice, the images,
the attention checks) as fast as the server answers, over JSON; every participant also resubmits one
answer, as a retry after a dropped connection would, and any request that fails (connection refused or
reset, a 5xx) is retried with the same body until it is answered. Checked: every answer the clients saw
acknowledged is in the database exactly once, with its values. With ``--kill`` the server is killed with
SIGKILL once a third of the ratings are in and restarted on the same port: no committed rating may be
lost and every participant must resume and finish.

With zero think time (the default) every participant answers the moment a trial arrives: a closed loop
of N requests always in flight, so by Little's law the latency is N / throughput (200 / 300 per s = 0.67 s)
whatever the server; ``--think S`` lets each participant look S seconds on average (0.5 S to 1.5 S)
before answering, as people do (they take seconds), and then the latency is the server's own.

Reported: ratings/s over the whole load (acknowledged ratings / wall time), p50 and p95 of the rating
requests, against a baseline measured in the same run (one participant alone), the CPU and the load.
Clients (asyncio streams, a minimal HTTP/1.1 keep-alive client, one process) and server share the machine's cores.

    .venv/bin/python benchmarks/bench_study.py [--participants 200] [--images 12] [--db sqlite,postgresql]
        [--kill] [--baseline-src OLD/src]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
ADMIN = "bench-admin-token-0123456789abcdef"


def make_run(out: Path, n: int) -> Path:
    import numpy as np
    from PIL import Image

    from emosynth.rundir import run_header, write_items, write_png, write_run
    from emosynth.samples import sample_paths

    photos = [np.asarray(Image.open(p).convert("RGB").resize((256, 256))) for p in sample_paths()]
    rows = []
    for i in range(n):
        y, x = (i * 37) % 128, (i * 53) % 128
        write_png(out / "images" / f"{i:03d}.png", photos[i % len(photos)][y:y + 128, x:x + 128])
        rows.append({"file": f"{i:03d}.png", "target_valence": 1 + 8 * (i % 4) / 3,
                     "target_arousal": 1 + 8 * (i % 3) / 2,
                     "valence": 5.0, "arousal": 5.0, "dominance": 5.0})
    write_items(out, rows)
    write_run(out, run_header("bench", None, {}, None, []))
    return out


class Load:
    def __init__(self):
        self.times: list[float] = []  # seconds per acknowledged rating request (its last, successful try)
        self.answers: dict = {}  # token -> {trial_id: (v, a, d)} as acknowledged
        self.errors: list[str] = []
        self.retries = 0
        self.ratings = 0


class Reply:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status_code, self.headers, self.content = status, headers, body

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, one connection per participant: the load
    generator must cost far less CPU than the server it measures (httpx costs ~15 ms of CPU per request
    here, more than the server's whole rating)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, method: str, url: str, json=None) -> Reply:  # noqa: A002 - httpx's name
        import json as _json

        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = _json.dumps(json).encode() if json is not None else b""
        head = (f"{method} {url} HTTP/1.1\r\nHost: {self.host}\r\nAccept: application/json\r\n"
                + ("Content-Type: application/json\r\n" if json is not None else "")
                + f"Content-Length: {len(data)}\r\n\r\n")
        try:
            self.writer.write(head.encode() + data)
            await self.writer.drain()
            status = int((await self.reader.readline()).split()[1])
            headers = {}
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                k, _, v = line.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            body = await self.reader.readexactly(int(headers.get("content-length", 0)))
        except Exception:
            await self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Reply(status, headers, body)

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def _call(c, load: Load, method: str, url: str, **kw):
    """A request retried (same body) until the server answers it without a 5xx; ~60 s at most."""
    for attempt in range(600):
        try:
            r = await c.request(method, url, **kw)
            if r.status_code < 500:
                return r
        except Exception:  # noqa: BLE001 - refused / reset / timed out while the server restarts: retry
            pass
        load.retries += attempt == 0
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{method} {url}: no answer for a minute")


THINK = [0.0]  # mean seconds a participant looks at a picture before answering (--think)


async def participant(c, load: Load, start: asyncio.Event | None):
    try:
        if start is not None:
            await start.wait()
        r = await _call(c, load, "POST", "/join/bench")
        tok = r.headers["location"].rsplit("/", 1)[1]
        await _call(c, load, "POST", f"/p/{tok}/consent")
        await _call(c, load, "POST", f"/p/{tok}/instructions")
        st = (await _call(c, load, "GET", f"/p/{tok}")).json()
        mine, k = {}, 0
        load.answers[tok] = mine
        while st["stage"] == "trial":
            v = (1, 1, 1) if st["kind"] == "attention" else (1 + k % 9, 1 + (k * 4) % 9, 1 + (k * 7) % 9)
            body = {"trial": st["trial_id"], "valence": v[0], "arousal": v[1], "dominance": v[2], "rt_client_ms": 900}
            if THINK[0] > 0:
                await asyncio.sleep(THINK[0] * (0.5 + (hash((id(mine), k)) % 1000) / 1000))
            t0 = time.perf_counter()
            r = await _call(c, load, "POST", f"/p/{tok}/rate", json=body)
            dt = time.perf_counter() - t0
            if r.status_code != 200 or r.json()["result"] not in ("recorded", "unchanged"):
                load.errors.append(f"{r.status_code} {r.text[:100]}")
                return
            load.times.append(dt)
            load.ratings += 1
            mine[st["trial_id"]] = v
            if k == 3:  # a retry of an answer already recorded: must not count twice
                again = (await _call(c, load, "POST", f"/p/{tok}/rate", json=body)).json()
                if again.get("result") != "unchanged":
                    load.errors.append(f"resubmission answered {again}")
            st = r.json()["next"]
            k += 1
        if st["stage"] != "done":
            load.errors.append(f"participant ended at stage {st['stage']}")
    except Exception as e:  # noqa: BLE001 - reported and counted as a failure
        load.errors.append(repr(e))


async def run_load(base: str, n: int, on_progress=None) -> tuple[Load, float]:
    load = Load()
    host, port = base.split("//", 1)[1].split(":")
    clients = [RawClient(host, int(port)) for _ in range(n)]
    start = asyncio.Event()
    tasks = [asyncio.create_task(participant(c, load, start)) for c in clients]
    watcher = asyncio.create_task(on_progress(load)) if on_progress else None
    t0 = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    if watcher is not None:
        await watcher
    for c in clients:
        await c.close()
    return load, wall


def start_server(db: str, port: int, src: str | None = None, workers: int = 0) -> subprocess.Popen:
    """``emosynth study serve`` in its own process group; ``src``: another checkout's src/ (a baseline)."""
    cmd = [sys.executable, "-m", "emosynth.cli", "study", "serve", "--db", db, "--port", str(port),
           "--admin-token", ADMIN] + (["--workers", str(workers)] if workers else [])
    env = os.environ | ({"PYTHONPATH": src} if src else {})
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env)


def cpu_seconds(pid: int, by: str = "group") -> float:
    """User + system CPU time of a process and of every living process related to it, and of their
    children that were waited for (/proc). ``by="group"``: its process group (the server's worker
    processes); ``by="parent"``: its children (the PostgreSQL postmaster and its backends)."""
    field = {"group": 2, "parent": 1}[by]  # /proc/PID/stat after the name: [1] the parent, [2] the group
    tick, total, found = os.sysconf("SC_CLK_TCK"), 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[field]) == pid or int(stat.parent.name) == pid:
            found = True
            total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick
    return total if found else float("nan")


def database_pid(db: str) -> int | None:
    """The postmaster of the throwaway cluster behind ``db`` (tests/_pg.py), None for SQLite."""
    if not db.startswith("postgresql"):
        return None
    from _pg import _CLUSTER

    return int((_CLUSTER.data / "postmaster.pid").read_text().split()[0]) if _CLUSTER else None


def wait_up(base: str, server: subprocess.Popen) -> None:
    import httpx

    for _ in range(600):
        try:
            httpx.get(base + "/", timeout=1)
            return
        except httpx.TransportError:
            if server.poll() is not None:
                sys.exit("server failed: " + server.stderr.read().decode()[-500:])
            time.sleep(0.1)
    sys.exit("server did not start")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))] if xs else float("nan")


def bench(db: str, label: str, args, tmp: Path, src: str | None = None) -> bool:
    from sqlalchemy import select

    from emosynth.study import Participant, Rating, StudyConfig, create_study, dispose, sessions

    slug = "".join(ch if ch.isalnum() else "-" for ch in label)
    run = make_run(tmp / f"run-{slug}", args.images)
    create_study(StudyConfig(name="bench", runs=[run], per_target=args.images, db=db, folder=tmp / f"bench-{slug}",
                             attention_checks=args.attention_checks))
    dispose(db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    per_participant = args.images + args.attention_checks + 2
    from emosynth.study import default_workers

    n_workers = args.workers or default_workers(db)
    processes = (f"{n_workers} server process{'es' if n_workers > 1 else ''}" if args.workers or not src
                 else "the baseline's default server processes")
    holder = {"server": start_server(db, port, src, args.workers), "killed_at": None, "restarted_after": None}
    wait_up(base, holder["server"])

    async def killer(load: Load):
        total = args.participants * per_participant
        while load.ratings < total // 3:
            await asyncio.sleep(0.02)
        os.killpg(holder["server"].pid, signal.SIGKILL)
        holder["server"].wait()
        holder["killed_at"] = load.ratings
        t = time.perf_counter()
        holder["server"] = start_server(db, port, src, args.workers)
        await asyncio.get_running_loop().run_in_executor(None, wait_up, base, holder["server"])
        holder["restarted_after"] = time.perf_counter() - t

    try:
        asyncio.run(run_load(base, 1))  # warm-up (not counted)
        l1, w1 = asyncio.run(run_load(base, 1))
        db_pid = database_pid(db)
        db0 = cpu_seconds(db_pid, by="parent") if db_pid else float("nan")
        cpu0, own0 = cpu_seconds(holder["server"].pid), time.process_time()
        ln, wn = asyncio.run(run_load(base, args.participants, killer if args.kill else None))
        server_cpu = cpu_seconds(holder["server"].pid) - cpu0 if not args.kill else float("nan")
        client_cpu = time.process_time() - own0
        db_cpu = cpu_seconds(db_pid, by="parent") - db0 if db_pid else float("nan")
    finally:
        os.killpg(holder["server"].pid, signal.SIGTERM)
        holder["server"].wait()
    with sessions(db)() as s:  # every stored rating, keyed as the clients know them
        stored = s.execute(select(Participant.token, Rating.trial_id, Rating.valence, Rating.arousal,
                                  Rating.dominance).join(Participant, Participant.id == Rating.participant_id)).all()
        finished = s.scalar(select(Participant.id).where(Participant.finished_at.is_(None)).limit(1))
    dispose(db)
    ours = set(l1.answers) | set(ln.answers)
    expected = {(tok, tid): v for ld in (l1, ln) for tok, m in ld.answers.items() for tid, v in m.items()}
    keys = [(tok, tid) for tok, tid, *_ in stored if tok in ours]
    dupes = len(keys) - len(set(keys))
    got = {(tok, tid): tuple(v) for tok, tid, *v in stored}
    lost = sum(1 for k, v in expected.items() if got.get(k) != v)
    extra = len(set(keys) - set(expected))
    print(f"== {label}: {args.participants} participants x {per_participant} trials "
          f"(2 practice, {args.images} images, {args.attention_checks} attention checks), "
          f"{processes}, "
          f"think time {args.think:g} s{', SIGKILL mid-load' if args.kill else ''}")
    if args.kill:
        print(f"server SIGKILLed after {holder['killed_at']} acknowledged ratings, back in "
              f"{holder['restarted_after']:.1f} s")
    errors = l1.errors + ln.errors
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else "")
          + f"; requests retried after a failure: {l1.retries + ln.retries}")
    print(f"ratings acknowledged {len(expected)}, in the database {len(set(keys))}: lost or altered {lost}, "
          f"duplicated {dupes}, unacknowledged extra {extra}; unfinished participants: "
          f"{'some' if finished is not None else 'none'}")
    med1 = statistics.median(l1.times)
    print(f"1 participant alone:          median {1000 * med1:.1f} ms per rating request ({len(l1.times)} requests)")
    print(f"{args.participants} participants at once:  {len(ln.times) / wn:.0f} ratings/s overall, median "
          f"{1000 * statistics.median(ln.times):.1f} ms, p95 {1000 * pct(ln.times, 0.95):.1f} ms "
          f"({len(ln.times)} ratings in {wn:.1f} s)")
    print(f"ratio (concurrent median / alone): {statistics.median(ln.times) / med1:.1f}x")
    n_req = len(ln.times)
    print(f"CPU per rating (everything the load asked of it: joins, pages, ratings): server "
          f"{1000 * server_cpu / n_req:.2f} ms, clients {1000 * client_cpu / n_req:.2f} ms"
          + (f", database server {1000 * db_cpu / n_req:.2f} ms" if db_cpu == db_cpu else "")
          + ("" if args.kill else f" -> a server core alone would serve {n_req / server_cpu:.0f} ratings/s"))
    ok = (lost == 0 and dupes == 0 and not errors and len(ln.answers) == args.participants and finished is None
          and len(set(keys)) == len(expected))
    print("OK" if ok else "FAILED")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=200)
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--attention-checks", type=int, default=2)
    ap.add_argument("--db", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    ap.add_argument("--workers", type=int, default=0,
                    help="server processes (study serve --workers; default: the server's own default)")
    ap.add_argument("--kill", action="store_true", help="SIGKILL the server a third of the way and restart it")
    ap.add_argument("--think", type=float, default=0.0, help="mean seconds each participant looks before "
                                                               "answering (0: answer the moment the trial arrives)")
    ap.add_argument("--baseline-src", default=None, help="another checkout's src/ (e.g. `git archive 6046175 src`): "
                                                         "its server is measured first, in the same run")
    args = ap.parse_args()
    THINK[0] = args.think
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # so the servers and the cluster stop
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.1f}")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind in args.db.split(","):
            srcs = ([("baseline", args.baseline_src)] if args.baseline_src else []) + [("this", None)]
            for tag, src in srcs:
                if kind == "sqlite":
                    ok &= bench(f"sqlite:///{tmp}/studies-{tag}.db", f"sqlite, {tag} server", args, tmp, src)
                elif kind == "postgresql":
                    from _pg import start_cluster, stop_cluster

                    cluster = start_cluster()
                    try:
                        ok &= bench(cluster.new_database("bench"), f"postgresql, {tag} server", args, tmp, src)
                    finally:
                        stop_cluster()
                else:
                    sys.exit(f"--db {kind!r}: sqlite or postgresql")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
