"""`/v1/results`: the leaderboard comparing backbones across evaluators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import NO_NUL, PlaneDep, PrincipalDep
from api.results_schemas import ResultPage
from api.schemas import ErrorRead
from services.results import MAX_LIMIT

router = APIRouter(prefix="/v1/results", tags=["results"], responses={401: {"model": ErrorRead}})


def _filter(description: str, max_length: int = 200) -> object:
    return Query(max_length=max_length, pattern=NO_NUL, description=description)


@router.get("", responses={422: {"model": ErrorRead}})
def list_results(
    plane: PlaneDep,
    principal: PrincipalDep,
    dataset: Annotated[str | None, _filter("spec.data.dataset (e.g. mvtec) or the data root", 1000)] = None,
    evaluator: Annotated[str | None, _filter("the evaluation method: padim, rd4ad, linear_probe ...")] = None,
    method: Annotated[str | None, _filter("the pretraining method, or imagenet / none / checkpoint")] = None,
    category: Annotated[str | None, _filter("only evaluations of this category, with its metrics")] = None,
    sort: Annotated[str | None, _filter("a metric; default image_auroc (anomaly), top1 (probe)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> ResultPage:
    """One row per succeeded evaluation you can see (backbone x evaluator), best first by `sort`.
    An evaluator or method the registry does not know is a 422 listing the accepted values."""
    page = plane.results.rows(
        principal, dataset=dataset, evaluator=evaluator, method=method, category=category, sort=sort,
        limit=limit,
    )  # fmt: skip
    return ResultPage.of(page, sort, category)
