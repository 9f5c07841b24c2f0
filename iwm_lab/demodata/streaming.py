"""Rows of ``streaming_platforms`` and ``movie_streaming_options``: where each movie can be
watched, by region, with the platform's offer types, prices in local currency and quality.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from iwm_lab.demodata import vocab
from iwm_lab.demodata.catalog import IMAGES, MOVIE_CHUNK, chunks
from iwm_lab.demodata.copytext import CopyRows, Take, int_text, pool
from iwm_lab.demodata.world import RELEASED, Distribution, World, rng_for, sample
from iwm_lab.models.values import STREAMING_OPTION_TYPES, STREAMING_QUALITIES

# How often each offer type appears on a platform that has it.
_TYPE_WEIGHT = {"subscription": 1.0, "rent": 0.6, "buy": 0.45, "free": 0.7}


def platforms(world: World) -> Iterator[CopyRows]:
    n = len(vocab.PLATFORMS)
    rows = CopyRows(n)
    rows.ints("id", np.arange(1, n + 1))
    slugs = [name.lower().replace(" ", "-").replace("+", "-plus") for name, *_ in vocab.PLATFORMS]
    rows.text("external_id", pool(slugs))
    rows.text("name", pool([p[0] for p in vocab.PLATFORMS]))
    rows.text("logo_url", pool([f"{IMAGES}/logos/{slug}.svg" for slug in slugs]))
    rows.text("website_url", pool([f"https://www.{p[1]}" for p in vocab.PLATFORMS]))
    yield rows


def _offers() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (platform index, region index, type index) a platform offers, and its weight."""
    platform, region, kind, weight = [], [], [], []
    for p, (_, _, types, regions, catalogue, _) in enumerate(vocab.PLATFORMS):
        for r in regions:
            for t in types:
                platform.append(p)
                region.append(vocab.REGIONS.index(r))
                kind.append(STREAMING_OPTION_TYPES.index(t))
                weight.append(catalogue * _TYPE_WEIGHT[t])
    return np.array(platform), np.array(region), np.array(kind), np.array(weight)


def movie_streaming_options(world: World) -> Iterator[CopyRows]:
    """Offers of released movies. Popular ones are everywhere; obscure ones on a platform
    or two, mostly in their home region; some regions simply lack a platform."""
    platform, region, kind, weight = _offers()
    home_of_language = np.array([vocab.REGIONS.index(lang[3]) for lang in vocab.LANGUAGES])
    # One offer distribution per home region: offers there are 4x likelier, the US 2x.
    dists = [
        Distribution(weight * np.where(region == home, 4.0, 1.0) * np.where(region == 0, 2.0, 1.0))
        for home in range(len(vocab.REGIONS))
    ]
    price_pool = pool([price for r in vocab.REGIONS for price in vocab.PRICES[r]] + ["free"])
    url_heads = pool([f"https://www.{p[1]}/watch/" for p in vocab.PLATFORMS])
    url_tails = pool([f"?region={r}" for r in vocab.REGIONS])
    four_k_share = np.array([p[5] for p in vocab.PLATFORMS])
    buy, free = STREAMING_OPTION_TYPES.index("buy"), STREAMING_OPTION_TYPES.index("free")
    subscription = STREAMING_OPTION_TYPES.index("subscription")
    next_id = 1
    # Mean offers per released movie, so that the scale's per-movie figure holds overall.
    released_share = max(float(np.mean(world.movie_status == RELEASED)), 1e-9)
    for number, idx in chunks(world.scale.movies, MOVIE_CHUNK):
        rng = rng_for(world.seed, "streaming-options", number)
        rel = world.movie_popularity[idx] * world.scale.movies
        reach = np.minimum(rel, 40) ** 0.45
        lam = world.scale.options_per_movie / released_share * reach / 1.05
        count = np.where(world.movie_status[idx] == RELEASED, rng.poisson(lam), 0)
        home = home_of_language[world.movie_lang[idx]]
        movie_parts, offer_parts = [], []
        for h in np.unique(home):
            members = idx[home == h]
            c = count[home == h]
            movie_parts.append(np.repeat(members, c))
            offer_parts.append(sample(dists[h], rng, int(c.sum())))
        movie = np.concatenate(movie_parts)
        offer = np.concatenate(offer_parts)
        # One offer per (movie, platform, region, type); ordered by movie.
        _, first = np.unique(movie * len(weight) + offer, return_index=True)
        movie, offer = movie[first], offer[first]
        k = len(movie)
        p, r, t = platform[offer], region[offer], kind[offer]
        year = world.movie_year[movie]
        quality = np.where(
            (year >= 2014) & (rng.random(k) < four_k_share[p]),
            2,
            np.where(rng.random(k) < np.where(year < 1990, 0.5, 0.15), 0, 1),
        )
        # Rentals take one of a region's four cheaper prices, purchases one of the dearer four.
        tier = np.where(t == buy, 4, 0) + rng.integers(0, 4, k)
        price = np.where(t == free, len(price_pool) - 1, r * 8 + tier)
        rows = CopyRows(k)
        rows.ints("id", np.arange(next_id, next_id + k))
        rows.code("external_id", "so", np.arange(next_id, next_id + k), 9)
        rows.ints("movie_id", movie + 1)
        rows.ints("platform_id", p + 1)
        rows.text("region", Take(pool(vocab.REGIONS), r))
        rows.text("type", Take(pool(STREAMING_OPTION_TYPES), t))
        rows.text("price", Take(price_pool, price), null=t == subscription)
        rows.text("quality", Take(pool(STREAMING_QUALITIES), quality), null=rng.random(k) < 0.05)
        rows.text("url", Take(url_heads, p), int_text(movie + 1), Take(url_tails, r))
        rows.bools("verified", rng.random(k) < 0.65)
        next_id += k
        yield rows
