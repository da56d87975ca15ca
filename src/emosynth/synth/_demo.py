"""The README's first command: a short VA run and a short category run, a few minutes on 2 cores."""

from __future__ import annotations

from pathlib import Path

from ._evolve import EvolveConfig

#: (sub-folder, configuration): about 1,300 evaluations each with the default model
DEMO_RUNS = (
    ("va-cppn", EvolveConfig(space="va", cells=8, encoding="cppn", iterations=20, batch=64, checkpoint_every=5)),
    ("category-cppn", EvolveConfig(space="category", encoding="cppn", iterations=20, batch=64, checkpoint_every=5)),
)


def demo_configs(seed: int = 0, iterations: int | None = None) -> list[tuple[str, EvolveConfig]]:
    """The demo's runs with ``seed`` and ``iterations`` per run (None: 20), validated
    (``ConfigError`` for a bad seed or fewer than 1 iteration)."""
    out = []
    for name, cfg in DEMO_RUNS:
        c = EvolveConfig(**{**cfg.__dict__, "seed": seed})
        if iterations is not None:
            c.iterations = iterations
        c.validate()
        out.append((name, c))
    return out


def run_demo(out: str | Path = "out/demo", seed: int = 0, iterations: int | None = None, progress_for=None,
             command: str | None = None) -> dict:
    """Run the demo into ``out``/<name>/ (replacing an earlier demo); returns {name: run.json}.

    ``progress_for(name, total)`` may return a context manager yielding an ``advance(k)`` callable.
    """
    from contextlib import nullcontext

    from ._evolve import evolve

    configs = demo_configs(seed, iterations)  # validated before either run starts
    results = {}
    for name, cfg in configs:
        ctx = progress_for(name, cfg.iterations) if progress_for else nullcontext(None)
        with ctx as advance:
            # The command that regenerates this run alone (what the gallery's detail pages show).
            again = None if command is None else (
                f"emosynth evolve --space {cfg.space} --cells {cfg.cells} --encoding {cfg.encoding} "
                f"--iterations {cfg.iterations} --batch {cfg.batch} --checkpoint-every {cfg.checkpoint_every} "
                f"--seed {cfg.seed} --out {Path(out) / name}")
            results[name] = evolve(cfg, Path(out) / name, overwrite=True, progress=advance, command=again)
    return results
