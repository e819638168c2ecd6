import math

import pytest
import torch

from ab_core.losses.cdo import CDOLoss, discrepancy_map, resize_mask


def unit_vectors(angles: list[float]) -> torch.Tensor:
    """(1, 2, 1, P): one 2-channel feature per position, at the given angles."""
    a = torch.tensor(angles)
    return torch.stack([a.cos(), a.sin()]).view(1, 2, 1, len(angles))


ANGLES = [0.3, 0.8, 1.2, 2.0]  # student angles; the teacher points along angle 0 everywhere
MASK = torch.tensor([0, 0, 0, 1], dtype=torch.uint8).view(1, 1, 1, 4)  # the last position is a defect


def hand_discrepancies() -> list[float]:
    return [2 - 2 * math.cos(a) for a in ANGLES]  # ||t - s||^2 of unit vectors


def test_discrepancy_is_squared_distance_of_normalised_features_and_cosine_is_half_of_it():
    teacher, student = unit_vectors([0.0] * 4) * 5, unit_vectors(ANGLES) * 0.1
    d = discrepancy_map(teacher, student)
    assert d.flatten().tolist() == pytest.approx(hand_discrepancies(), abs=1e-6)
    assert torch.allclose(discrepancy_map(teacher, student, "cosine"), d / 2, atol=1e-6)


def test_cdo_without_oom_is_mean_normal_minus_defect_discrepancy_over_all_positions():
    *normal, defect = hand_discrepancies()
    terms = CDOLoss(oom=False)([unit_vectors([0.0] * 4)], [unit_vectors(ANGLES)], MASK)
    assert terms.loss.item() == pytest.approx((sum(normal) - defect) / 4, abs=1e-6)
    assert terms.normal_d.item() == pytest.approx(sum(normal) / 3, abs=1e-6)
    assert terms.defect_d.item() == pytest.approx(defect, abs=1e-6)


def test_cdo_oom_weighs_normal_positions_by_their_discrepancy_over_the_mean_to_the_gamma():
    *normal, defect = hand_discrepancies()
    mean = sum(normal) / 3
    gamma = 2.0
    weights = [(d / mean) ** gamma for d in normal]
    defect_weight = 1.0  # a lone defect is its own mean
    expected = (sum(w * d for w, d in zip(weights, normal, strict=True)) - defect_weight * defect) / (
        sum(weights) + defect_weight
    )
    terms = CDOLoss(gamma=gamma)([unit_vectors([0.0] * 4)], [unit_vectors(ANGLES)], MASK)
    assert terms.loss.item() == pytest.approx(expected, abs=1e-6)


def test_cdo_oom_weighs_defects_that_look_normal_more():
    teacher = unit_vectors([0.0] * 4)
    mask = torch.tensor([0, 0, 1, 1], dtype=torch.uint8).view(1, 1, 1, 4)
    student = unit_vectors([0.5, 0.5, 0.2, 2.0]).requires_grad_()  # defect 2 is close to the teacher
    CDOLoss(gamma=2.0)([teacher], [student], mask).loss.backward()
    pull_close, pull_far = student.grad[0, :, 0, 2].norm(), student.grad[0, :, 0, 3].norm()
    assert pull_close > pull_far


def test_cdo_gamma_zero_equals_oom_off():
    torch.manual_seed(0)
    teacher = [torch.randn(2, 8, 8, 8), torch.randn(2, 16, 4, 4)]
    student = [torch.randn(2, 8, 8, 8), torch.randn(2, 16, 4, 4)]
    mask = (torch.rand(2, 1, 32, 32) > 0.7).to(torch.uint8)
    off = CDOLoss(gamma=3.0, oom=False)(teacher, student, mask)
    zero = CDOLoss(gamma=0.0, oom=True)(teacher, student, mask)
    assert torch.equal(off.loss, zero.loss)


def test_cdo_step_lowers_normal_discrepancy_and_raises_defect_discrepancy():
    torch.manual_seed(0)
    teacher = [torch.randn(2, 8, 8, 8)]
    student = [torch.randn(2, 8, 8, 8, requires_grad=True)]
    mask = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    mask[:, :, 2:5, 2:5] = 1
    loss = CDOLoss(gamma=2.0)
    before = loss(teacher, student, mask)
    before.loss.backward()
    stepped = [(student[0] - 0.5 * student[0].grad).detach()]
    after = loss(teacher, stepped, mask)
    assert after.normal_d < before.normal_d
    assert after.defect_d > before.defect_d


def test_cdo_is_bounded_and_finite_for_extreme_gamma_and_identical_features():
    torch.manual_seed(0)
    features = [torch.randn(2, 8, 8, 8)]
    mask = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    mask[0, :, :4] = 1
    same = CDOLoss(gamma=10.0)(features, [features[0].clone()], mask)
    assert same.loss.item() == pytest.approx(0.0, abs=1e-6)
    far = CDOLoss(gamma=10.0)(features, [-features[0]], mask)  # every defect at the maximum d = 4
    assert torch.isfinite(far.loss) and -4.0 - 1e-5 <= far.loss.item() <= 4.0


def test_cdo_without_mask_pulls_student_to_teacher_and_reports_no_defect_discrepancy():
    torch.manual_seed(0)
    teacher, student = [torch.randn(2, 8, 4, 4)], [torch.randn(2, 8, 4, 4)]
    terms = CDOLoss(oom=False)(teacher, student, None)
    assert terms.defect_d is None
    assert terms.loss.item() == pytest.approx(discrepancy_map(teacher[0], student[0]).mean().item(), abs=1e-6)


def test_cdo_upsamples_smaller_layers_to_the_first_layer_and_sums_layers():
    torch.manual_seed(0)
    big_t, big_s = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    small_t, small_s = torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4)
    loss = CDOLoss(oom=False)
    both = loss([big_t, small_t], [big_s, small_s], None).loss
    alone = loss([big_t], [big_s], None).loss + loss([small_t], [small_s], None).loss
    # bilinear upsampling (align_corners False) of a map keeps its mean only approximately; the sum holds
    assert both.item() == pytest.approx(alone.item(), rel=0.05)


def test_resize_mask_marks_a_position_defective_when_half_its_cell_is():
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    mask[0, 0, 0, :2] = 1  # top-left 2x2 cell: half defect
    mask[0, 0, 2, 2] = 1  # bottom-right cell: a quarter
    assert resize_mask(mask, (2, 2)).tolist() == [[[True, False], [False, False]]]
