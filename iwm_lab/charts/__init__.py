"""Plotly figures of query results: a DataFrame in, a figure out. Charts never query.

Each builder takes the frame a query function returns (its documented columns) and gives a
``plotly.graph_objects.Figure`` in the house style (:data:`TEMPLATE`). A frame with nothing
to plot gives :func:`empty_figure`: the chart's title over a centred "No data" note, so a
filter that matches nothing still reads as such rather than as a broken chart.

>>> from iwm_lab import charts
>>> from iwm_lab.queries import ratings
>>> charts.top_rated_chart(ratings.top_rated(conn, min_reviews=20)).show()

The generic :func:`bar_chart` and :func:`line_chart` serve frames of any shape; the named
builders know a query's columns, labels and scales. Figures carry their own small template,
not plotly's default one, so a notebook that stores them stays small and its outputs do not
change with plotly's defaults.

Static images (``fig.write_image``, :func:`save_image`, :func:`save_images`) are drawn by a
local Chrome or Chromium, never downloaded; see :mod:`iwm_lab.charts.export`.
"""

from iwm_lab.charts._base import (
    HIGHLIGHT,
    MUTED,
    NO_DATA,
    PALETTE,
    SOURCE_LABELS,
    TEMPLATE,
    bar_chart,
    empty_figure,
    line_chart,
)
from iwm_lab.charts.awards import (
    awarded_people_chart,
    awards_ratings_chart,
    festival_paths_chart,
)
from iwm_lab.charts.box_office import (
    budget_multiple_chart,
    legs_chart,
    regional_split_chart,
    weekend_race_chart,
)
from iwm_lab.charts.export import (
    browser_path,
    check_browser_before_export,
    save_image,
    save_images,
)
from iwm_lab.charts.overview import (
    hash_audit_chart,
    null_shares_chart,
    row_counts_chart,
)
from iwm_lab.charts.platform_health import (
    moderation_queue_chart,
    quiz_difficulty_chart,
    quiz_engagement_chart,
    time_to_action_chart,
)
from iwm_lab.charts.ratings import (
    agreement_chart,
    genre_ratings_chart,
    ratings_over_time_chart,
    review_volume_chart,
    score_gap_chart,
    score_histogram,
    top_rated_chart,
)
from iwm_lab.charts.streaming import (
    coverage_chart,
    offer_mix_chart,
    platform_share_chart,
)
from iwm_lab.charts.trending import (
    hashtag_chart,
    hashtag_timeseries_chart,
    new_tags_chart,
    rising_tags_chart,
)

__all__ = [
    "HIGHLIGHT",
    "MUTED",
    "NO_DATA",
    "PALETTE",
    "SOURCE_LABELS",
    "TEMPLATE",
    "agreement_chart",
    "awarded_people_chart",
    "awards_ratings_chart",
    "bar_chart",
    "browser_path",
    "budget_multiple_chart",
    "coverage_chart",
    "empty_figure",
    "festival_paths_chart",
    "genre_ratings_chart",
    "hash_audit_chart",
    "hashtag_chart",
    "hashtag_timeseries_chart",
    "legs_chart",
    "line_chart",
    "moderation_queue_chart",
    "new_tags_chart",
    "null_shares_chart",
    "offer_mix_chart",
    "platform_share_chart",
    "quiz_difficulty_chart",
    "quiz_engagement_chart",
    "ratings_over_time_chart",
    "regional_split_chart",
    "review_volume_chart",
    "rising_tags_chart",
    "row_counts_chart",
    "save_image",
    "save_images",
    "score_gap_chart",
    "score_histogram",
    "time_to_action_chart",
    "top_rated_chart",
    "weekend_race_chart",
]

check_browser_before_export()
