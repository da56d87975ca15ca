"""The README's first command: a short VA run and a short category run, a few minutes on 2 cores, and
the packaged generators' sweeps over the V-A plane: the consensus-trained default (the packaged network
under random views and the Valdez-Mehrabian colour judge) beside the model-only one (the classifier alone);
docs/results/generator.md compares them under held-out judges.

The VA run is CMA-MEGA over the pixel grid, what fills a V-A archive fastest here (the README's CMA-MEGA
tables: 84 % of a 12 x 12 grid in 2,400 evaluations), not the CPPN under CMA-ME the demo ran before
(6 of 64 cells in 1,280 evaluations). Both runs are checked against the held-out Ou colour model (a
network held out, Lite2, is trained on first use: minutes, too long for a demo).
"""

from __future__ import annotations

from pathlib import Path

from ._evolve import EvolveConfig

#: (sub-folder, configuration): about 1,300 evaluations each with the default model
DEMO_RUNS = (
    ("va-pixels", EvolveConfig(space="va", cells=8, encoding="pixels", emitter="mega", iterations=20, batch=64,
                               checkpoint_every=5, check_judges="ou")),
    ("category-cppn", EvolveConfig(space="category", encoding="cppn", iterations=20, batch=64, checkpoint_every=5,
                                   check_judges="none")),
)
#: (sub-folder, packaged generator, title) of the demo's two sweeps
DEMO_SWEEPS = (("va-sweep", "default", "default generator (consensus: network + colour judge)"),
               ("va-sweep-model-only", "model-only", "model-only generator (the classifier alone)"))


def demo_configs(seed: int = 0, iterations: int | None = None) -> list[tuple[str, EvolveConfig]]:
    """The demo's runs with ``seed`` and ``iterations`` per run, validated.

    Args:
        seed: Seed of every run.
        iterations: Iterations per run (None: 20).

    Returns:
        (sub-folder name, configuration) pairs, one per demo run.

    Raises:
        ConfigError: A bad seed or fewer than 1 iteration.
    """
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
    """Run the demo into ``out``/<name>/ (replacing an earlier demo).

    Args:
        out: Folder the runs are written under, one sub-folder per run.
        seed: Seed of every run.
        iterations: Iterations per run (None: 20).
        progress_for: Optional ``progress_for(name, total)`` returning a context manager that yields an
            ``advance(k)`` callable (or None).
        command: When given, each run records the command that regenerates it alone.

    Returns:
        {run name: that run's run.json record}.

    Raises:
        ConfigError: A bad seed or fewer than 1 iteration (checked before either run starts).
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
                + (f"--emitter {cfg.emitter} " if cfg.emitter != "auto" else "")
                + f"--iterations {cfg.iterations} --batch {cfg.batch} --checkpoint-every {cfg.checkpoint_every} "
                f"--check-judges {cfg.check_judges} --seed {cfg.seed} --out {Path(out) / name}")
            results[name] = evolve(cfg, Path(out) / name, overwrite=True, progress=advance, command=again)
    return results


def run_demo_sweeps(out: str | Path = "out/demo", seed: int = 0, n: int = 4) -> dict:
    """The packaged generators' 5 x 5 sweeps over the V-A plane, with their contact sheets side by side.

    The default (consensus-trained) generator and the model-only one go into
    ``out``/<name>/, and ``out``/sweeps.png shows their contact sheets side by side.

    Args:
        out: Folder the sweeps are written under.
        seed: Seed of both sweeps.
        n: Images per target.

    Returns:
        {sweep name: that run's run.json record}.
    """
    from ._generate import GenerateConfig, generate

    out = Path(out)
    results = {}
    for name, generator, _ in DEMO_SWEEPS:
        folder = out / name
        again = (f"emosynth generate --sweep --n {n} --seed {seed}"
                 + (f" --generator {generator}" if generator != "default" else "") + f" --out {folder}")
        results[name] = generate(GenerateConfig(generator=generator, sweep=True, grid=5, n=n, size=256, seed=seed),
                                 folder, overwrite=True, command=again)
    side_by_side([out / name / "contact_sheet.png" for name, _, _ in DEMO_SWEEPS],
                 [title for _, _, title in DEMO_SWEEPS], out / "sweeps.png")
    return results


def side_by_side(images, titles, path: Path, width: int = 900) -> Path:
    """The images scaled to ``width`` px each, side by side under their titles, as one PNG (written atomically).

    Args:
        images: Paths of the image files, left to right.
        titles: One title per image, drawn above it.
        path: Where the PNG is written.
        width: Width of each image in the sheet, in pixels (heights keep the aspect ratio).

    Returns:
        ``path``, as a Path.
    """
    from PIL import Image, ImageDraw

    from ..imageio import read_image
    from ..rundir import write_png

    ims = []
    for p in images:
        im = read_image(p).convert("RGB")
        ims.append(im.resize((width, max(1, round(im.height * width / im.width))), Image.Resampling.LANCZOS))
    head = 28
    sheet = Image.new("RGB", (width * len(ims) + 16 * (len(ims) - 1), head + max(i.height for i in ims)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (im, title) in enumerate(zip(ims, titles)):
        x = k * (width + 16)
        sheet.paste(im, (x, head))
        draw.text((x + 4, 8), str(title), fill=(0, 0, 0))
    import numpy as np

    write_png(Path(path), np.asarray(sheet))
    return Path(path)
