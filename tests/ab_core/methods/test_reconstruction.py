import pytest
import torch

from ab_core.checkpoints import HEAD_FILE, load_file
from ab_core.contracts import Batch, BuildContext
from ab_core.errors import SpecError
from ab_core.losses.ssim import ReconstructionLoss
from ab_core.methods.reconstruction import ReconstructionParams, build
from ab_core.models.backbone import ResNetBackbone, load_weights
from ab_core.models.unet import UNetDecoder
from ab_core.runner import run
from ab_core.spec_sections import BackboneSpec, DataSpec
from ab_core.specs import parse_spec


def make(crop: int = 32, **params) -> object:
    data = DataSpec(dataset="image_folder", root="unused", resize=crop, crop=crop)
    ctx = BuildContext(BackboneSpec(arch="unet_resnet18"), data, 3, torch.device("cpu"), seed=0)
    return build(ReconstructionParams(**params), ctx)


def images(count: int = 2, crop: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (count, 3, crop, crop), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


@pytest.mark.parametrize("arch", ["resnet18", "cbam_resnet18", "wide_resnet50_2"])
def test_reconstruction_refuses_an_arch_without_a_decoder_naming_both(arch):
    spec = {"kind": "pretrain", "method": {"method": "reconstruction"}, "backbone": {"arch": arch},
            "data": {"dataset": "image_folder", "root": "/data"}}
    expected = f"method 'reconstruction' cannot use '{arch}'; accepted: unet_resnet18"
    with pytest.raises(SpecError, match=expected):
        parse_spec(spec)


def test_defect_probability_zero_keeps_every_image_and_one_changes_every_image():
    x = images(4)
    torch.manual_seed(0)
    assert torch.equal(make(defect_probability=0.0).corrupt(x), x)
    changed = make(defect_probability=1.0).corrupt(x) != x  # (B, 3, H, W)
    assert changed.flatten(1).any(dim=1).all()


def test_the_step_loss_is_draems_l2_plus_ssim_of_the_restored_clean_image():
    torch.manual_seed(0)
    model = make(defect_probability=0.0).eval()  # eval: BN statistics fixed, so two passes agree
    x = images(2)
    loss = model.training_step(Batch(x, torch.zeros(2, dtype=torch.int64)))
    normalised = (x.float() / 255 - torch.tensor(model.mean).view(1, 3, 1, 1)) / torch.tensor(model.std).view(
        1, 3, 1, 1)
    expected = ReconstructionLoss()(model.restore(normalised), x.float() / 255)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(model.step_metrics()) == {"l2", "ssim_loss"}


def test_reconstruction_learns_to_restore_a_fixed_batch():
    torch.manual_seed(0)
    model = make(defect_probability=0.0)
    batch = Batch(images(2), torch.zeros(2, dtype=torch.int64))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(3):
        loss = model.training_step(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_inputs_not_divisible_by_32_restore_at_their_own_size():
    model = make(crop=48).eval()
    with torch.no_grad():
        assert model.restore(torch.randn(1, 3, 48, 48)).shape == (1, 3, 48, 48)


def test_checkpoint_backbone_is_a_resnet18_encoder_and_the_decoder_loads_back_strictly(synth_root, tmp_path):
    spec = parse_spec({
        "kind": "pretrain", "method": {"method": "reconstruction"}, "backbone": {"arch": "unet_resnet18"},
        "data": {"dataset": "image_folder", "root": str(synth_root / "classes"), "resize": 32, "crop": 32,
                 "batch_size": 4},
        "schedule": {"steps": 1},
    })
    result = run(spec, tmp_path, report=lambda m, checkpoint_dir=None: None, device="cpu")
    assert {"l2", "ssim_loss"} <= set(result["metrics"])
    checkpoint = result["checkpoint"]
    for arch in ("unet_resnet18", "resnet18"):  # every evaluator on ResNet-18 can use the encoder
        encoder = ResNetBackbone(arch)
        load_weights(encoder, checkpoint)
        assert encoder.state_dict()["layer4.1.bn2.running_mean"].abs().sum() > 0  # trained values, not init
    head = load_file(f"{checkpoint}/{HEAD_FILE}")
    assert head and all(key.startswith("decoder.") for key in head)
    decoder = UNetDecoder()
    decoder.load_state_dict({k.removeprefix("decoder."): v for k, v in head.items()}, strict=True)
