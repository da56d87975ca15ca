"""torchvision-compatible architectures: state_dict layout, output shapes, checkpoint loading."""

import json
import pathlib

import pytest
import torch

from emosynth.errors import EmosynthError, WeightsError, WeightsNotFoundError
from emosynth.models.torchvision_arch import (
    ARCHITECTURES,
    build,
    find_checkpoint,
    load_pretrained,
)

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "torchvision_state_dict_shapes.json"

# File names torchvision itself downloads into the hub cache.
TORCHVISION_FILES = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet50": "resnet50-0676ba61.pth",
    "alexnet": "alexnet-owt-7be5be79.pth",
    "vgg16": "vgg16-397923af.pth",
    "inception_v3": "inception_v3_google-0cc3c7bd.pth",
}


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    # Two OpenMP threads on a 2-core machine with any other load run these
    # convolutions ~20x slower than one thread; one thread keeps the file ~10 s.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def models():
    """Lazily built eval-mode modules, shared so each big model is built once."""
    cache = {}

    def get(name):
        if name not in cache:
            torch.manual_seed(0)
            cache[name] = build(name).eval()
        return cache[name]

    return get


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub checkpoint dir that find_checkpoint searches."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    directory = tmp_path / "hub" / "checkpoints"
    directory.mkdir(parents=True)
    return directory


def _save_resnet18(models, path, wrap=None):
    state = models("resnet18").state_dict()
    torch.save(state if wrap is None else {wrap: state, "epoch": 3}, path)
    return path


def _same_outputs(a, b):
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        return torch.equal(a(x), b(x))


def test_architectures_table():
    assert set(ARCHITECTURES) == set(TORCHVISION_FILES)
    for info in ARCHITECTURES.values():
        assert set(info) == {"input_size", "feature_dim", "checkpoint_prefix"}


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_state_dict_matches_torchvision(name, models):
    expected = json.loads(FIXTURE.read_text())[name]
    got = [[k, list(v.shape)] for k, v in models(name).state_dict().items()]
    assert got == expected


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_output_shapes(name, models):
    info = ARCHITECTURES[name]
    size = info["input_size"]
    batch = 2 if name in ("resnet18", "alexnet") else 1
    x = torch.randn(batch, 3, size, size)
    model = models(name)
    with torch.inference_mode():
        maps = model.forward_maps(x)
        features = model.forward_features(x)
        logits = model(x)
    assert maps.ndim == 4 and maps.shape[0] == batch
    assert features.shape == (batch, info["feature_dim"])
    assert logits.shape == (batch, 1000)
    assert torch.isfinite(logits).all()


def test_inception_transform_input_maps_imagenet_normalisation_to_unit_range(models):
    model = models("inception_v3")
    assert model.transform_input is True
    raw = torch.rand(1, 3, 8, 8)  # pixel values in [0, 1]
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    out = model._transform_input((raw - mean) / std)
    torch.testing.assert_close(out, (raw - 0.5) / 0.5)


def test_load_from_explicit_path(tmp_path, models):
    path = _save_resnet18(models, tmp_path / "resnet18-f37072fd.pth")
    loaded = load_pretrained("resnet18", weights=path)
    assert not loaded.training
    assert _same_outputs(loaded, models("resnet18"))


def test_load_from_hub_cache(hub, models):
    path = _save_resnet18(models, hub / "resnet18-f37072fd.pth")
    assert find_checkpoint("resnet18") == path
    assert _same_outputs(load_pretrained("resnet18"), models("resnet18"))


@pytest.mark.parametrize("wrap", ["state_dict", "model"])
def test_load_wrapped_state_dict(tmp_path, models, wrap):
    path = _save_resnet18(models, tmp_path / "ckpt.pth", wrap=wrap)
    assert _same_outputs(load_pretrained("resnet18", weights=path), models("resnet18"))


def test_load_checkpoint_without_num_batches_tracked(tmp_path, models):
    # Older official torchvision files predate BatchNorm's num_batches_tracked.
    state = {
        k: v
        for k, v in models("resnet18").state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    torch.save(state, tmp_path / "resnet18-5c106cde.pth")
    loaded = load_pretrained("resnet18", weights=tmp_path / "resnet18-5c106cde.pth")
    assert _same_outputs(loaded, models("resnet18"))


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_find_checkpoint_recognises_torchvision_names(name, hub):
    path = hub / TORCHVISION_FILES[name]
    path.touch()
    assert find_checkpoint(name) == path


def test_find_checkpoint_uses_xdg_cache_without_torch_home(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    path.touch()
    assert find_checkpoint("alexnet") == path


def test_vgg16_ignores_batchnorm_variant(hub):
    (hub / "vgg16_bn-6c64b313.pth").touch()
    with pytest.raises(WeightsNotFoundError):
        find_checkpoint("vgg16")


def test_missing_checkpoint_message(hub):
    with pytest.raises(WeightsNotFoundError) as info:
        load_pretrained("resnet50")
    message = str(info.value)
    assert "\n" not in message
    assert "--weights" in message
    assert "resnet50-*.pth" in message and str(hub) in message


def test_missing_explicit_weights_file(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="nope.pth"):
        load_pretrained("resnet18", weights=tmp_path / "nope.pth")


def test_wrong_key_names_the_key(tmp_path, models):
    state = models("resnet18").state_dict()
    state["fc.weigth"] = state.pop("fc.weight")
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(WeightsError) as info:
        load_pretrained("resnet18", weights=tmp_path / "bad.pth")
    message = str(info.value)
    assert "\n" not in message
    assert "bad.pth" in message and "fc.weigth" in message and "fc.weight" in message


def test_wrong_shape_names_the_key(tmp_path, models):
    state = models("resnet18").state_dict()
    state["fc.weight"] = torch.zeros(10, 512)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=r"fc\.weight \(10, 512\)"):
        load_pretrained("resnet18", weights=tmp_path / "bad.pth")


def test_garbage_file_is_weights_error(tmp_path):
    path = tmp_path / "resnet18-garbage.pth"
    path.write_bytes(b"\x00\x01 definitely not a checkpoint \xff" * 10)
    with pytest.raises(WeightsError) as info:
        load_pretrained("resnet18", weights=path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert "weights_only" not in message  # torch's advice to disable the safety check is dropped


def test_non_state_dict_checkpoint_is_weights_error(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "tensor.pth")
    with pytest.raises(WeightsError, match="state_dict"):
        load_pretrained("resnet18", weights=tmp_path / "tensor.pth")


def test_unknown_architecture():
    with pytest.raises(EmosynthError, match="resnet18"):
        build("resnet34")
