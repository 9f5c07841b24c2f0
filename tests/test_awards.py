"""``iwm_lab.queries.awards``: awards against ratings like for like, most-awarded people,
festival-to-award paths.

Hand-made rows (each test in a transaction that is rolled back) where the naive answer is
wrong: nominated movies of a year whose movies all score high (a comparison with every other
movie mixes the year into the award), a nomination before the festival that selected the
movie, one beyond the window. The tiny demo dataset is checked against pandas.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from inputs import insert
from sqlalchemy import Connection, text

from iwm_lab import operations, rollups
from iwm_lab.queries import awards
from iwm_lab.queries.awards import awards_vs_ratings, festival_paths, most_awarded_people

# title, year, critics score, genre (None: festival movies without a score)
MOVIES = [
    ("A", "2020", 8.0, "drama"),
    ("B", "2020", 8.4, "drama"),
    ("C", "2020", 8.0, "drama"),
    ("D", "2020", 8.2, "drama"),
    ("E", "2010", 4.0, "drama"),  # a low-scoring year, nominated by critics only
    ("F", "2010", 5.0, "drama"),
    ("G", "2020", 6.0, "action"),
    ("H", "2020", 5.0, "action"),
    ("J", "2019", None, None),
    ("K", "2019", None, None),
    ("L", "2019", None, None),
    ("M", "2019", None, None),
]
CEREMONIES = {  # (body, year): date
    ("Academy", 2019): date(2019, 2, 24),
    ("Academy", 2021): date(2021, 4, 25),
    ("Academy", 2023): date(2023, 3, 12),
    ("Critics Circle", 2011): date(2011, 1, 10),
}
CATEGORIES = {  # (body, name): subject
    ("Academy", "Best Picture"): "movie",
    ("Academy", "Best International Feature"): "movie",
    ("Academy", "Best Actor"): "person",
    ("Academy", "Best Director"): "person",
    ("Critics Circle", "Best Film"): "movie",
}
# body, year, category, movie, person, won
NOMINATIONS = [
    ("Academy", 2021, "Best Picture", "A", None, True),
    ("Academy", 2021, "Best Picture", "B", None, False),
    ("Academy", 2021, "Best Picture", "G", None, False),
    ("Critics Circle", 2011, "Best Film", "E", None, False),
    ("Academy", 2021, "Best International Feature", "J", None, True),
    ("Academy", 2021, "Best International Feature", "M", None, False),
    ("Academy", 2019, "Best Actor", "K", "P1", False),  # before K's festival
    ("Academy", 2021, "Best Actor", "A", "P1", True),
    ("Academy", 2023, "Best Actor", None, "P1", False),
    ("Academy", 2021, "Best Director", "A", "P2", True),
    ("Academy", 2023, "Best Director", "L", "P2", True),  # L: beyond a 2-year window
    ("Academy", 2023, "Best Actor", None, "P3", False),
]
EDITIONS = {("Cannes", 2019): date(2019, 5, 14), ("Venice", 2020): date(2020, 9, 2)}
# festival, year, movie, section, prize
SELECTIONS = [
    ("Cannes", 2019, "J", "competition", "Palme d'Or"),
    ("Cannes", 2019, "K", "competition", None),
    ("Cannes", 2019, "L", "sidebar", None),
    ("Cannes", 2019, "M", "sidebar", None),
    ("Venice", 2020, "J", "out-of-competition", None),
]


@pytest.fixture
def data(conn: Connection) -> dict[Any, int]:
    ids: dict[Any, int] = {}
    for slug in ("drama", "action"):
        ids[slug] = insert(conn, "genres", [{"slug": slug, "name": slug.title()}])[0]
    for title, year, score, genre in MOVIES:
        row = {"title": title, "year": year, "critics_score": score}
        ids[title] = insert(conn, "movies", [row], refresh_rollups=False)[0]
        if genre is not None:
            conn.execute(
                text("insert into movie_genres (movie_id, genre_id) values (:m, :g)"),
                {"m": ids[title], "g": ids[genre]},
            )
    operations.refresh_rollups_in(conn, rollups.SOURCES["movies"], concurrently=False)
    for person in ("P1", "P2", "P3"):
        ids[person] = insert(conn, "people", [{"name": f"Person {person}"}])[0]
    kinds = {"Academy": "academy", "Critics Circle": "critics"}
    for body, kind in kinds.items():
        ids[body] = insert(conn, "award_bodies", [{"name": body, "body_type": kind}])[0]
    for (body, year), day in CEREMONIES.items():
        row = {"award_body_id": ids[body], "year": year, "ceremony_date": day}
        ids[body, year] = insert(conn, "award_ceremonies", [row])[0]
    for (body, name), subject in CATEGORIES.items():
        row = {"award_body_id": ids[body], "name": name, "subject": subject}
        ids[body, name] = insert(conn, "award_categories", [row])[0]
    rows = [
        {
            "ceremony_id": ids[body, year],
            "category_id": ids[body, category],
            "movie_id": ids.get(movie),
            "person_id": ids.get(person),
            "won": won,
        }
        for body, year, category, movie, person, won in NOMINATIONS
    ]
    insert(conn, "award_nominations", rows)
    for festival in ("Cannes", "Venice"):
        ids[festival] = insert(conn, "festivals", [{"name": festival}])[0]
    for (festival, year), day in EDITIONS.items():
        row = {"festival_id": ids[festival], "year": year, "starts_on": day, "ends_on": day}
        ids[festival, year] = insert(conn, "festival_editions", [row])[0]
    rows = [
        {"edition_id": ids[f, y], "movie_id": ids[m], "section": section, "prize": prize}
        for f, y, m, section, prize in SELECTIONS
    ]
    insert(conn, "festival_selections", rows)
    return ids


def test_nominated_movies_against_their_own_year_and_genre(
    conn: Connection, data: dict[Any, int]
) -> None:
    result = awards_vs_ratings(conn, source="critics", body_type="academy")
    assert list(result.columns) == list(awards.VERSUS_COLUMNS)
    nominated, won = (row for _, row in result.iterrows())
    # 2020 drama: A, B (8.0, 8.4) vs C, D (8.0, 8.2); 2020 action: G (6) vs H (5). The 2010
    # movies have no nominee of the academy: their stratum is left out.
    assert (nominated["strata"], nominated["movies"], nominated["versus_movies"]) == (2, 3, 3)
    assert nominated["mean_score"] == pytest.approx((8.0 + 8.4 + 6.0) / 3)
    assert nominated["versus_mean"] == pytest.approx((2 * 8.1 + 5.0) / 3)
    assert nominated["difference"] == pytest.approx(0.4)
    # Naively against every other movie, 2010's low scores included: 7.47 - 6.04.
    assert nominated["naive_difference"] == pytest.approx(7.4 + 0.2 / 3 - 30.2 / 5)
    half = 1.959964 * math.sqrt((2 / 3) ** 2 * (0.08 / 2 + 0.02 / 2))
    assert nominated["ci_high"] - nominated["difference"] == pytest.approx(half)
    # Among the 2020 dramas nominated, the winner (A, 8.0) scores below the loser (B, 8.4);
    # naively, against every loser (B and the action movie G), it scores above.
    assert (won["strata"], won["movies"], won["versus_movies"]) == (1, 1, 1)
    assert won["difference"] == pytest.approx(-0.4)
    assert won["naive_difference"] == pytest.approx(8.0 - (8.4 + 6.0) / 2)
    # Every body: the critics' nominee E makes 2010 a stratum too.
    every = awards_vs_ratings(conn, source="critics").iloc[0]
    assert every["strata"] == 3 and every["movies"] == 4


def test_no_comparable_movies_gives_no_row(conn: Connection, data: dict[Any, int]) -> None:
    assert awards_vs_ratings(conn, source="critics", year_from=2011, year_to=2019).empty
    assert awards_vs_ratings(conn, source="users").empty  # no reviews: no users' score


def test_most_awarded_people_rank_wins_then_nominations(
    conn: Connection, data: dict[Any, int]
) -> None:
    people = most_awarded_people(conn)
    assert list(people["name"]) == ["Person P2", "Person P1", "Person P3"]
    p1 = people.set_index("name").loc["Person P1"]
    assert (p1["nominations"], p1["wins"], p1["first_year"], p1["last_year"]) == (3, 1, 2019, 2023)
    assert p1["win_rate"] == pytest.approx(1 / 3)
    assert list(most_awarded_people(conn, year_to=2021)["name"]) == ["Person P1", "Person P2"]
    assert most_awarded_people(conn, body_type="critics").empty


def test_festival_paths_count_only_later_nominations(
    conn: Connection, data: dict[Any, int]
) -> None:
    paths = festival_paths(conn).set_index("selection")
    assert list(paths.index) == ["prize", "competition", "other sections"]
    assert paths.loc["prize", ["selections", "nominated", "won"]].tolist() == [1, 1, 1]
    # K was nominated in February, before Cannes selected it in May: not a path.
    assert paths.loc["competition", ["selections", "nominated", "won"]].tolist() == [1, 0, 0]
    # L (Cannes sidebar), M (Cannes sidebar), J (Venice, out of competition): L's nomination
    # came four years later, beyond the window; J's came after Venice; M's too.
    assert paths.loc["other sections", ["selections", "nominated", "won"]].tolist() == [3, 2, 1]
    assert paths.loc["other sections", "nomination_rate"] == pytest.approx(2 / 3)
    low, high = paths.loc["other sections", ["nomination_ci_low", "nomination_ci_high"]]
    assert 0 < low < 2 / 3 < high < 1
    longer = festival_paths(conn, window_years=4).set_index("selection")
    assert longer.loc["other sections", "nominated"] == 3
    per_festival = festival_paths(conn, by_festival=True)
    assert list(zip(per_festival["festival"], per_festival["selection"], strict=True)) == [
        ("Cannes", "prize"),
        ("Cannes", "competition"),
        ("Cannes", "other sections"),
        ("Venice", "other sections"),
    ]


def test_wilson_interval_matches_the_formula() -> None:
    from iwm_lab.queries._intervals import wilson

    rate, low, high = wilson(pd.Series([0, 5, 3]), pd.Series([10, 10, 0]))
    z = 1.959964
    n, p = 10, 0.5
    centre, half = (
        (p + z * z / 20) / (1 + z * z / n),
        z * math.sqrt(p * (1 - p) / n + z * z / 400) / (1 + z * z / n),
    )
    assert low[1] == pytest.approx(centre - half) and high[1] == pytest.approx(centre + half)
    assert low[0] == pytest.approx(0.0) and high[0] > 0  # 0 of 10 is not certainly 0
    assert np.isnan(rate[2]) and np.isnan(low[2])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: awards_vs_ratings(c, source="oscars"), "unknown source 'oscars'"),
        (lambda c: awards_vs_ratings(c, body_type="guilds"), "unknown body_type 'guilds'"),
        (lambda c: awards_vs_ratings(c, min_reviews=0), "min_reviews must be a whole number"),
        (lambda c: most_awarded_people(c, limit=0), "limit must be a whole number"),
        (lambda c: most_awarded_people(c, year_from=1800), "year_from must be a year"),
        (lambda c: festival_paths(c, window_years=21), "window_years must be a whole number"),
        (lambda c: festival_paths(c, by_festival="yes"), "by_festival must be True or False"),
    ],
)
def test_validation_errors(conn: Connection, call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        call(conn)
    assert "\n" not in str(refused.value)


# --- the tiny demo dataset against pandas --------------------------------------------------


def _tiny(tiny: Connection, sql: str) -> pd.DataFrame:
    return pd.read_sql(text(sql), tiny)


def test_tiny_awards_vs_ratings_match_pandas(tiny: Connection) -> None:
    nominations = _tiny(tiny, "select movie_id, won from award_nominations")
    if nominations.empty:
        pytest.skip("the tiny dataset has no awards yet")
    movies = _tiny(
        tiny,
        "select m.id, m.year, m.critics_score as score, "
        "(select min(genre_id) from movie_genres g where g.movie_id = m.id) as genre "
        "from movies m",
    )
    movies = movies[movies["year"].fillna("").str.fullmatch(r"\d{4}") & movies["score"].notna()]
    movies = movies.assign(genre=movies["genre"].fillna(0))
    per_movie = nominations.dropna(subset=["movie_id"]).groupby("movie_id")["won"].any()
    movies["nominated"] = movies["id"].isin(per_movie.index)
    movies["won"] = movies["id"].map(per_movie).fillna(False).astype(bool)
    got = awards_vs_ratings(tiny, source="critics").set_index("comparison")
    for comparison, rows, flag in (
        ("nominated", movies, "nominated"),
        ("won", movies[movies["nominated"]], "won"),
    ):
        cells = rows.groupby(["year", "genre", flag])["score"].agg(["size", "mean"]).unstack()
        both = pd.MultiIndex.from_product([["size", "mean"], [False, True]])
        cells = cells.reindex(columns=both).dropna()
        if cells.empty:
            assert comparison not in got.index
            continue
        weights = cells[("size", True)] / cells[("size", True)].sum()
        expected = (weights * (cells[("mean", True)] - cells[("mean", False)])).sum()
        assert got.loc[comparison, "difference"] == pytest.approx(expected)
        assert got.loc[comparison, "movies"] == cells[("size", True)].sum()


def test_tiny_people_and_paths_match_pandas(tiny: Connection) -> None:
    nominations = _tiny(
        tiny,
        "select n.person_id, n.won, n.movie_id, c.year, "
        "coalesce(c.ceremony_date, make_date(c.year, 12, 31)) as held "
        "from award_nominations n join award_ceremonies c on c.id = n.ceremony_id",
    )
    if nominations.empty:
        pytest.skip("the tiny dataset has no awards yet")
    people = nominations.dropna(subset=["person_id"]).groupby("person_id")["won"]
    counts = pd.DataFrame({"nominations": people.size(), "wins": people.sum()})
    counts = counts.reset_index().sort_values(
        ["wins", "nominations", "person_id"], ascending=[False, False, True]
    )
    got = most_awarded_people(tiny, limit=50)
    assert list(got["person_id"]) == [int(p) for p in counts["person_id"].head(50)]
    selections = _tiny(
        tiny,
        "select s.id, s.movie_id, e.starts_on from festival_selections s "
        "join festival_editions e on e.id = s.edition_id",
    )
    paths = festival_paths(tiny, window_years=2)
    assert paths["selections"].sum() == len(selections)
    merged = selections.merge(nominations.dropna(subset=["movie_id"]), on="movie_id")
    starts = pd.to_datetime(merged["starts_on"])
    held = pd.to_datetime(merged["held"])
    later = merged[(held > starts) & (held <= starts + pd.DateOffset(years=2))]
    # Each selection counts once, however many of its movie's nominations follow it.
    nominated = later.drop_duplicates(["id"])
    assert paths["nominated"].sum() == len(nominated)


# --- charts ---------------------------------------------------------------------------------


def test_charts_draw_the_results(conn: Connection, data: dict[Any, int]) -> None:
    from iwm_lab import charts

    versus = charts.awards_ratings_chart(awards_vs_ratings(conn, body_type="academy"))
    assert [trace.name for trace in versus.data] == ["Points out of 10", "Naive (all movies)"]
    assert list(versus.data[0].y) == ["nominated vs not nominated", "won vs nominated, did not win"]
    people = charts.awarded_people_chart(most_awarded_people(conn))
    assert list(people.data[0].x) == [2, 1, 0]  # wins, then the nominations not won
    paths = charts.festival_paths_chart(festival_paths(conn, by_festival=True))
    assert paths.data[0].x[0] == "Cannes: prize"
    for figure in (
        charts.awards_ratings_chart(awards_vs_ratings(conn, year_from=2011, year_to=2019)),
        charts.awarded_people_chart(most_awarded_people(conn, body_type="critics")),
        charts.festival_paths_chart(festival_paths(conn, year_from=2030)),
    ):
        assert len(figure.data) == 0 and figure.layout.annotations[0].text == charts.NO_DATA


# --- findings -------------------------------------------------------------------------------


def test_findings_state_the_like_for_like_gap_and_its_sample(
    conn: Connection, data: dict[Any, int]
) -> None:
    from iwm_lab.findings import awards as findings

    nominated, won = findings.versus(awards_vs_ratings(conn, body_type="academy"))
    assert nominated.startswith(
        "Nominated movies have a critics score 0.40 points out of 10 higher than movies not "
        "nominated of the same year and genre (95% interval +0.11 to +0.69; 3 movies against 3, "
        "in 2 year-and-genre groups)"
    )
    assert nominated.endswith("compared with every movie, the gap would read +1.43.")
    assert won.startswith("Movies that won have a critics score 0.40 points out of 10 lower")
    assert findings.people(most_awarded_people(conn)) == [
        "Person P2 leads with 2 wins from 2 nominations (2021 to 2023, 1 award body)."
    ]
    assert findings.paths(festival_paths(conn), window_years=2) == [
        "Within 2 years of the festival, later nominations came to 100.0% of 1 selection "
        "(prize); 0.0% of 1 selection (competition); 66.7% of 3 selections (other sections)."
    ]
    assert findings.versus(awards_vs_ratings(conn, year_from=2011, year_to=2019))[0].startswith(
        "No year and genre holds both"
    )
