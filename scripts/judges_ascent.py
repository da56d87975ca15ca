"""Consensus rules under optimisation: gradient ascent on images against each rule, judged by the
held-out judges.

    python scripts/judges_ascent.py [--steps 40] [--size 96]

One smooth image per (rule, target) — a 24 × 24 grid of logits, bilinearly upsampled, through a
sigmoid — is optimised with Adam for the consensus objective of the packaged network (one view)
and the Valdez–Mehrabian colour judge, combined by each rule (mean, softmin τ = 1, mean − 1·sd).
All images run in one batch so every rule sees the same steps. Prints, per rule, each optimised
judge's RMS error from the targets (V, A on 1–9) at the end, the worst of the two, and the
held-out judges' (Lite2 network, Ou et al. colour model) RMS errors.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from emosynth.judges import NetworkJudge, combine, make_judge, target_tensor

TARGETS = [(2.5, 2.5), (2.5, 7.0), (7.5, 2.5), (7.5, 7.0)]
RULES = [("mean", {}), ("softmin", {"tau": 1.0}), ("mean-disagreement", {"lam": 1.0})]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    net = NetworkJudge("default", flip=False, name="default")
    colour = make_judge("valdez-mehrabian")
    jobs = [(r, t) for r in range(len(RULES)) for t in TARGETS]
    targets = target_tensor(torch.tensor([t for _, t in jobs]), len(jobs))
    logits = (0.5 * torch.randn(len(TARGETS), 3, 24, 24)).repeat(len(RULES), 1, 1, 1).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=args.lr)

    def render():
        return torch.sigmoid(F.interpolate(logits, size=(args.size, args.size), mode="bilinear", align_corners=False))

    def per_judge(x):
        return torch.stack([-(((j(x)["vad_raw"][:, :2] - targets[:, :2]) ** 2).mean(1)) for j in (net, colour)])

    for step in range(args.steps):
        per = per_judge(render())
        loss = 0.0
        for r, (method, kw) in enumerate(RULES):
            rows = [i for i, (rr, _) in enumerate(jobs) if rr == r]
            loss = loss - combine(per[:, rows], method, **kw).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(f"step {step}: loss {float(loss.detach()) / len(jobs):.3f}", flush=True)
    with torch.no_grad():
        x = render()
        verdicts = {"default": net(x)["vad_raw"][:, :2], "valdez-mehrabian": colour(x)["vad_raw"][:, :2]}
        for n in ("lite2", "ou"):
            verdicts[n] = make_judge(n)(x)["vad_raw"][:, :2]
    t = targets[:, :2]
    print(f"{len(TARGETS)} targets x {len(RULES)} rules, {args.steps} Adam steps, {args.size} px")
    print("rule | rms default | rms valdez-mehrabian | rms worst | held-out rms lite2 | held-out rms ou")
    for r, (method, kw) in enumerate(RULES):
        rows = [i for i, (rr, _) in enumerate(jobs) if rr == r]
        rms = {n: ((v[rows] - t[rows]) ** 2).mean(1).sqrt() for n, v in verdicts.items()}
        worst = torch.maximum(rms["default"], rms["valdez-mehrabian"])
        label = method + ("" if not kw else " " + ",".join(f"{k}={v}" for k, v in kw.items()))
        print(f"{label} | {float(rms['default'].mean()):.2f} | {float(rms['valdez-mehrabian'].mean()):.2f} | "
              f"{float(worst.mean()):.2f} | {float(rms['lite2'].mean()):.2f} | {float(rms['ou'].mean()):.2f}")


if __name__ == "__main__":
    main()
