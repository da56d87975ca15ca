"""Fast-path engines (models/features.py): agreement with eager fp32 on real OASIS photos, the int8
engines kept out of ``auto`` because they break the bound, the mirror pass folded into the batch,
and ``auto`` choosing by measuring on this machine."""

import json

import numpy as np
import pytest
import torch

from emosynth.errors import BackboneError
from emosynth.models import Predictor
from emosynth.models.features import (
    AGREEMENT_BOUND,
    AUTO_CANDIDATES,
    FeatureConfig,
    FeatureExtractor,
    FoldedFlip,
    choose_engine,
    engine_available,
    engine_choice_path,
)


@pytest.fixture(scope="module")
def fitted(oasis):
    """A Lite0 predictor fitted on 80 OASIS photos, and 12 other OASIS photos at its input size."""
    train = oasis.subset(np.arange(80))
    p = Predictor().fit(train)
    ex = p.extractor()
    held = [oasis.paths[i] for i in range(100, 900, 67)]
    return p, np.stack([ex.load_image(q) for q in held])


def _vad(p, images, engine):
    return p.predict_features(p.extractor().from_arrays(images, engine))["vad"]


def test_engines_agree_with_eager_or_stay_out_of_auto(fitted):
    p, images = fitted
    ref = _vad(p, images, "eager")
    dev = {}
    for e in ("onnx", "onnx-int8-static", "openvino"):
        if engine_available(e):
            d = np.abs(_vad(p, images, e) - ref)
            dev[e] = float(max(d[:, 0].max(), d[:, 1].max()))
    assert dev["onnx"] < 1e-3  # fp32 ONNX Runtime, mirror pass folded or not, is eager fp32
    for e, d in dev.items():
        if e in AUTO_CANDIDATES:
            assert d <= AGREEMENT_BOUND, f"{e} is an auto candidate but moves V/A by {d:.3f}"
    # the quantised engine: its measured deviation decides whether auto may ever pick it
    assert dev["onnx-int8-static"] > 0  # it really ran quantised
    assert ("onnx-int8-static" in AUTO_CANDIDATES) == (dev["onnx-int8-static"] <= AGREEMENT_BOUND)


def test_mirror_pass_folded_into_the_batch_gives_the_same_features():
    ex = FeatureExtractor(FeatureConfig("efficientnet-lite0", flip=True), engine="eager", cache=False)
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        two_pass, folded = ex.net(x), FoldedFlip(ex.net)(x)
        one_view = ex.net._pooled(ex.net.prepare(x))
    assert torch.allclose(two_pass, folded, atol=1e-5)
    assert not torch.allclose(folded, one_view, atol=1e-3)  # the mirror image's features are in it


def test_auto_measures_the_engines_here_and_remembers(fitted):
    p, _ = fitted
    ex = p.extractor()
    choice = choose_engine(ex)
    # this backbone's record: other tests may have left records for other backbones beside it
    rec = json.loads(engine_choice_path(ex).read_text())
    assert rec["backbone"] == ex.key
    avail = [e for e in AUTO_CANDIDATES if engine_available(e)]
    assert set(rec["images_per_s"]) == set(avail) and all(v > 0 for v in rec["images_per_s"].values())
    assert choice == rec["engine"] == max(rec["images_per_s"], key=rec["images_per_s"].get)
    assert ex.engine == choice  # what auto runs
    assert choose_engine(ex) == choice  # read back, not measured again


def test_auto_times_each_engine_after_a_warm_up_of_the_timed_shape(fitted):
    """OpenVINO specialises to each new input shape inside its first call, ORT grows its arena: a warm-up on
    fewer images than the timed batch leaves that cost in the timing (auto once chose PyTorch, 3.5x slower
    at batch 32, for MobileNetV2 this way)."""
    from emosynth.models.features import calibration_images, images_per_second

    p, _ = fitted
    ex = p.extractor()
    images = calibration_images(ex.input_size, 6)
    shapes = []
    run = ex.from_arrays

    def recording(batch, engine=None):
        shapes.append(batch.shape)
        return run(batch, engine)

    ex.from_arrays = recording
    try:
        rate = images_per_second(ex, images, "onnx", repeats=2)
    finally:
        del ex.from_arrays
    assert rate > 0
    assert shapes == [images.shape] * 3  # the warm-up and both timed passes: one shape


def test_openvino_bf16_runs_in_bf16_here_and_stays_out_of_auto_while_it_breaks_the_bound(fitted):
    """The opt-in bf16 engine computes something other than fp32 (so it really ran in bf16), close to it, and
    ``auto`` never picks it while its deviation on OASIS photos is past the bound."""
    from emosynth.models.features import cpu_has_native_bf16

    p, images = fitted
    if not cpu_has_native_bf16():  # the other branch: one clear error, tested below on every CPU
        with pytest.raises(BackboneError, match="needs a CPU with native bf16"):
            p.extractor().from_arrays(images[:1], "openvino-bf16")
        return
    ref = _vad(p, images, "eager")
    d = np.abs(_vad(p, images, "openvino-bf16") - ref)
    dev = float(max(d[:, 0].max(), d[:, 1].max()))
    assert 1e-4 < dev < 0.5  # bf16 (fp32 agrees to 1e-5), and still the same predictor
    assert "openvino-bf16" not in AUTO_CANDIDATES or dev <= AGREEMENT_BOUND
    fp32 = np.abs(_vad(p, images, "openvino") - ref)
    assert fp32.max() < 1e-3  # the fp32 engine is pinned to fp32 on this CPU, whatever OpenVINO's default


def test_openvino_bf16_on_a_cpu_without_native_bf16_is_one_line(monkeypatch):
    """Where the CPU lacks bf16 (patched: the CPU this runs on may have it) the engine is refused with an
    error naming what to use (a ``BackboneError``: one line and exit 2 at the command line)."""
    from emosynth.models import features

    monkeypatch.setattr(features, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(BackboneError, match="use 'openvino' or 'auto'"):
        FeatureExtractor(FeatureConfig("efficientnet-lite0"), engine="openvino-bf16", cache=False)
