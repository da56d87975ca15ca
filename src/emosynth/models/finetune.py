"""Fine-tuning the last blocks of a backbone for emotion (``--finetune N``).

The backbone is split into a frozen part and a trainable tail (its last N blocks and the final
1×1 convolution). The frozen part runs once per image (and its mirror image) on the fast path;
its activations are kept in memory, so every epoch — and every cross-validation fold — trains only
the small tail. The tail is trained with temporary linear heads on the same multi-task loss as the
predictor (cross-entropy to the raters' category distribution, squared error on standardised
V/A/D, each on the rows carrying that label); afterwards the predictor's own heads are fitted on the
tuned features as usual. Only the tail's tensors are saved (``backbone_tail.pt``).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..emotions import DIMENSIONS
from ..errors import BackboneError


@dataclass(frozen=True)
class FinetuneConfig:
    blocks: int = 2
    epochs: int = 6
    lr: float = 3e-4
    batch_size: int = 64
    weight_decay: float = 1e-4
    seed: int = 0


class _Frozen(nn.Module):
    """Normalisation + the frozen layers: images in [0, 1] at the input size → activations."""

    def __init__(self, feature_net, layers):
        super().__init__()
        self.fnet, self.layers = feature_net, layers

    def forward(self, x):
        return self.layers(self.fnet.prepare(x))


class _Seq(nn.Module):
    def __init__(self, fns):
        super().__init__()
        self.fns = nn.ModuleList(fns)

    def forward(self, x):
        for f in self.fns:
            x = f(x)
        return x


class _ConvBnAct(nn.Module):
    """EfficientNet-Lite's stem or head: convolution, batch norm, activation (shared modules)."""

    def __init__(self, conv, bn, act):
        super().__init__()
        self.conv, self.bn, self.act = conv, bn, act

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class _LiteBlock(nn.Module):
    def __init__(self, net, idx):
        super().__init__()
        self.block = net._blocks[idx]
        self.rate = (net._global_params.drop_connect_rate or 0) * idx / len(net._blocks)

    def forward(self, x):
        return self.block(x, drop_connect_rate=self.rate)


def split_trunk(feature_net, blocks: int) -> tuple[nn.Module, nn.Module]:
    """(frozen, tail) views of ``feature_net``'s trunk sharing its parameters; tail(frozen(x)) = maps."""
    trunk = feature_net.trunk
    name = feature_net.spec.name
    if name.startswith("efficientnet-lite"):
        net = trunk.net
        n = len(net._blocks)
        if not 1 <= blocks < n:
            raise BackboneError(f"--finetune must be between 1 and {n - 1} blocks for {name}")
        frozen = [_ConvBnAct(net._conv_stem, net._bn0, net._swish)] + [_LiteBlock(net, i) for i in range(n - blocks)]
        tail = [_LiteBlock(net, i) for i in range(n - blocks, n)] + [_ConvBnAct(net._conv_head, net._bn1, net._swish)]
    elif name == "mobilenetv2":
        feats = trunk.net.features
        n = len(feats) - 1  # the last entry is the final 1×1 convolution
        if not 1 <= blocks < n:
            raise BackboneError(f"--finetune must be between 1 and {n - 1} blocks for {name}")
        frozen = list(feats[: n - blocks])
        tail = list(feats[n - blocks:])
    else:
        raise BackboneError(f"--finetune supports efficientnet-lite0/1/2 and mobilenetv2, not {name}")
    return _Frozen(feature_net, _Seq(frozen)), _Seq(tail)


def tail_state(feature_net, tail: nn.Module) -> dict[str, torch.Tensor]:
    """The trunk's state_dict entries that belong to ``tail`` (what fine-tuning changed)."""
    ids = {id(t) for t in list(tail.parameters()) + list(tail.buffers())}
    return {k: v.detach().clone() for k, v in feature_net.trunk.state_dict(keep_vars=True).items() if id(v) in ids}


def frozen_activations(extractor, paths, where=None, progress=None) -> np.ndarray:
    """Activations of the frozen part for each image and its mirror image: (n, 2, C, h, w) float32.

    Runs on ONNX Runtime when it is the fast engine (the frozen part is most of the network's cost).
    """
    net = extractor.net
    frozen, _ = split_trunk(net, extractor.finetune_blocks)
    s = extractor.input_size
    run = None
    if extractor.engine == "onnx":
        import onnxruntime as ort

        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(frozen.eval(), (torch.rand(2, 3, s, s),), buf, dynamo=False, input_names=["images"],
                              output_names=["acts"], dynamic_axes={"images": {0: "n"}, "acts": {0: "n"}},
                              opset_version=17)
        so = ort.SessionOptions()
        so.intra_op_num_threads = torch.get_num_threads()
        so.log_severity_level = 3
        sess = ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
        run = lambda x: sess.run(None, {"images": x.numpy()})[0]  # noqa: E731
    else:
        def run(x):
            with torch.inference_mode():
                return frozen.eval()(x).float().numpy()
    where = list(where) if where is not None else [None] * len(paths)
    out = []
    for i in range(0, len(paths), extractor.batch_size):
        batch = np.stack([extractor.load_image(p, w) for p, w in zip(paths[i:i + extractor.batch_size],
                                                                    where[i:i + extractor.batch_size])])
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255
        a = run(torch.cat([x, torch.flip(x, dims=[3])]))
        k = len(batch)
        out.append(np.stack([a[:k], a[k:]], axis=1).astype(np.float32))
        if progress:
            progress(k)
    return np.concatenate(out)


def _pool(maps: torch.Tensor, pooling: str) -> torch.Tensor:
    avg = maps.mean(dim=(2, 3))
    return avg if pooling == "avg" else torch.cat([avg, maps.amax(dim=(2, 3))], dim=1)


def tail_features(tail: nn.Module, acts: np.ndarray, pooling: str, flip: bool, batch_size: int = 256) -> np.ndarray:
    """Pooled features from cached frozen activations, as ``FeatureNet`` computes them."""
    tail.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(acts), batch_size):
            a = torch.from_numpy(acts[i:i + batch_size])
            f = _pool(tail(a[:, 0]), pooling)
            if flip:
                f = 0.5 * (f + _pool(tail(a[:, 1]), pooling))
            out.append(f.numpy())
    return np.concatenate(out).astype(np.float32)


def train_tail(tail: nn.Module, acts: np.ndarray, data, rows: dict[str, np.ndarray], pooling: str,
               config: FinetuneConfig = FinetuneConfig(), progress=None) -> None:
    """Train ``tail`` in place on activations ``acts`` of ``data``'s rows.

    ``rows[target]`` masks the rows that teach each target (as the predictor's heads use them).
    Batch-norm statistics stay frozen (small batches would make them noisy).
    """
    g = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    n = len(acts)
    with torch.no_grad():
        probe = _pool(tail.eval()(torch.from_numpy(acts[:2, 0])), pooling)
    dim = probe.shape[1]
    has_cat = rows["category"].any()
    K = data.probabilities.shape[1] if has_cat else 1
    cat_head, vad_head = nn.Linear(dim, K), nn.Linear(dim, 3)
    feat_norm = nn.LayerNorm(dim, elementwise_affine=False)
    # Standardise V/A/D so each dimension weighs alike in the loss.
    vad = torch.from_numpy(np.nan_to_num(data.vad, nan=0.0)).float()
    vmask = torch.from_numpy(np.stack([rows[d] for d in DIMENSIONS], axis=1)).float()
    mu = (vad * vmask).sum(0) / vmask.sum(0).clamp(min=1)
    sd = (((vad - mu) ** 2 * vmask).sum(0) / vmask.sum(0).clamp(min=1)).sqrt().clamp(min=1e-3)
    vz = (vad - mu) / sd
    P = torch.from_numpy(np.nan_to_num(data.probabilities, nan=0.0)).float() if has_cat else torch.zeros(n, 1)
    cmask = torch.from_numpy(rows["category"]).float()
    params = [{"params": [p for p in tail.parameters()], "lr": config.lr},
              {"params": list(cat_head.parameters()) + list(vad_head.parameters()), "lr": config.lr * 10}]
    for p in tail.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, weight_decay=config.weight_decay)
    A = torch.from_numpy(acts)
    for epoch in range(config.epochs):
        tail.train()
        for m in tail.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        order = torch.randperm(n, generator=g)
        for i in range(0, n, config.batch_size):
            idx = order[i:i + config.batch_size]
            side = torch.randint(0, 2, (len(idx),), generator=g)  # the image or its mirror, at random
            f = feat_norm(_pool(tail(A[idx, side]), pooling))
            loss = torch.zeros(())
            cm = cmask[idx]
            if has_cat and cm.sum() > 0:
                logp = torch.log_softmax(cat_head(f), dim=1)
                loss = loss + (-(P[idx] * logp).sum(1) * cm).sum() / cm.sum()
            vm = vmask[idx]
            if vm.sum() > 0:
                loss = loss + (((vad_head(f) - vz[idx]) ** 2) * vm).sum() / vm.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if progress:
            progress(1)
    for p in tail.parameters():
        p.requires_grad_(False)
    tail.eval()
