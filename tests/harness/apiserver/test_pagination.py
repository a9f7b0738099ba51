"""Pagination on its own: pages, tokens, and snapshots that expire."""

from __future__ import annotations

import pytest

from harness.apiserver.pagination import SNAPSHOT_LIMIT, Item, ListScope, Paginator
from harness.apiserver.status import ApiError
from harness.apiserver.store import Entry

PODS = ListScope("pods", None)


def _items(count: int) -> list[Item]:
    return [("ns", f"o-{i:03d}", Entry(b"{}", i, {}, {})) for i in range(count)]


def _walk(paginator: Paginator, items: list[Item], limit: int) -> list[list[str]]:
    page = paginator.first_page(PODS, 7, items, limit)
    pages = [[name for _, name, _ in page.items]]
    while page.continue_token:
        page = paginator.next_page(PODS, page.continue_token, limit)
        pages.append([name for _, name, _ in page.items])
        assert page.revision == 7
    return pages


def test_pages_cover_every_item_once_in_order() -> None:
    pages = _walk(Paginator(ttl=60), _items(10), 4)

    assert [len(page) for page in pages] == [4, 4, 2]
    assert [name for page in pages for name in page] == [
        f"o-{i:03d}" for i in range(10)
    ]


def test_a_list_that_fits_in_one_page_has_no_continue_token() -> None:
    page = Paginator(ttl=60).first_page(PODS, 3, _items(4), 4)

    assert (page.continue_token, page.remaining) == ("", None)


def test_the_remaining_count_counts_what_later_pages_hold() -> None:
    page = Paginator(ttl=60).first_page(PODS, 3, _items(10), 3)

    assert page.remaining == 7


def test_a_token_from_an_evicted_snapshot_is_410_gone() -> None:
    paginator = Paginator(ttl=60)
    first = paginator.first_page(PODS, 1, _items(5), 2)
    for _ in range(SNAPSHOT_LIMIT):
        paginator.first_page(PODS, 1, _items(5), 2)

    with pytest.raises(ApiError) as caught:
        paginator.next_page(PODS, first.continue_token, 2)

    assert (caught.value.code, caught.value.reason) == (410, "Expired")


def test_a_token_past_its_time_to_live_is_410_gone() -> None:
    paginator = Paginator(ttl=0.0)
    first = paginator.first_page(PODS, 1, _items(5), 2)

    with pytest.raises(ApiError) as caught:
        paginator.next_page(PODS, first.continue_token, 2)

    assert caught.value.code == 410


def test_a_token_this_server_never_gave_is_400() -> None:
    with pytest.raises(ApiError) as caught:
        Paginator(ttl=60).next_page(PODS, "bm90LWEtdG9rZW4=", 2)

    assert caught.value.code == 400
    assert "bm90LWEtdG9rZW4=" in caught.value.message


@pytest.mark.parametrize(
    ("scope", "says"),
    [
        (ListScope("configmaps", None), "not of configmaps in all namespaces"),
        (ListScope("pods", "ns"), "not of pods in namespace ns"),
        (ListScope("pods", None, "app=web"), "with labelSelector 'app=web'"),
        (ListScope("pods", None, "", "spec.nodeName=n"), "fieldSelector"),
    ],
)
def test_a_token_sent_with_another_list_is_400_saying_which_it_continues(
    scope: ListScope, says: str
) -> None:
    paginator = Paginator(ttl=60)
    first = paginator.first_page(PODS, 1, _items(5), 2)

    with pytest.raises(ApiError) as caught:
        paginator.next_page(scope, first.continue_token, 2)

    assert caught.value.code == 400
    assert "it continues a list of pods in all namespaces" in caught.value.message
    assert says in caught.value.message
    assert paginator.next_page(PODS, first.continue_token, 2).items
