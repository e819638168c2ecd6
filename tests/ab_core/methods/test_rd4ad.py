import pytest
import torch
import torch.nn.functional as F

from ab_core.components.anomaly_map import gaussian_blur
from ab_core.components.reverse_distillation import MirroredDecoder, OneClassBottleneck
from ab_core.contracts import Batch, BuildContext
from ab_core.errors import DataError
from ab_core.methods.rd4ad import Rd4adParams, build, cosine_distance_loss
from ab_core.models.backbone import ResNetBackbone
from ab_core.specs import BackboneSpec, DataSpec


def make_ctx(crop: int = 32) -> BuildContext:
    data = DataSpec(dataset="mvtec", root="unused", resize=crop, crop=crop)
    return BuildContext(BackboneSpec(), data, 2, torch.device("cpu"), seed=0)


def batches(count: int = 2, size: int = 4, crop: int = 32) -> list[Batch]:
    generator = torch.Generator().manual_seed(1)
    images = [torch.randint(0, 256, (size, 3, crop, crop), generator=generator, dtype=torch.uint8)
              for _ in range(count)]
    return [Batch(x, torch.zeros(size, dtype=torch.int64)) for x in images]


def test_rd4ad_training_leaves_teacher_weights_and_bn_statistics_bit_identical():
    torch.manual_seed(0)
    evaluator = build(Rd4adParams(epochs=1), make_ctx())
    teacher = evaluator.model.teacher
    with torch.no_grad():  # give BN non-default statistics, so any update would show
        for module in teacher.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    before = {name: value.clone() for name, value in teacher.state_dict().items()}
    decoder_before = {name: value.clone() for name, value in evaluator.model.decoder.state_dict().items()}
    evaluator.fit(batches())
    after = teacher.state_dict()
    assert any("running_mean" in name for name in before)
    for name, value in before.items():
        assert torch.equal(value, after[name]), name
    assert all(p.grad is None for p in teacher.parameters())
    decoder_after = evaluator.model.decoder.state_dict()
    trained = [n for n, v in decoder_before.items() if not torch.equal(decoder_after[n], v)]
    assert trained, "the decoder did not train"


def test_rd4ad_train_mode_never_reaches_the_teacher():
    model = build(Rd4adParams(epochs=1), make_ctx()).model
    model.train()
    assert model.decoder.training and model.bottleneck.training
    assert not any(module.training for module in model.teacher.modules())


def test_rd4ad_student_maps_match_the_teacher_layers_and_maps_cover_the_image():
    crop = 48  # not a multiple of 32: the decoder's output is aligned to the teacher's
    torch.manual_seed(0)
    evaluator = build(Rd4adParams(epochs=1), make_ctx(crop))
    images = torch.randn(2, 3, crop, crop)
    teacher, student = evaluator.model(images)
    assert [t.shape for t in teacher] == [s.shape for s in student]
    out = evaluator.score(batches(1, 2, crop)[0])
    assert out["anomaly_map"].shape == (2, 1, crop, crop) and out["image_score"].shape == (2,)


def test_rd4ad_reports_a_falling_loss_per_epoch():
    torch.manual_seed(0)
    evaluator = build(Rd4adParams(epochs=3), make_ctx())
    losses = []
    evaluator.on_epoch = lambda epoch, loss: losses.append((epoch, loss))
    evaluator.fit(batches(1))
    assert [e for e, _ in losses] == [0, 1, 2]
    assert losses[-1][1] < losses[0][1]


def test_rd4ad_upsamples_each_layer_map_with_aligned_corners_as_the_reference(monkeypatch):
    """The official cal_anomaly_map and anomalib's AnomalyMapGenerator interpolate with align_corners=True:
    a 1 x 2 distance map [0, 1] becomes an exact ramp across the image (align_corners=False would hold
    the ends flat for a quarter of the width each)."""
    model = build(Rd4adParams(epochs=1, blur_sigma=0), make_ctx()).model
    same, orthogonal = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    teacher = torch.stack([same, same], dim=-1).view(1, 2, 1, 2)  # (B, C, h, w): the same vector twice
    student = torch.stack([same, orthogonal], dim=-1).view(1, 2, 1, 2)  # distance 0 left, 1 right
    monkeypatch.setattr(model, "forward", lambda images: ([teacher], [student]))
    maps = model.anomaly_maps(torch.zeros(1, 3, 4, 16))
    assert maps.shape == (1, 1, 4, 16)
    for row in maps[0, 0]:
        torch.testing.assert_close(row, torch.linspace(0, 1, 16), atol=1e-6, rtol=0)


def test_cosine_distance_loss_is_zero_for_equal_maps_and_two_per_layer_for_opposite_ones():
    maps = [torch.randn(2, 4, 3, 3), torch.randn(2, 8, 2, 2)]
    assert float(cosine_distance_loss(maps, maps)) == pytest.approx(0.0, abs=1e-6)
    assert float(cosine_distance_loss(maps, [-m for m in maps])) == pytest.approx(4.0, abs=1e-5)


def test_bottleneck_and_decoder_mirror_the_teacher_shapes():
    features = ResNetBackbone().features(torch.randn(1, 3, 64, 64), ("layer1", "layer2", "layer3"))
    code = OneClassBottleneck()(features["layer1"], features["layer2"], features["layer3"])
    assert code.shape == (1, 512, 2, 2)
    decoded = MirroredDecoder("resnet18")(code)
    assert [d.shape for d in decoded] == [features[n].shape for n in ("layer1", "layer2", "layer3")]


def test_rd4ad_needs_batches_of_two_images():
    evaluator = build(Rd4adParams(epochs=1), make_ctx())
    with pytest.raises(DataError, match="at least 2"):
        evaluator.fit(batches(1, 1))


def _reference_pass(model, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The plain NCHW pass: teacher layers 1-3 without grad, bottleneck, decoder."""
    from ab_core.methods.rd4ad import TEACHER_LAYERS

    with torch.no_grad():
        features = model.teacher.features(images, TEACHER_LAYERS)
    teacher = [features[name] for name in TEACHER_LAYERS]
    return teacher, model.decoder(model.bottleneck(*teacher))


def test_rd4ad_nhwc_chunked_maps_and_adam_in_backward_follow_the_plain_nchw_loop():
    """The speed-ups (channels_last, scoring 8 images at a time, fused Adam stepped inside backward) keep
    the math: the same maps and losses, to float rounding, as the plain loop on an NCHW copy with torch's
    Adam. One epoch (two steps) only: with 4-image BN batches the gradients sit near 0 and Adam's first
    steps are lr * sign(g), so any float rounding flips some steps (NCHW at 1 vs 2 threads parts as much
    as NHWC does: 0.9401 vs 0.9393 in the second epoch's loss here); only the first steps hold tight."""
    import copy

    import torch.nn.functional as F

    from ab_core.components.encoder import prepare

    torch.manual_seed(0)
    evaluator = build(Rd4adParams(epochs=1, blur_sigma=1.0), make_ctx())
    reference = copy.deepcopy(evaluator.model).to(memory_format=torch.contiguous_format)
    assert evaluator.model.decoder.up1[0].conv2.weight.is_contiguous(memory_format=torch.channels_last)

    test = batches(1, 10)[0]  # 10 > 8: ours scores it in two chunks
    maps = evaluator.score(test)["anomaly_map"]
    reference.eval()
    with torch.no_grad():
        t, s = _reference_pass(reference, prepare(test.images, evaluator.ctx))
        distances = [1 - F.cosine_similarity(a, b).unsqueeze(1) for a, b in zip(t, s, strict=True)]
        upsampled = [F.interpolate(d, size=(32, 32), mode="bilinear", align_corners=True) for d in distances]
        expected = sum(upsampled)
    assert torch.allclose(maps, gaussian_blur(expected, 1.0), atol=1e-5)

    optimizer = torch.optim.Adam(reference.trainable_parameters(), lr=0.005, betas=(0.5, 0.999))
    train, ours, theirs = batches(2, 4), [], []
    start = [p.detach().clone() for p in reference.trainable_parameters()]
    evaluator.on_epoch = lambda epoch, loss: ours.append(loss)
    evaluator.fit(train)
    assert all(p.grad is None for p in evaluator.model.parameters())  # each consumed by its own step
    reference.train()
    for batch in train:
        t, s = _reference_pass(reference, prepare(batch.images, evaluator.ctx))
        pairs = zip(t, s, strict=True)
        loss = sum((1 - F.cosine_similarity(a.flatten(1), b.flatten(1))).mean() for a, b in pairs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        theirs.append(loss.item())
    # the epoch's mean loss: 4e-6 apart on an Intel VM, 1.1e-4 on an AMD EPYC one (other oneDNN kernels)
    assert ours == pytest.approx([sum(theirs) / 2], rel=1e-3)
    # and the steps themselves: Adam's updates point the same way as torch's for nearly every weight
    params = evaluator.model.trainable_parameters(), reference.trainable_parameters()
    moved = [(a.detach() - p0, b.detach() - p0) for a, b, p0 in zip(*params, start, strict=True)]
    agree = sum(int((a.sign() == b.sign()).sum()) for a, b in moved) / sum(a.numel() for a, _ in moved)
    assert agree > 0.98 and all(a.abs().max() > 0 for a, _ in moved), agree  # 0.9945 here
    sizes = [torch.cat([step.abs().flatten() for step in side]).median() for side in zip(*moved, strict=True)]
    assert float(sizes[0]) == pytest.approx(float(sizes[1]), rel=1e-2)  # the same step lengths: lr, betas


def test_rd4ad_refuses_bfloat16_where_the_device_only_emulates_it(monkeypatch):
    from ab_core.errors import SpecError

    monkeypatch.setattr("ab_core.methods.rd4ad.native_bf16", lambda device: False)
    with pytest.raises(SpecError, match=r"method\.precision: 'bfloat16' needs native bf16.*use 'float32'"):
        build(Rd4adParams(epochs=1, precision="bfloat16"), make_ctx())
    assert build(Rd4adParams(epochs=1), make_ctx()).model.autocast_bf16 is False  # float32 runs anywhere


def test_rd4ad_in_bfloat16_trains_in_bf16_yet_its_loss_and_maps_are_float32_and_near_float32s(monkeypatch):
    from ab_core.methods.rd4ad import train_step

    monkeypatch.setattr("ab_core.methods.rd4ad.native_bf16", lambda device: True)  # emulated: the same values
    images = (batches(1, 4, 64)[0].images.float() / 255 - 0.45) / 0.22
    runs = {}
    for precision in ("float32", "bfloat16"):
        torch.manual_seed(0)
        evaluator = build(Rd4adParams(epochs=1, precision=precision), make_ctx(64))
        model = evaluator.model.train()
        teacher, student = model(images)
        loss = train_step(model, model.teacher_maps(images))  # Adam steps inside backward
        model.eval()
        runs[precision] = (teacher[0].dtype, student[0].dtype, loss, model.anomaly_maps(images))
    assert runs["float32"][:2] == (torch.float32, torch.float32)
    assert runs["bfloat16"][:2] == (torch.bfloat16, torch.bfloat16)  # the convolutions ran in bf16
    _, _, loss32, maps32 = runs["float32"]
    _, _, loss16, maps16 = runs["bfloat16"]
    assert maps16.dtype == torch.float32
    assert loss16 == pytest.approx(loss32, rel=0.02)  # bf16 keeps ~3 significant digits
    assert torch.corrcoef(torch.stack([maps32.flatten(), maps16.flatten()]))[0, 1] > 0.9


@pytest.mark.parametrize("chunk", [2**18, 200])  # 200 values: rows 2 at a time, then the last alone
def test_the_loss_on_bf16_maps_matches_float64_autograd_and_keeps_no_float32_copies(monkeypatch, chunk):
    from ab_core.methods.rd4ad import _LowPrecisionCosineDistance

    monkeypatch.setattr(_LowPrecisionCosineDistance, "CHUNK", chunk)
    generator = torch.Generator().manual_seed(0)
    teacher = [torch.randn(3, 4, 5, 5, generator=generator).to(torch.bfloat16) for _ in range(2)]
    student = [torch.randn(3, 4, 5, 5, generator=generator).to(torch.bfloat16) for _ in range(2)]
    student[0].requires_grad_()
    student[1] = (student[1].detach() + teacher[1]).requires_grad_()  # a nearer pair: cos far from 0
    reference = [s.detach().double().requires_grad_() for s in student]
    expected = sum((1 - F.cosine_similarity(t.double().flatten(1), s.flatten(1), dim=1)).mean()
                   for t, s in zip(teacher, reference, strict=True))
    expected.backward()

    saved: list[torch.dtype] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda x: saved.append(x.dtype) or x, lambda x: x):
        loss = cosine_distance_loss(teacher, student)
    loss.backward()
    assert loss.dtype == torch.float32
    assert loss.detach().item() == pytest.approx(expected.detach().item(), abs=1e-6)
    assert saved and all(dtype == torch.bfloat16 for dtype in saved)
    for s, r in zip(student, reference, strict=True):
        assert s.grad.dtype == torch.bfloat16
        torch.testing.assert_close(s.grad.double(), r.grad, rtol=1e-2, atol=1e-4)  # bf16's 8 bits


def test_rd4ad_reuses_the_teachers_maps_across_epochs_with_the_same_steps_as_recomputing_them():
    from ab_core.components.encoder import prepare

    def fit(cache_mb: float) -> tuple[int, list[float], list[torch.Tensor]]:
        torch.manual_seed(0)
        evaluator = build(Rd4adParams(epochs=3), make_ctx())
        seen, losses = [], []
        features = evaluator.model.teacher.features
        evaluator.model.teacher.features = lambda x, layers: seen.append(len(x)) or features(x, layers)
        evaluator.on_epoch = lambda epoch, loss: losses.append(loss)
        evaluator.fit_images([prepare(b.images, evaluator.ctx) for b in batches(2, 4)], cache_mb=cache_mb)
        return sum(seen), losses, [p.detach() for p in evaluator.model.trainable_parameters()]

    runs = {cache_mb: fit(cache_mb) for cache_mb in (0, 64)}
    assert runs[0][0] == 24 and runs[64][0] == 8  # 8 images: each epoch anew, or once
    assert runs[64][1] == runs[0][1] and len(runs[0][1]) == 3  # the same batches, so the same steps
    assert all(torch.equal(a, b) for a, b in zip(runs[0][2], runs[64][2], strict=True))
