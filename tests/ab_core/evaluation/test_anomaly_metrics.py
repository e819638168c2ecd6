import numpy as np
import pytest
from scipy import ndimage

from ab_core.evaluation.metrics import aupro, auroc, f1_max, pro_curve


def test_auroc_counts_the_fraction_of_correctly_ordered_pairs():
    # pairs (defective, good): (0.35 > 0.1) yes, (0.35 > 0.4) no, (0.8 > both) yes yes -> 3 / 4
    assert auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)


def test_auroc_is_none_when_only_one_class_is_present():
    assert auroc(np.zeros(4), np.arange(4.0)) is None
    assert auroc(np.ones(4), np.arange(4.0)) is None


def test_f1_max_picks_the_best_threshold():
    # >= 0.8: P 1/2 R 1/2 F1 .5; >= 0.7: P 2/3 R 1 F1 .8; >= 0.1: P 1/2 R 1 F1 .667
    assert f1_max(np.array([0, 1, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])) == pytest.approx(0.8)


def test_f1_max_is_none_without_positives():
    assert f1_max(np.zeros(3), np.arange(3.0)) is None


def hand_case() -> tuple[np.ndarray, np.ndarray]:
    """3x5 image: region A = two pixels top-left, region B = one pixel bottom-right, 12 normal pixels."""
    mask = np.zeros((1, 3, 5), dtype=np.uint8)
    mask[0, 0, 0] = mask[0, 0, 1] = 1  # region A
    mask[0, 2, 4] = 1  # region B
    scores = np.zeros((1, 3, 5))
    scores[0, 0, 0], scores[0, 0, 1], scores[0, 2, 4] = 0.9, 0.5, 0.2
    scores[0, 1, 2] = 0.7  # one false positive
    return mask, scores


def test_aupro_matches_a_hand_computed_curve():
    # curve (FPR, PRO): (0, .25) at 0.9, (1/12, .25) at 0.7, (1/12, .5) at 0.5, (1/12, 1) at 0.2, (1, 1)
    # area to 0.3 = .25 * 1/12 + 1 * (0.3 - 1/12) = 0.2375; / 0.3
    mask, scores = hand_case()
    assert aupro(mask, scores) == pytest.approx(0.2375 / 0.3)


def test_pro_curve_steps_through_every_threshold_from_the_top():
    fpr, pro = pro_curve(*hand_case())
    np.testing.assert_allclose(fpr, [0, 0, 1 / 12, 1 / 12, 1 / 12, 1])
    np.testing.assert_allclose(pro, [0, 0.25, 0.25, 0.5, 1, 1])


def test_aupro_of_a_perfect_map_is_one_and_never_more():
    mask, _ = hand_case()
    assert aupro(mask, mask.astype(float)) == pytest.approx(1.0)
    assert aupro(mask, mask.astype(float) * 5 + 1) <= 1.0


def test_aupro_of_an_inverted_map_is_zero():
    mask, _ = hand_case()
    assert aupro(mask, 1.0 - mask) == pytest.approx(0.0)


def reference_aupro(masks: np.ndarray, maps: np.ndarray, limit: float = 0.3) -> float:
    """Slow reference: a loop over thresholds and regions, then the trapezoid up to the limit."""
    regions = []
    for mask, anomaly_map in zip(masks, maps, strict=True):
        labelled, count = ndimage.label(mask, structure=np.ones((3, 3)))
        regions += [anomaly_map[labelled == r] for r in range(1, count + 1)]
    normal = maps[masks == 0]
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        points.append(((normal >= t).mean(), np.mean([(r >= t).mean() for r in regions])))
    fpr, pro = np.array(points).T
    grid = np.r_[fpr[fpr <= limit], limit]
    values = np.r_[pro[fpr <= limit], np.interp(limit, fpr, pro)]
    return float(np.sum(np.diff(grid) * (values[1:] + values[:-1]) / 2) / limit)


def test_aupro_agrees_with_a_slow_reference_on_random_maps():
    rng = np.random.default_rng(0)
    masks = np.zeros((3, 16, 16), dtype=np.uint8)
    masks[0, 2:6, 3:7] = 1
    masks[0, 10:12, 10:15] = 1
    masks[2, 5:9, 5:8] = 1  # image 1 is defect-free
    maps = rng.random(masks.shape).round(2) + 0.3 * masks  # rounding makes ties
    assert aupro(masks, maps) == pytest.approx(reference_aupro(masks, maps), abs=1e-9)
