"""Rate limits: the token bucket's arithmetic on an injected clock, the 429 the API answers with
its Retry-After, and the per-user limit within a channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.channels import DEFAULT_CHANNEL, Channels, RateLimit, load_channels
from core.errors import ApiError, ConfigurationError
from persistence.rate_buckets import LocalBuckets
from producers.client import Client
from tests.unit.test_api_access import api

TWO_PER_MINUTE = RateLimit(per_minute=2, burst=2)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_refill_rate_holds():
    clock = Clock()
    buckets = LocalBuckets(clock)
    assert [buckets.take("k", TWO_PER_MINUTE).allowed for _ in range(3)] == [True, True, False]
    refused = buckets.take("k", TWO_PER_MINUTE)
    assert refused.retry_after_s == pytest.approx(30.0)  # one token every 30 s
    clock.now += 29.9
    assert not buckets.take("k", TWO_PER_MINUTE).allowed
    clock.now += 0.2
    assert buckets.take("k", TWO_PER_MINUTE).allowed
    assert buckets.take("other", TWO_PER_MINUTE).allowed  # buckets are per key


def test_an_idle_bucket_refills_to_its_burst_and_no_further():
    clock = Clock()
    buckets = LocalBuckets(clock)
    for _ in range(2):
        buckets.take("k", TWO_PER_MINUTE)
    clock.now += 3600
    assert [buckets.take("k", TWO_PER_MINUTE).allowed for _ in range(3)] == [True, True, False]


def test_the_least_recently_used_buckets_go_when_there_are_too_many():
    buckets = LocalBuckets(Clock(), max_buckets=2)
    for key in ("a", "b", "c"):
        buckets.take(key, TWO_PER_MINUTE)
    assert len(buckets._state) == 2 and "a" not in buckets._state


def _channels_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_over_the_key_limit_the_api_answers_429_with_retry_after(tmp_path: Path):
    path = _channels_file(tmp_path, "channels:\n  shop: {per_key: {per_minute: 2, burst: 2}}\n")
    with api(tmp_path, channels_file=str(path)) as (http, keys):
        shop = Client(http=http, api_key=keys["shop"])
        shop.send("Where is my parcel?")
        shop.send("Where is my parcel now?")
        with pytest.raises(ApiError) as limited:
            shop.send("And now?")
        assert limited.value.status == 429 and 25 <= (limited.value.retry_after_s or 0) <= 30
        Client(http=http, api_key=keys["bank"]).send("Where is my money?")  # the "*" limits: plenty


def test_one_user_of_a_channel_is_limited_apart_from_the_others(tmp_path: Path):
    path = _channels_file(tmp_path, 'channels:\n  "*": {per_user: {per_second: 0.1, burst: 1}}\n')
    with api(tmp_path, channels_file=str(path)) as (http, keys):
        shop = Client(http=http, api_key=keys["shop"])
        shop.send("Where is my parcel?", user_ref="ana")
        with pytest.raises(ApiError) as limited:
            shop.send("Where is it?", user_ref="ana")
        assert limited.value.status == 429 and 8 <= (limited.value.retry_after_s or 0) <= 10
        shop.send("Where is my parcel?", user_ref="ben")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("channels:\n  shop: {per_key: {burst: 2}}\n", "exactly one of per_second and per_minute"),
        ("channels:\n  shop: {per_key: {per_second: 0, burst: 2}}\n", "greater than 0"),
        ("channels:\n  'bad name': {}\n", "channel name"),
        ("channels:\n  shop: {colour: red}\n", "colour"),
        ("channels: [", "cannot read"),
    ],
)
def test_a_bad_channels_file_is_refused_at_start_up(tmp_path: Path, text: str, fragment: str):
    with pytest.raises(ConfigurationError, match=fragment):
        load_channels(_channels_file(tmp_path, text))


def test_without_a_file_every_channel_gets_the_shipped_limits():
    channel = Channels().get("anything")
    assert channel.per_key is not None and channel.per_user is not None
    assert channel.webhook is None and channel.delivery is None


def test_an_entry_that_names_only_its_webhook_takes_every_limit_of_the_star_entry(tmp_path: Path):
    """The README's `shop:` example: its webhook alone. Expect the "*" limits it leaves unset,
    and the shipped ones for whatever "*" leaves unset too."""
    path = _channels_file(
        tmp_path,
        'channels:\n  "*": {per_user: {per_minute: 6, burst: 2}}\n'
        "  shop: {webhook: {kind: generic, secret_env: SHOP_SECRET}}\n",
    )
    shop = load_channels(path).get("shop")
    assert shop.webhook is not None and shop.per_user == RateLimit(per_minute=6, burst=2)
    assert shop.per_key == DEFAULT_CHANNEL.per_key and shop.reads == DEFAULT_CHANNEL.reads
    assert Channels().get("shop") == DEFAULT_CHANNEL  # no file: the shipped limits


def test_posts_without_user_ref_are_limited_as_one_user_of_their_key(tmp_path: Path):
    """Shipped limits: a person's burst of 5. Leaving `user_ref` out does not escape it."""
    with api(tmp_path) as (http, keys):
        shop = Client(http=http, api_key=keys["shop"])
        for number in range(5):
            shop.send(f"Where is parcel {number}?")
        with pytest.raises(ApiError) as limited:
            shop.send("Where is parcel 6?")
        assert limited.value.status == 429 and "without user_ref" in limited.value.detail
        shop.send("Where is parcel 6?", user_ref="ana")  # a named user has a bucket of their own


def test_reads_are_limited_per_key(tmp_path: Path):
    path = _channels_file(tmp_path, 'channels:\n  "*": {reads: {per_minute: 1, burst: 3}}\n')
    with api(tmp_path, channels_file=str(path)) as (http, keys):
        shop = Client(http=http, api_key=keys["shop"])
        job = shop.send("Where is my parcel?")
        for _ in range(3):
            shop.job(job.job_id)
        with pytest.raises(ApiError) as limited:
            shop.conversation(job.conversation_id)
        assert limited.value.status == 429 and (limited.value.retry_after_s or 0) > 50
        events = http.get(
            f"/v1/jobs/{job.job_id}/events", headers={"Authorization": f"Bearer {keys['shop']}"}
        )
        assert events.status_code == 429


def test_one_channels_users_are_not_anothers_whose_name_holds_a_colon(tmp_path: Path):
    """Given channels "shop:eu" and "shop", expect "shop:eu"'s user "ana" and "shop"'s user
    "eu:ana" to be two users with two buckets."""
    from persistence import api_keys
    from tests.unit.test_api_access import _factory

    path = _channels_file(tmp_path, 'channels:\n  "*": {per_user: {per_minute: 1, burst: 1}}\n')
    with api(tmp_path, channels_file=str(path)) as (http, _keys):
        factory = _factory(tmp_path)
        eu = Client(http=http, api_key=api_keys.create(factory, "shop:eu"))
        shop = Client(http=http, api_key=api_keys.create(factory, "shop"))
        shop.send("Where is my parcel?", user_ref="eu:ana")
        eu.send("Where is my parcel?", user_ref="ana")  # not limited by the other channel's user


def test_a_key_cannot_post_as_a_visitor_session(tmp_path: Path):
    with api(tmp_path) as (http, keys):
        with pytest.raises(ApiError) as refused:
            Client(http=http, api_key=keys["shop"]).send("Hi", user_ref="visitor:0123abcd")
        assert refused.value.status == 403
