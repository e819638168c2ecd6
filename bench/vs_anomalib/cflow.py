"""CFlow-AD here (`CflowEvaluator`) and in anomalib (`CflowModel` + its Lightning training step), same start.

Both train the same flows from the same initial weights (ours copied into anomalib's FrEIA-style
blocks) on the same fiber order (one seeded generator each), with Adam at lr 1e-4, N fibers per step:
what differs is the code, and the test-time normalisation constant (anomalib: the test batch's
maximum log-likelihood; ours: the last training epoch's). `python bench/vs_anomalib/cflow.py` alone
prints the parity figures: log-likelihood and anomaly-map agreement given identical weights.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

if __package__ in (None, ""):  # run as a script: the parity check
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.vs_anomalib import load_timm  # noqa: E402

NAME = "cflow"


def add_arguments(parser) -> None:
    # 3, not 1: the method trains for many epochs (default 50), and from the second epoch on ours reuses
    # the frozen encoder's features where anomalib recomputes them; one epoch would hide that
    parser.add_argument("--cflow-epochs", type=int, default=3, help="training passes of both")
    parser.add_argument("--cflow-blocks", type=int, default=8, help="coupling blocks per flow")
    parser.add_argument("--cflow-fibers", type=int, default=64, help="fibers per optimiser step (N)")
    parser.add_argument("--cflow-layers", nargs="*", default=["layer2", "layer3", "layer4"])


def _params(args):
    from ab_core.methods.cflow import CflowParams

    return CflowParams(epochs=args.cflow_epochs, coupling_blocks=args.cflow_blocks,
                       fiber_batch_size=args.cflow_fibers, layers=args.cflow_layers)


def _evaluator(state, args):
    from ab_core.contracts import BuildContext
    from ab_core.methods.cflow import CflowEvaluator, CflowModel
    from ab_core.models.backbone import ResNetBackbone
    from ab_core.specs import BackboneSpec, DataSpec

    encoder = ResNetBackbone(args.arch)
    encoder.load_state_dict(state)
    params = _params(args)
    data = DataSpec(dataset="mvtec", root="unused", resize=args.crop, crop=args.crop)
    ctx = BuildContext(BackboneSpec(arch=args.arch), data, 2, torch.device(args.device), args.seed)
    return CflowEvaluator(CflowModel(encoder.eval(), params, args.seed).to(args.device), params, ctx)


class Ours:
    def __init__(self, state, args):
        self.evaluator = _evaluator(state, args)

    def fit(self, batches) -> None:
        self.evaluator.fit_images(batches)

    @torch.no_grad()
    def score(self, images):
        maps = self.evaluator.model.anomaly_maps(images)
        return maps.flatten(1).amax(dim=1), maps


def copy_flows(ours, decoders) -> None:
    """Our flows' weights into anomalib's SequenceINN decoders (FrEIA names; permutations as matrices)."""
    for flow, decoder in zip(ours.flows(), decoders, strict=True):
        state = {}
        for k, block in enumerate(flow.couplings()):
            channels = block.perm.numel()
            w = torch.zeros(channels, channels)
            w[torch.arange(channels), block.perm.cpu()] = 1.0  # output i = input perm[i]
            state[f"module_list.{k}.w_perm"], state[f"module_list.{k}.w_perm_inv"] = w, w.T.contiguous()
            state |= {f"module_list.{k}.{name}": value for name, value in block.state_dict().items()
                      if not name.startswith("perm")}
        decoder.load_state_dict(state, strict=True)


class Anomalib:
    def __init__(self, state, args):
        from anomalib.models.image.cflow.torch_model import CflowModel

        start = _evaluator(state, args)  # first, so that its seeded init is the one Ours gets
        params = start.params
        self.model = CflowModel(backbone=args.arch, layers=list(params.layers), pre_trained=False,
                                fiber_batch_size=params.fiber_batch_size, decoder="freia-cflow",
                                condition_vector=params.condition_vector,
                                coupling_blocks=params.coupling_blocks, clamp_alpha=params.clamp,
                                permute_soft=False)
        load_timm(self.model.encoder, state)
        copy_flows(start.model, self.model.decoders)
        self.start = start  # held: memory freed before the fit would be reused by it, lowering its peak
        self.model.to(args.device)
        self.params, self.generator = params, torch.Generator().manual_seed(args.seed)

    def fit(self, batches) -> None:
        """anomalib's `Cflow.training_step`, with the fiber order from a seeded generator (as ours)."""
        from anomalib.models.image.cflow.utils import get_logp, positional_encoding_2d

        model, n = self.model, self.params.fiber_batch_size
        optimizer = torch.optim.Adam([p for d in model.decoders for p in d.parameters()], lr=self.params.lr)
        model.train()
        for _ in range(self.params.epochs):
            for images in batches:
                activation = model.encoder(images)
                for layer_idx, layer in enumerate(model.pool_layers):
                    e = activation[layer].detach()  # (B, C, H, W)
                    batch, dim, height, width = e.shape
                    length = batch * height * width
                    pos = positional_encoding_2d(model.condition_vector, height, width).to(images.device)
                    c_r = pos.unsqueeze(0).repeat(batch, 1, 1, 1).permute(0, 2, 3, 1).reshape(length, -1)
                    e_r = e.permute(0, 2, 3, 1).reshape(length, dim)
                    perm = torch.randperm(length, generator=self.generator).to(images.device)
                    decoder = model.decoders[layer_idx]
                    steps = max(length // n, 1)  # anomalib raises below one full batch; ours takes it whole
                    for step in range(steps):
                        optimizer.zero_grad()
                        idx = perm[step * n : (step + 1) * n if step < steps - 1 else length]
                        p_u, log_jac_det = decoder(e_r[idx], [c_r[idx]])
                        loss = -F.logsigmoid(get_logp(dim, p_u, log_jac_det) / dim)
                        loss.mean().backward()
                        optimizer.step()
        model.eval()

    @torch.no_grad()
    def score(self, images):
        out = self.model(images)  # its map is (B, H, W): the layer maps were squeezed
        maps = out.anomaly_map if out.anomaly_map.ndim == 4 else out.anomaly_map.unsqueeze(1)
        return out.pred_score, maps


def ours(state, args) -> Ours:
    return Ours(state, args)


def anomalib(state, args) -> Anomalib:
    return Anomalib(state, args)


def parity(arch: str = "resnet18", crop: int = 64, seed: int = 0) -> dict:
    """Identical weights in both: per-fiber log-likelihoods and (up to anomalib's batch constant) maps."""
    from anomalib.models.image.cflow.anomaly_map import AnomalyMapGenerator

    from ab_core.models.backbone import ResNetBackbone

    torch.manual_seed(seed)
    args = argparse.Namespace(arch=arch, crop=crop, seed=seed, device="cpu", cflow_epochs=1, cflow_blocks=8,
                              cflow_fibers=64, cflow_layers=["layer2", "layer3", "layer4"],
                              condition_vector=128)
    state = {k: v for k, v in ResNetBackbone(arch).state_dict().items() if not k.startswith("fc.")}
    theirs = Anomalib(state, args)
    mine = Ours(state, args).evaluator.model
    with torch.no_grad():  # move the flows off their near-identity start, in both
        for p in mine.decoders.parameters():
            p.add_(0.05 * torch.randn_like(p))
    copy_flows(mine, theirs.model.decoders)
    images = torch.randn(4, 3, crop, crop)
    ll = mine.log_likelihoods(images)
    mine.ll_max = torch.stack([x.amax() for x in ll])  # the batch maximum, as anomalib normalises
    ours_map = mine.anomaly_maps(images)
    theirs_map = theirs.score(images)[1]
    generator = AnomalyMapGenerator(pool_layers=mine.layers)
    rebuilt = generator(distribution=[x.flatten() for x in ll], height=[x.shape[1] for x in ll],
                        width=[x.shape[2] for x in ll], image_size=images.shape[-2:]).unsqueeze(1)
    offset = ours_map - theirs_map  # a constant: L - max(sum of probabilities)
    trained = _train_both(state, args, [torch.randn(4, 3, crop, crop) for _ in range(2)])
    trained["replica_vs_anomalib_training_step_max_abs_diff"] = _replica_is_training_step(state, args)
    return {"figure": "cflow_parity", "arch": arch, "crop": crop, **trained,
            "map_max_abs_diff_to_anomalib_generator_on_our_ll": float((rebuilt - theirs_map).abs().max()),
            "map_offset_spread": float(offset.max() - offset.min()),
            "score_rank_equal": bool(torch.equal(ours_map.flatten(1).amax(1).argsort(),
                                                 theirs_map.flatten(1).amax(1).argsort()))}


def _train_both(state, args, batches) -> dict:
    """The same start and fiber order, one epoch each: the trained flows' weights and likelihoods agree
    (up to float rounding: our Adam is the fused kernel, anomalib's the for-each one)."""
    from anomalib.models.image.cflow.utils import get_logp

    torch.manual_seed(args.seed)
    theirs = Anomalib(state, args)
    torch.manual_seed(args.seed)  # as the driver seeds each run: the same initial flows
    mine = Ours(state, args)
    start = {k: v.clone() for k, v in mine.evaluator.model.decoders.state_dict().items() if "perm" not in k}
    theirs.fit(batches)
    mine.fit(batches)
    ours_state = {k: v for k, v in mine.evaluator.model.decoders.state_dict().items() if "perm" not in k}
    theirs_state = {k: v for k, v in theirs.model.decoders.state_dict().items() if "w_perm" not in k}
    weights = max(float((p - q).abs().max()) for p, q in zip(ours_state.values(), theirs_state.values(),
                                                              strict=True))
    moved = max(float((ours_state[k] - v).abs().max()) for k, v in start.items())
    ll_diff = 0.0
    with torch.no_grad():
        for flow, decoder in zip(mine.evaluator.model.flows(), theirs.model.decoders, strict=True):
            e, c = torch.randn(256, flow.channels), torch.randn(256, args.condition_vector)
            z, log_det = decoder(e, [c])
            ll_diff = max(ll_diff, float((flow.log_likelihood_per_dim(e, c)
                                         - get_logp(flow.channels, z, log_det) / flow.channels).abs().max()))
    return {"trained_weights_max_abs_diff": weights, "weights_moved_by_training": moved,
            "trained_ll_max_abs_diff": ll_diff}


def _replica_is_training_step(state, args) -> float:
    """Anomalib's own Lightning `Cflow.training_step` (optimiser and logging stubbed) against the loop
    in `Anomalib.fit`, both drawing the fiber order from the global generator: max weight difference."""
    import types

    from anomalib.models import Cflow

    args = argparse.Namespace(**{**vars(args), "crop": 128})  # anomalib refuses a layer with < N fibers
    replica = Anomalib(state, args)
    real = Cflow(backbone=args.arch, layers=args.cflow_layers, pre_trained=False)
    load_timm(real.model.encoder, state)
    real.model.decoders.load_state_dict(replica.model.decoders.state_dict())
    optimizer = real.configure_optimizers()
    real.optimizers, real.log = (lambda: optimizer), (lambda *a, **k: None)
    real.manual_backward = lambda loss: loss.backward()
    images = [torch.randn(4, 3, 128, 128) for _ in range(2)]
    real.train()
    torch.manual_seed(123)
    for x in images:
        real.training_step(types.SimpleNamespace(image=x))
    replica.generator = torch.default_generator
    torch.manual_seed(123)
    replica.fit(images)
    pairs = zip(real.model.decoders.parameters(), replica.model.decoders.parameters(), strict=True)
    return max(float((p - q).abs().max()) for p, q in pairs)


if __name__ == "__main__":
    print(json.dumps(parity()))
