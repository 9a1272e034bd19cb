"""A Paginator that takes its total from a count of its own, not from COUNT(*) over the page's
queryset: a cheaper query can count the same rows (see incident_count_support_queue)."""

from collections.abc import Callable
from typing import Any

from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CountedPaginator(Paginator):
    def __init__(
        self, object_list: Any, per_page: int, *, count: Callable[[], int] | None = None, **kw: Any
    ) -> None:
        super().__init__(object_list, per_page, **kw)
        self._count = count

    @cached_property
    def count(self) -> int:
        return self._count() if self._count is not None else super().count
