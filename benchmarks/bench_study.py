"""Load test of the study server: N simulated participants rating concurrently (threads + httpx)
against a real `emosynth study serve` process on 127.0.0.1, SQLite database.

Checks that no rating is lost or recorded twice (every participant also resubmits one answer, as a
retry after a dropped connection would) and reports the median time per rating request, against a
baseline measured in the same run: one participant alone.

    .venv/bin/python benchmarks/bench_study.py [--participants 50] [--images 12]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
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


def participant(base: str, times: list, answers: dict, errors: list, barrier: threading.Barrier | None):
    import httpx

    try:
        with httpx.Client(base_url=base, headers={"accept": "application/json"}, timeout=60) as c:
            if barrier is not None:
                barrier.wait()
            tok = c.post("/join/bench").headers["location"].rsplit("/", 1)[1]
            c.post(f"/p/{tok}/consent")
            c.post(f"/p/{tok}/instructions")
            st = c.get(f"/p/{tok}").json()
            mine, k = {}, 0
            while st["stage"] == "trial":
                v = (1, 1, 1) if st["kind"] == "attention" else (1 + k % 9, 1 + (k * 4) % 9, 1 + (k * 7) % 9)
                body = {"trial": st["trial_id"], "valence": v[0], "arousal": v[1], "dominance": v[2]}
                t0 = time.perf_counter()
                r = c.post(f"/p/{tok}/rate", json=body)
                times.append(time.perf_counter() - t0)
                if r.status_code != 200 or r.json()["result"] != "recorded":
                    errors.append(f"{r.status_code} {r.text[:100]}")
                    return
                if k == 3:  # a retry of an answer already recorded: must not count twice
                    again = c.post(f"/p/{tok}/rate", json=body).json()
                    if again.get("result") != "unchanged":
                        errors.append(f"resubmission answered {again}")
                mine[st["trial_id"]] = v
                st = r.json()["next"]
                k += 1
            answers[tok] = mine
    except Exception as e:  # noqa: BLE001 - reported and counted as a failure
        errors.append(repr(e))


def run_load(base: str, n: int) -> tuple[list, dict, list, float]:
    times, answers, errors = [], {}, []
    barrier = threading.Barrier(n) if n > 1 else None
    threads = [threading.Thread(target=participant, args=(base, times, answers, errors, barrier)) for _ in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, answers, errors, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=50)
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--attention-checks", type=int, default=2)
    args = ap.parse_args()

    import httpx
    from sqlalchemy import select

    from emosynth.study import Participant, Rating, StudyConfig, create_study, dispose, sessions

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db = f"sqlite:///{tmp}/studies.db"
        run = make_run(tmp / "run", args.images)
        create_study(StudyConfig(name="bench", runs=[run], per_target=args.images, db=db, folder=tmp / "bench",
                                 attention_checks=args.attention_checks))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "emosynth.cli", "study", "serve", "--db", db,
                                   "--port", str(port), "--admin-token", ADMIN],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    httpx.get(base + "/", timeout=1)
                    break
                except httpx.TransportError:
                    if server.poll() is not None:
                        sys.exit("server failed: " + server.stderr.read().decode()[-500:])
                    time.sleep(0.1)
            participant(base, [], {}, [], None)  # warm-up (not counted in the timings)
            t1, a1, e1, w1 = run_load(base, 1)
            tn, an, en, wn = run_load(base, args.participants)
        finally:
            server.terminate()
            server.wait()
        with sessions(db)() as s:  # every stored rating, keyed as the clients know them
            stored = s.execute(select(Participant.token, Rating.trial_id, Rating.valence, Rating.arousal,
                                      Rating.dominance)
                               .join(Participant, Participant.id == Rating.participant_id)).all()
        dispose(db)

    expected = {(tok, tid): v for answers in (a1, an) for tok, m in answers.items() for tid, v in m.items()}
    per_participant = args.images + args.attention_checks + 2
    keys = [(tok, tid) for tok, tid, *_ in stored if any(tok in a for a in (a1, an))]
    dupes = len(keys) - len(set(keys))
    got = {(tok, tid): tuple(v) for tok, tid, *v in stored}
    lost = sum(1 for k, v in expected.items() if got.get(k) != v)  # missing or with other values
    recorded = len(set(keys))
    print(f"trials per participant: {per_participant} (2 practice, {args.images} images, "
          f"{args.attention_checks} attention checks)")
    print(f"errors: {len(e1) + len(en)}" + (f" (first: {(e1 + en)[0]})" if e1 + en else ""))
    print(f"ratings sent {len(expected)}, in the database {recorded}: lost or altered {lost}, duplicated {dupes}")
    med1, medn = statistics.median(t1), statistics.median(tn)
    p95 = sorted(tn)[int(0.95 * (len(tn) - 1))]
    print(f"1 participant alone:        median {1000 * med1:.1f} ms per rating request ({len(t1)} requests)")
    print(f"{args.participants} participants at once:  median {1000 * medn:.1f} ms, p95 {1000 * p95:.1f} ms "
          f"({len(tn)} requests, {len(tn) / wn:.0f} ratings/s overall)")
    print(f"ratio (concurrent / alone): {medn / med1:.1f}x")
    ok = lost == 0 and dupes == 0 and recorded == len(expected) and not (e1 or en) and len(an) == args.participants
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
