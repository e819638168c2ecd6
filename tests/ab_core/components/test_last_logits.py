import torch

from ab_core.components.last_logits import LastLogits


def test_last_logits_reports_nothing_before_a_step_then_the_named_top_k_accuracies():
    last = LastLogits()
    assert last.accuracies(top1=1) == {}
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0]], requires_grad=True)
    last.keep(logits, torch.tensor([1, 2]))  # row 0: label 2nd; row 1: label 2nd
    assert last.accuracies(top1=1, top2=2) == {"top1": 0.0, "top2": 1.0}
    assert not last.value[0].requires_grad  # kept detached: no graph held past the step
