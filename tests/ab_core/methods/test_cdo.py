import pytest
import torch
import torchvision
from pydantic import ValidationError

from ab_core.methods.cdo import CDOParams, build
from tests.ab_core.methods.tiny import make_batch, make_ctx


@pytest.mark.parametrize(
    "params",
    [
        CDOParams(),
        CDOParams(student_init="random", defect="blended", distance="cosine"),
        CDOParams(mom=False),
    ],
    ids=["default", "random-blended-cosine", "no-mom"],
)
def test_cdo_step_trains_the_student_only(params):
    torch.manual_seed(0)
    model = build(params, make_ctx(num_classes=1)).train()
    loss = model.training_step(make_batch())
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("student.") for n, _ in trainable)
    for name, p in trainable:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for _, p in trainable)
    frozen = [(n, p) for n, p in model.named_parameters() if not p.requires_grad]
    assert {n.split(".")[0] for n, _ in frozen} == {"teacher", "student"}  # the student's layer4 too
    for name, p in frozen:
        assert p.grad is None, name


def test_cdo_freezes_student_layers_deeper_than_the_compared_ones():
    model = build(CDOParams(layers=["layer2", "layer1"]), make_ctx(num_classes=1))
    assert model.params.layers == ["layer1", "layer2"]  # depth order
    assert not any(p.requires_grad for p in model.student.layer3.parameters())
    assert not any(p.requires_grad for p in model.student.layer4.parameters())
    assert all(p.requires_grad for p in model.student.layer2.parameters())


def test_cdo_teacher_is_unchanged_by_an_optimiser_step_and_stays_in_eval_mode():
    torch.manual_seed(0)
    model = build(CDOParams(), make_ctx(num_classes=1))
    model.train()
    assert model.student.training and not model.teacher.training
    before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    student_before = model.student.layer1[0].conv1.weight.clone()
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.training_step(make_batch()).backward()
    optimiser.step()
    after = model.teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BatchNorm statistics
    assert not torch.equal(model.student.layer1[0].conv1.weight, student_before)


def test_cdo_gamma_zero_gives_the_same_loss_as_oom_off():
    losses = []
    for params in (CDOParams(gamma=0.0), CDOParams(gamma=3.0, oom=False)):
        torch.manual_seed(0)
        model = build(params, make_ctx(num_classes=1))
        batch = make_batch()
        losses.append(model.training_step(batch))
    assert torch.equal(losses[0], losses[1])


def test_cdo_reports_normal_and_defect_discrepancy_and_no_defect_term_without_mom():
    torch.manual_seed(0)
    model = build(CDOParams(student_init="random"), make_ctx(num_classes=1))
    model.training_step(make_batch())
    metrics = model.step_metrics()
    assert set(metrics) == {"normal_d", "defect_d"}
    assert 0 < metrics["normal_d"] <= 4 and 0 < metrics["defect_d"] <= 4
    plain = build(CDOParams(mom=False), make_ctx(num_classes=1))
    plain.training_step(make_batch())
    assert set(plain.step_metrics()) == {"normal_d"}


@pytest.mark.parametrize("export", ["student", "teacher"])
def test_cdo_exports_a_plain_resnet_that_loads_into_torchvision(export):
    model = build(CDOParams(export=export), make_ctx(num_classes=1))
    assert model.backbone is getattr(model, export)
    resnet = torchvision.models.resnet18()
    resnet.fc = torch.nn.Identity()
    resnet.load_state_dict(model.backbone.state_dict())  # strict


@pytest.mark.parametrize(
    "field, value", [("gamma", -0.5), ("gamma", 11.0), ("layers", []), ("layers", ["layer1", "layer1"])]
)
def test_cdo_bad_params_name_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        CDOParams(**{field: value})
