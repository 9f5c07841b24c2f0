"""The platform's undocumented areas: awards & festivals, box office, content discovery, quizzes,
talent hub, admin & moderation.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

The schema document's table of contents names these sections but has no page for them; the
tables are designed here (``iwm_lab.models.awards``, ``box_office``, ``discovery``,
``quizzes``, ``talent``, ``moderation`` say why each is shaped as it is) in the documented
tables' style, and every table's comment starts "Designed here (not in the platform's schema
document): " so that ``docs/schema.md`` marks them.

Hand-written and kept identical to the models (Alembic's ``compare_metadata`` against a
database at head reports nothing): constraint names spelled out with ``op.f``, value sets and
descriptions literal, as a revision is a snapshot that must not change when the models do.
No backslash in any CHECK (the patterns use ``[.]``), no percent sign (Alembic's offline mode).

The analyst role reads the new tables and the writer role writes them: granted here, by name,
when the roles exist (``iwm_lab.roles`` grants the same through default privileges when the
migrations' role is the one it set them for, and at every start of the embedded server).

The downgrade drops the tables, their rows with them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# iwm_lab.roles.ANALYST_ROLE and WRITER_ROLE, written out: a migration does not follow code.
_ANALYST = "iwm_analyst"
_WRITER = "iwm_writer"

_DESIGNED = "Designed here (not in the platform's schema document): "
_REGION = "'^[A-Z]{2}$'"
_ROLES = "('actor', 'director', 'writer', 'producer', 'composer', 'cinematographer', 'editor')"
_ROLES_TEXT = "actor, director, writer, producer, composer, cinematographer, editor"
_TARGET_TYPES = (
    "('review', 'pulse', 'user', 'collection', 'quiz', 'talent_profile', 'casting_call')"
)


def _id(*, big: bool = False) -> sa.Column[int]:
    # SERIAL (BIGSERIAL), as SQLAlchemy renders an integer primary key.
    kind = sa.BigInteger() if big else sa.Integer()
    return sa.Column("id", kind, autoincrement=True, nullable=False, comment="Internal ID")


def _external_id(length: int = 50) -> sa.Column[str]:
    return sa.Column(
        "external_id", sa.String(length=length), nullable=True, comment="External identifier"
    )


def _now(name: str, comment: str) -> sa.Column[object]:
    return sa.Column(
        name, sa.DateTime(), server_default=sa.text("now()"), nullable=False, comment=comment
    )


def _at(name: str, comment: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(), nullable=True, comment=comment)


def _text(name: str, length: int | None, comment: str, *, nullable: bool = True) -> sa.Column[str]:
    kind = sa.Text() if length is None else sa.String(length=length)
    return sa.Column(name, kind, nullable=nullable, comment=comment)


def _int(name: str, comment: str, *, nullable: bool = True) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=nullable, comment=comment)


def _flag(name: str, default: bool, comment: str) -> sa.Column[bool]:
    value = sa.text("true" if default else "false")
    return sa.Column(name, sa.Boolean(), server_default=value, nullable=False, comment=comment)


def _status(name: str, length: int, default: str, comment: str) -> sa.Column[str]:
    return sa.Column(
        name,
        sa.String(length=length),
        server_default=sa.text(f"'{default}'"),
        nullable=False,
        comment=comment,
    )


def _keys(
    table: str, *unique: tuple[str, ...], pk: tuple[str, ...] = ("id",)
) -> list[sa.Constraint]:
    """The primary key, the external_id's unique key (for an ``id`` table) and ``unique``."""
    found: list[sa.Constraint] = [sa.PrimaryKeyConstraint(*pk, name=op.f(f"pk_{table}"))]
    if pk == ("id",):
        found.append(sa.UniqueConstraint("external_id", name=op.f(f"uq_{table}_external_id")))
    found += [
        sa.UniqueConstraint(*columns, name=op.f(f"uq_{table}_{'_'.join(columns)}"))
        for columns in unique
    ]
    return found


def _checks(table: str, checks: dict[str, str]) -> list[sa.CheckConstraint]:
    return [
        sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{name}")) for name, sql in checks.items()
    ]


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.Constraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def _awards() -> None:
    op.create_table(
        "award_bodies",
        _id(),
        _external_id(),
        _text("name", 200, "Body name (e.g., Academy of Motion Picture Arts)", nullable=False),
        _text("short_name", 50, "Name of its awards in short (e.g., Oscars, BAFTA)"),
        _text(
            "body_type",
            20,
            "Kind of body (academy, guild, critics, press, audience)",
            nullable=False,
        ),
        _text("country", 10, "Country code (US, UK, FR, etc.; NULL for international bodies)"),
        _text("website_url", 255, "Website URL"),
        _now("created_at", "When added"),
        *_keys("award_bodies"),
        *_checks(
            "award_bodies",
            {
                "body_type": "body_type IN ('academy', 'guild', 'critics', 'press', 'audience')",
                "country_format": f"country ~ {_REGION}",
            },
        ),
        comment=_DESIGNED + "bodies that give film awards (academies, guilds, critics' and press "
        "associations, audience awards).",
    )
    op.create_table(
        "award_ceremonies",
        _id(),
        _external_id(),
        _int("award_body_id", "Award body holding the ceremony", nullable=False),
        _int("edition_number", "Ordinal of the ceremony (e.g., 96 for the 96th)"),
        _int("year", "Award year: the calendar year of the films honoured", nullable=False),
        sa.Column(
            "ceremony_date",
            sa.Date(),
            nullable=True,
            comment="Date the ceremony was held (in the award year or the next)",
        ),
        _text("location", 200, "Venue and city"),
        _now("created_at", "When added"),
        *_keys("award_ceremonies", ("award_body_id", "year")),
        *_checks(
            "award_ceremonies",
            {
                "year_range": "year BETWEEN 1900 AND 2100",
                "edition_number_positive": "edition_number >= 1",
                "held_in_award_year_or_next": "EXTRACT(year FROM ceremony_date) "
                "BETWEEN year AND year + 1",
            },
        ),
        _fk("award_ceremonies", "award_body_id", "award_bodies", "CASCADE"),
        comment=_DESIGNED + "award ceremonies: one per award body and award year.",
    )
    op.create_table(
        "award_categories",
        _id(),
        _external_id(),
        _int("award_body_id", "Award body giving the category", nullable=False),
        _text("name", 200, "Category name (e.g., Best Picture)", nullable=False),
        _text(
            "subject",
            10,
            "What a nomination names: the movie (movie) or a person for a movie (person)",
            nullable=False,
        ),
        _text(
            "credit_role",
            20,
            "Credit role honoured (e.g., director for Best Director; NULL for movie categories)",
        ),
        _now("created_at", "When added"),
        *_keys("award_categories", ("award_body_id", "name")),
        *_checks(
            "award_categories",
            {
                "subject": "subject IN ('movie', 'person')",
                "credit_role": f"credit_role IN {_ROLES}",
            },
        ),
        _fk("award_categories", "award_body_id", "award_bodies", "CASCADE"),
        comment=_DESIGNED + "the categories an award body gives awards in, across years.",
    )
    op.create_table(
        "award_nominations",
        _id(),
        _external_id(80),
        _int("ceremony_id", "Ceremony", nullable=False),
        _int("category_id", "Category (of the ceremony's award body)", nullable=False),
        _int("movie_id", "Nominated movie, or the movie a person is nominated for"),
        _int("person_id", "Nominated person (NULL in movie categories)"),
        _flag("won", False, "Whether the nomination won"),
        _text("detail", 300, "What the citation adds (e.g., the song's title, shared with)"),
        _now("created_at", "When added"),
        *_keys("award_nominations"),
        # NULLS NOT DISTINCT: a movie nominated without a person is still nominated only once.
        sa.UniqueConstraint(
            "ceremony_id",
            "category_id",
            "movie_id",
            "person_id",
            name=op.f("uq_award_nominations_nominee"),
            postgresql_nulls_not_distinct=True,
        ),
        *_checks(
            "award_nominations",
            {"names_a_nominee": "movie_id IS NOT NULL OR person_id IS NOT NULL"},
        ),
        _fk("award_nominations", "ceremony_id", "award_ceremonies", "CASCADE"),
        _fk("award_nominations", "category_id", "award_categories", "CASCADE"),
        _fk("award_nominations", "movie_id", "movies"),
        _fk("award_nominations", "person_id", "people"),
        comment=_DESIGNED + "nominations: a movie and/or a person nominated in a category at a "
        "ceremony, and whether it won.",
    )
    op.create_table(
        "festivals",
        _id(),
        _external_id(),
        _text("name", 200, "Festival name (e.g., Cannes Film Festival)", nullable=False),
        _text("city", 100, "City it is held in"),
        _text("country", 10, "Country code (US, UK, FR, etc.)"),
        _int("founded_year", "Year of the first edition"),
        _text("website_url", 255, "Website URL"),
        _now("created_at", "When added"),
        *_keys("festivals"),
        *_checks(
            "festivals",
            {
                "country_format": f"country ~ {_REGION}",
                "founded_year_range": "founded_year BETWEEN 1900 AND 2100",
            },
        ),
        comment=_DESIGNED + "film festivals.",
    )
    op.create_table(
        "festival_editions",
        _id(),
        _external_id(),
        _int("festival_id", "Festival", nullable=False),
        _int("year", "Year of the edition", nullable=False),
        _int("edition_number", "Ordinal of the edition (e.g., 77 for the 77th)"),
        sa.Column("starts_on", sa.Date(), nullable=False, comment="Opening day"),
        sa.Column("ends_on", sa.Date(), nullable=False, comment="Closing day"),
        _now("created_at", "When added"),
        *_keys("festival_editions", ("festival_id", "year")),
        *_checks(
            "festival_editions",
            {
                "year_range": "year BETWEEN 1900 AND 2100",
                "edition_number_positive": "edition_number >= 1",
                "ends_after_start": "ends_on >= starts_on",
                "starts_in_year": "EXTRACT(year FROM starts_on) = year",
            },
        ),
        _fk("festival_editions", "festival_id", "festivals", "CASCADE"),
        comment=_DESIGNED + "a festival's yearly editions and their dates.",
    )
    op.create_table(
        "festival_selections",
        _id(),
        _external_id(80),
        _int("edition_id", "Festival edition", nullable=False),
        _int("movie_id", "Selected movie", nullable=False),
        _text(
            "section",
            30,
            "Kind of section (competition, out-of-competition, sidebar, special-screening, "
            "retrospective)",
            nullable=False,
        ),
        _text("section_name", 100, "Section as the festival names it (e.g., Un Certain Regard)"),
        _text(
            "premiere",
            20,
            "Premiere status of the screening (world, international, regional, national)",
        ),
        _text("prize", 200, "Prize won at the edition (e.g., Palme d'Or; NULL when none)"),
        _now("created_at", "When added"),
        *_keys("festival_selections", ("edition_id", "movie_id")),
        *_checks(
            "festival_selections",
            {
                "section": "section IN ('competition', 'out-of-competition', 'sidebar', "
                "'special-screening', 'retrospective')",
                "premiere": "premiere IN ('world', 'international', 'regional', 'national')",
            },
        ),
        _fk("festival_selections", "edition_id", "festival_editions", "CASCADE"),
        _fk("festival_selections", "movie_id", "movies"),
        comment=_DESIGNED + "movies selected by a festival edition: the section, the premiere "
        "and any prize won.",
    )


def _box_office() -> None:
    op.create_table(
        "box_office_grosses",
        _id(),
        _external_id(80),
        _int("movie_id", "Movie", nullable=False),
        _text("region", 10, "Market (region code: US, UK, IN, etc.)", nullable=False),
        sa.Column(
            "weekend_start",
            sa.Date(),
            nullable=False,
            comment="First day of the weekend (a Friday in most markets); the week runs 7 days "
            "from it",
        ),
        _int(
            "week_of_run", "Week of the run in the region (1 is the opening week)", nullable=False
        ),
        _int("rank", "Rank in the region's weekend chart (1 is the top; NULL when unranked)"),
        sa.Column(
            "weekend_gross",
            sa.BigInteger(),
            nullable=False,
            comment="Weekend gross, in whole units of currency",
        ),
        sa.Column(
            "week_gross",
            sa.BigInteger(),
            nullable=True,
            comment="Gross of the 7 days from weekend_start, weekend included (NULL until the "
            "week is over)",
        ),
        _int("theaters", "Theaters showing the movie that weekend"),
        _status("currency", 3, "USD", "Currency of the grosses (ISO 4217 code, e.g., USD)"),
        _text("distributor", 100, "Distributor in the region"),
        _now("created_at", "When added"),
        _at("updated_at", "Last revision of the figures (estimates to actuals)"),
        *_keys("box_office_grosses", ("movie_id", "region", "weekend_start")),
        *_checks(
            "box_office_grosses",
            {
                "region_format": f"region ~ {_REGION}",
                "currency_format": "currency ~ '^[A-Z]{3}$'",
                "week_of_run_positive": "week_of_run >= 1",
                "rank_positive": "rank >= 1",
                "theaters_positive": "theaters >= 1",
                "weekend_gross_not_negative": "weekend_gross >= 0",
                "week_includes_weekend": "week_gross >= weekend_gross",
                "updated_after_created": "updated_at >= created_at",
            },
        ),
        _fk("box_office_grosses", "movie_id", "movies"),
        comment=_DESIGNED + "box office per movie, region and week of its run: the weekend's "
        "rank, gross and theaters, and the whole week's gross.",
    )


def _discovery() -> None:
    op.create_table(
        "curated_lists",
        _id(),
        _external_id(),
        _text("slug", 100, "URL-friendly slug"),
        _text("title", 200, "List title", nullable=False),
        _text("description", None, "List description"),
        _text(
            "list_type",
            20,
            "What it gathers (editorial, awards, festival, seasonal, genre)",
            nullable=False,
        ),
        _int("curator_id", "Editor who curates it (NULL once their account is deleted)"),
        _flag("is_published", False, "Visible to users"),
        _at("published_at", "When first published"),
        _now("created_at", "Creation date"),
        _at("updated_at", "Last update"),
        *_keys("curated_lists", ("slug",)),
        *_checks(
            "curated_lists",
            {
                "list_type": "list_type IN ('editorial', 'awards', 'festival', 'seasonal', "
                "'genre')",
                "published_dated": "NOT is_published OR published_at IS NOT NULL",
                "updated_after_created": "updated_at >= created_at",
            },
        ),
        _fk("curated_lists", "curator_id", "users", "SET NULL"),
        comment=_DESIGNED + "lists of movies curated by the platform's editors.",
    )
    op.create_table(
        "curated_list_movies",
        _int("curated_list_id", "List", nullable=False),
        _int("movie_id", "Movie", nullable=False),
        _int("position", "Position in the list (1 is first; order by position)", nullable=False),
        _text("note", None, "Editor's note on the movie"),
        _now("added_at", "When added"),
        *_keys("curated_list_movies", pk=("curated_list_id", "movie_id")),
        *_checks("curated_list_movies", {"position_positive": "position >= 1"}),
        _fk("curated_list_movies", "curated_list_id", "curated_lists", "CASCADE"),
        _fk("curated_list_movies", "movie_id", "movies", "CASCADE"),
        comment=_DESIGNED + "movies of each curated list, in order.",
    )
    op.create_table(
        "featured_rails",
        _id(),
        _external_id(),
        _text("title", 200, "Heading shown above the rail", nullable=False),
        _text(
            "placement",
            20,
            "Page it is shown on (home, browse, streaming, awards, search)",
            nullable=False,
        ),
        _text("region", 10, "Region it is shown in (US, UK, IN, etc.; NULL for every region)"),
        _int("position", "Position on its page (1 is the top)", nullable=False),
        _text(
            "source",
            20,
            "How its movies are chosen (editorial, curated-list, trending, new-releases, "
            "because-you-watched)",
            nullable=False,
        ),
        _int("curated_list_id", "Curated list it shows (source curated-list)"),
        _now("starts_at", "When it starts being shown"),
        _at("ends_at", "When it stops being shown (NULL: until taken down)"),
        _now("created_at", "Creation date"),
        _at("updated_at", "Last update"),
        *_keys("featured_rails"),
        *_checks(
            "featured_rails",
            {
                "placement": "placement IN ('home', 'browse', 'streaming', 'awards', 'search')",
                "source": "source IN ('editorial', 'curated-list', 'trending', 'new-releases', "
                "'because-you-watched')",
                "region_format": f"region ~ {_REGION}",
                "position_positive": "position >= 1",
                "ends_after_start": "ends_at > starts_at",
                "updated_after_created": "updated_at >= created_at",
            },
        ),
        _fk("featured_rails", "curated_list_id", "curated_lists", "SET NULL"),
        comment=_DESIGNED + "featured rails: rows of movies shown on an app page, in a region, "
        "for a time.",
    )
    op.create_table(
        "featured_rail_movies",
        _int("rail_id", "Rail", nullable=False),
        _int("movie_id", "Movie", nullable=False),
        _int("position", "Position in the rail (1 is first; order by position)", nullable=False),
        _now("added_at", "When added"),
        *_keys("featured_rail_movies", pk=("rail_id", "movie_id")),
        *_checks("featured_rail_movies", {"position_positive": "position >= 1"}),
        _fk("featured_rail_movies", "rail_id", "featured_rails", "CASCADE"),
        _fk("featured_rail_movies", "movie_id", "movies", "CASCADE"),
        comment=_DESIGNED + "movies of each featured rail, in order.",
    )
    op.create_table(
        "movie_similarities",
        _int("movie_id", "Movie watched", nullable=False),
        _int("similar_movie_id", "Movie suggested after it", nullable=False),
        sa.Column(
            "score",
            sa.Float(),
            nullable=False,
            comment="Similarity (0-1; higher is more similar)",
        ),
        _text(
            "method",
            20,
            "How the score was computed (co-watch, co-rating, content, editorial)",
            nullable=False,
        ),
        _now("computed_at", "When computed"),
        *_keys("movie_similarities", pk=("movie_id", "similar_movie_id")),
        *_checks(
            "movie_similarities",
            {
                "not_self": "movie_id <> similar_movie_id",
                "score_range": "score BETWEEN 0 AND 1",
                "method": "method IN ('co-watch', 'co-rating', 'content', 'editorial')",
            },
        ),
        _fk("movie_similarities", "movie_id", "movies", "CASCADE"),
        _fk("movie_similarities", "similar_movie_id", "movies", "CASCADE"),
        comment=_DESIGNED + '"because you watched" edges: a movie, a movie to suggest after it, '
        "and how similar they are.",
    )


def _quizzes() -> None:
    op.create_table(
        "quizzes",
        _id(),
        _external_id(),
        _text("title", 200, "Quiz title", nullable=False),
        _text("description", None, "Quiz description"),
        _int("movie_id", "Movie it is about (NULL for quizzes across movies)"),
        _text(
            "source",
            20,
            "Who made it (editorial, trivia: built from movies.trivia, community)",
            nullable=False,
        ),
        _text("difficulty", 10, "Stated difficulty (easy, medium, hard)"),
        _int(
            "creator_id",
            "User who wrote it (NULL for trivia quizzes, or once the account is deleted)",
        ),
        _int("time_limit_seconds", "Time allowed for an attempt, in seconds (NULL: no limit)"),
        _flag("is_published", False, "Open to users"),
        _now("created_at", "Creation date"),
        _at("updated_at", "Last update"),
        *_keys("quizzes"),
        *_checks(
            "quizzes",
            {
                "source": "source IN ('editorial', 'trivia', 'community')",
                "difficulty": "difficulty IN ('easy', 'medium', 'hard')",
                "trivia_has_movie": "source <> 'trivia' OR movie_id IS NOT NULL",
                "time_limit_positive": "time_limit_seconds >= 1",
                "updated_after_created": "updated_at >= created_at",
            },
        ),
        _fk("quizzes", "movie_id", "movies", "CASCADE"),
        _fk("quizzes", "creator_id", "users", "SET NULL"),
        comment=_DESIGNED + "quizzes about movies, some built from a movie's trivia.",
    )
    # jsonb_array_length fails on a non-array, and an AND's operands may run in any order: the
    # CASE decides first.
    options_array = (
        "CASE WHEN jsonb_typeof(options) = 'array' "
        "THEN jsonb_array_length(options) BETWEEN 2 AND 10 "
        "AND NOT jsonb_path_exists(options, '$[*] ? (@.type() != \"string\")') "
        "ELSE false END"
    )
    op.create_table(
        "quiz_questions",
        _id(),
        _external_id(80),
        _int("quiz_id", "Quiz", nullable=False),
        _int("position", "Position in the quiz (1 is first)", nullable=False),
        _text("prompt", None, "Question text", nullable=False),
        sa.Column(
            "options",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="Answer options: a JSON array of 2 to 10 strings, in order",
        ),
        _int("answer_index", "Position in options (from 0) of the right answer", nullable=False),
        _text("explanation", None, "Why the answer is right (a trivia item's explanation)"),
        _text("category", 50, "Topic (e.g., production; a trivia item's category)"),
        _int(
            "trivia_index", "Position (from 0) in the movie's trivia of the item it was built from"
        ),
        _now("created_at", "When added"),
        *_keys("quiz_questions", ("quiz_id", "position")),
        *_checks(
            "quiz_questions",
            {
                "position_positive": "position >= 1",
                "options_array": options_array,
                "answer_in_options": "answer_index >= 0 AND answer_index < CASE WHEN "
                "jsonb_typeof(options) = 'array' THEN jsonb_array_length(options) ELSE 0 END",
                "trivia_index_not_negative": "trivia_index >= 0",
            },
        ),
        _fk("quiz_questions", "quiz_id", "quizzes", "CASCADE"),
        comment=_DESIGNED + "multiple-choice questions of a quiz: options and the index of the "
        "right one.",
    )
    op.create_table(
        "quiz_attempts",
        _id(),
        _external_id(80),
        _int("quiz_id", "Quiz", nullable=False),
        _int("user_id", "User", nullable=False),
        _now("started_at", "When started"),
        _at("finished_at", "When finished (NULL: not finished)"),
        _int("question_count", "Questions the quiz had when the attempt started", nullable=False),
        _int("score", "Right answers, 0 to question_count (NULL until finished)"),
        sa.Column(
            "answers",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="Answers given: a JSON array of {question_id, chosen} objects (chosen: the "
            "option's position from 0, or null when skipped)",
        ),
        *_keys("quiz_attempts"),
        *_checks(
            "quiz_attempts",
            {
                "question_count_positive": "question_count >= 1",
                "score_range": "score BETWEEN 0 AND question_count",
                "finished_after_started": "finished_at >= started_at",
                "scored_when_finished": "(finished_at IS NULL) = (score IS NULL)",
                "answers_array": "CASE WHEN jsonb_typeof(answers) = 'array' THEN "
                "jsonb_array_length(answers) <= question_count ELSE answers IS NULL END",
            },
        ),
        _fk("quiz_attempts", "quiz_id", "quizzes", "CASCADE"),
        _fk("quiz_attempts", "user_id", "users", "CASCADE"),
        comment=_DESIGNED + "users' attempts at a quiz: answers given, score, when started and "
        "finished.",
    )


def _talent() -> None:
    op.create_table(
        "talent_profiles",
        _id(),
        _external_id(),
        _int("person_id", "Person of the catalogue it presents (NULL for talent not credited yet)"),
        _int("user_id", "User who owns it (NULL for an unclaimed profile of a person)"),
        _text("display_name", 100, "Name shown", nullable=False),
        _text("headline", 200, "One-line pitch (e.g., Stage and screen actor, London)"),
        _text("bio", None, "Biography"),
        _text("primary_role", 20, f"Main role ({_ROLES_TEXT})"),
        _text("region", 10, "Region they work in (US, UK, IN, etc.)"),
        _flag("is_verified", False, "Identity verified by the platform"),
        _flag("open_to_work", True, "Open to casting calls and offers"),
        _now("created_at", "Creation date"),
        _at("updated_at", "Last update"),
        *_keys("talent_profiles", ("person_id",), ("user_id",)),
        *_checks(
            "talent_profiles",
            {
                "person_or_user": "person_id IS NOT NULL OR user_id IS NOT NULL",
                "primary_role": f"primary_role IN {_ROLES}",
                "region_format": f"region ~ {_REGION}",
                "updated_after_created": "updated_at >= created_at",
            },
        ),
        _fk("talent_profiles", "person_id", "people", "CASCADE"),
        _fk("talent_profiles", "user_id", "users", "CASCADE"),
        comment=_DESIGNED + "talent profiles: a person of the catalogue, a user, or a user who is "
        "that person, offering their work.",
    )
    op.create_table(
        "casting_calls",
        _id(),
        _external_id(),
        _text("title", 200, "Call title", nullable=False),
        _text("description", None, "What the role involves"),
        _text("project_title", 200, "Project as the poster names it"),
        _int("movie_id", "Movie of the catalogue it casts for (NULL for projects not in it)"),
        _int("posted_by_id", "User who posted it (NULL once their account is deleted)"),
        _text("role", 20, f"Role sought ({_ROLES_TEXT})", nullable=False),
        _text("character_name", 200, "Character to play (actors only)"),
        _text("region", 10, "Region of the work (US, UK, IN, etc.)"),
        sa.Column("is_paid", sa.Boolean(), nullable=True, comment="Whether the work is paid"),
        _status("status", 20, "open", "Status (draft, open, closed, filled, cancelled)"),
        _at("deadline", "Last moment to apply (NULL: until closed)"),
        _now("created_at", "When posted"),
        _at("updated_at", "Last update"),
        *_keys("casting_calls"),
        *_checks(
            "casting_calls",
            {
                "role": f"role IN {_ROLES}",
                "status": "status IN ('draft', 'open', 'closed', 'filled', 'cancelled')",
                "region_format": f"region ~ {_REGION}",
                "deadline_after_created": "deadline >= created_at",
                "updated_after_created": "updated_at >= created_at",
            },
        ),
        _fk("casting_calls", "movie_id", "movies", "SET NULL"),
        _fk("casting_calls", "posted_by_id", "users", "SET NULL"),
        comment=_DESIGNED + "casting calls: a role sought for a project, open until a deadline.",
    )
    op.create_table(
        "casting_applications",
        _id(),
        _external_id(80),
        _int("casting_call_id", "Casting call", nullable=False),
        _int("talent_profile_id", "Applicant's talent profile", nullable=False),
        _status(
            "status",
            20,
            "submitted",
            "Status (submitted, shortlisted, auditioned, offered, accepted, rejected, withdrawn)",
        ),
        _text("cover_note", None, "Applicant's note to the caster"),
        _now("created_at", "When applied"),
        _at("updated_at", "Last status change"),
        *_keys("casting_applications", ("casting_call_id", "talent_profile_id")),
        *_checks(
            "casting_applications",
            {
                "status": "status IN ('submitted', 'shortlisted', 'auditioned', 'offered', "
                "'accepted', 'rejected', 'withdrawn')",
                "updated_after_created": "updated_at >= created_at",
            },
        ),
        _fk("casting_applications", "casting_call_id", "casting_calls", "CASCADE"),
        _fk("casting_applications", "talent_profile_id", "talent_profiles", "CASCADE"),
        comment=_DESIGNED + "applications of talent profiles to casting calls, with their status.",
    )


def _moderation() -> None:
    op.create_table(
        "content_reports",
        _id(),
        _external_id(),
        _int("reporter_id", "User who reported it (NULL once their account is deleted)"),
        _text(
            "target_type",
            20,
            "Type of the reported content (review, pulse, user, collection, quiz, "
            "talent_profile, casting_call)",
            nullable=False,
        ),
        _int("target_id", "Id of the reported row in its type's table", nullable=False),
        _text(
            "reason",
            20,
            "Reason (spam, harassment, hate, violence, sexual, spoilers, misinformation, "
            "copyright, impersonation, other)",
            nullable=False,
        ),
        _text("details", None, "Reporter's own words"),
        _status("status", 20, "open", "Status (open, reviewing, actioned, dismissed)"),
        _now("created_at", "When reported"),
        _at("resolved_at", "When actioned or dismissed (NULL while open)"),
        *_keys("content_reports"),
        *_checks(
            "content_reports",
            {
                "target_type": f"target_type IN {_TARGET_TYPES}",
                "target_id_positive": "target_id >= 1",
                "reason": "reason IN ('spam', 'harassment', 'hate', 'violence', 'sexual', "
                "'spoilers', 'misinformation', 'copyright', 'impersonation', 'other')",
                "status": "status IN ('open', 'reviewing', 'actioned', 'dismissed')",
                "resolved_after_created": "resolved_at >= created_at",
                "resolved_when_closed": "(status IN ('open', 'reviewing')) = (resolved_at IS NULL)",
            },
        ),
        _fk("content_reports", "reporter_id", "users", "SET NULL"),
        comment=_DESIGNED + "users' reports of content (a review, a pulse, a user...) to the "
        "moderators: reason, status, when resolved.",
    )
    op.create_table(
        "moderation_actions",
        _id(),
        _external_id(),
        _int("report_id", "Report acted on (NULL for an action without a report)"),
        _int("moderator_id", "Moderator who acted (NULL once their account is deleted)"),
        _text(
            "action",
            20,
            "What was done (dismiss, warn, hide, remove, restore, suspend, ban, escalate)",
            nullable=False,
        ),
        _text(
            "target_type",
            20,
            "Type of the content acted on (as in content_reports)",
            nullable=False,
        ),
        _int("target_id", "Id of the row acted on in its type's table", nullable=False),
        _text("note", None, "Moderator's note"),
        _now("created_at", "When taken"),
        *_keys("moderation_actions"),
        *_checks(
            "moderation_actions",
            {
                "action": "action IN ('dismiss', 'warn', 'hide', 'remove', 'restore', "
                "'suspend', 'ban', 'escalate')",
                "target_type": f"target_type IN {_TARGET_TYPES}",
                "target_id_positive": "target_id >= 1",
            },
        ),
        _fk("moderation_actions", "report_id", "content_reports", "SET NULL"),
        _fk("moderation_actions", "moderator_id", "users", "SET NULL"),
        comment=_DESIGNED + "what moderators did, on a report or of their own accord, to which "
        "content.",
    )
    op.create_table(
        "user_roles",
        _id(),
        _external_id(),
        _int("user_id", "User", nullable=False),
        _text("role", 20, "Role (admin, moderator, editor, curator, support)", nullable=False),
        _int("granted_by_id", "User who granted it (NULL once their account is deleted)"),
        _now("created_at", "When granted"),
        _at("revoked_at", "When revoked (NULL while held)"),
        *_keys("user_roles"),
        *_checks(
            "user_roles",
            {
                "role": "role IN ('admin', 'moderator', 'editor', 'curator', 'support')",
                "revoked_after_granted": "revoked_at >= created_at",
            },
        ),
        _fk("user_roles", "user_id", "users", "CASCADE"),
        _fk("user_roles", "granted_by_id", "users", "SET NULL"),
        comment=_DESIGNED + "staff roles granted to users (admin, moderator...), and when revoked.",
    )
    op.create_table(
        "user_bans",
        _id(),
        _external_id(),
        _int("user_id", "Banned user", nullable=False),
        _int("action_id", "Moderation action that imposed it"),
        _int("banned_by_id", "User who imposed it (NULL once their account is deleted)"),
        _status("scope", 20, "full", "What is barred (full, posting, reviews, pulses, messaging)"),
        _text("reason", None, "Reason given to the user", nullable=False),
        _now("starts_at", "When imposed"),
        _at("ends_at", "When it expires (NULL: permanent)"),
        _at("lifted_at", "When lifted before expiring (NULL: not lifted)"),
        *_keys("user_bans"),
        *_checks(
            "user_bans",
            {
                "scope": "scope IN ('full', 'posting', 'reviews', 'pulses', 'messaging')",
                "ends_after_start": "ends_at > starts_at",
                "lifted_after_start": "lifted_at >= starts_at",
            },
        ),
        _fk("user_bans", "user_id", "users", "CASCADE"),
        _fk("user_bans", "action_id", "moderation_actions", "SET NULL"),
        _fk("user_bans", "banned_by_id", "users", "SET NULL"),
        comment=_DESIGNED + "bans of users: what they may no longer do, from when, until when, "
        "and when lifted early.",
    )
    op.create_table(
        "audit_log",
        _id(big=True),
        _external_id(80),
        _int("actor_id", "User who acted (NULL: the platform itself, or an account since deleted)"),
        _text("action", 60, "What was done, as area.verb (e.g., review.hide)", nullable=False),
        _text("target_table", 63, "Table of the row acted on (e.g., reviews)"),
        sa.Column("target_id", sa.BigInteger(), nullable=True, comment="Id of the row acted on"),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="Details: a JSON object (e.g., the values before and after)",
        ),
        _now("created_at", "When done"),
        *_keys("audit_log"),
        *_checks(
            "audit_log",
            {
                "action_format": "action ~ '^[a-z_]+[.][a-z_]+$'",
                "target_table_format": "target_table ~ '^[a-z][a-z0-9_]*$'",
                "target_complete": "(target_table IS NULL) = (target_id IS NULL)",
                "details_object": "jsonb_typeof(details) = 'object'",
            },
        ),
        _fk("audit_log", "actor_id", "users", "SET NULL"),
        comment=_DESIGNED + "the audit log: who did what to which row, when, with the details.",
    )


# (name, table, columns, options) of every index; the unique keys index themselves.
_INDEXES: list[tuple[str, str, list[str], dict[str, object]]] = [
    (
        "idx_award_nominations_movie_id",
        "award_nominations",
        ["movie_id"],
        {"postgresql_where": "movie_id IS NOT NULL"},
    ),
    (
        "idx_award_nominations_person_id",
        "award_nominations",
        ["person_id"],
        {"postgresql_where": "person_id IS NOT NULL"},
    ),
    ("idx_award_nominations_category_id", "award_nominations", ["category_id"], {}),
    ("idx_festival_selections_movie_id", "festival_selections", ["movie_id"], {}),
    ("idx_box_office_grosses_chart", "box_office_grosses", ["region", "weekend_start", "rank"], {}),
    (
        "idx_curated_lists_published_at",
        "curated_lists",
        ["published_at DESC"],
        {"postgresql_where": "is_published = true"},
    ),
    ("idx_curated_list_movies_movie_id", "curated_list_movies", ["movie_id"], {}),
    ("idx_featured_rails_placement", "featured_rails", ["placement", "starts_at"], {}),
    ("idx_featured_rail_movies_movie_id", "featured_rail_movies", ["movie_id"], {}),
    ("idx_movie_similarities_top", "movie_similarities", ["movie_id", "score DESC"], {}),
    ("idx_movie_similarities_similar_movie_id", "movie_similarities", ["similar_movie_id"], {}),
    ("idx_quizzes_movie_id", "quizzes", ["movie_id"], {"postgresql_where": "movie_id IS NOT NULL"}),
    ("idx_quiz_attempts_quiz", "quiz_attempts", ["quiz_id", "started_at"], {}),
    ("idx_quiz_attempts_user", "quiz_attempts", ["user_id", "started_at"], {}),
    ("idx_casting_calls_status", "casting_calls", ["status", "deadline"], {}),
    (
        "idx_casting_calls_movie_id",
        "casting_calls",
        ["movie_id"],
        {"postgresql_where": "movie_id IS NOT NULL"},
    ),
    (
        "idx_casting_applications_talent_profile_id",
        "casting_applications",
        ["talent_profile_id"],
        {},
    ),
    (
        "idx_content_reports_queue",
        "content_reports",
        ["target_type", "created_at"],
        {"postgresql_where": "status IN ('open', 'reviewing')"},
    ),
    ("idx_content_reports_target", "content_reports", ["target_type", "target_id"], {}),
    ("idx_content_reports_reporter_id", "content_reports", ["reporter_id"], {}),
    (
        "idx_moderation_actions_report_id",
        "moderation_actions",
        ["report_id"],
        {"postgresql_where": "report_id IS NOT NULL"},
    ),
    ("idx_moderation_actions_moderator", "moderation_actions", ["moderator_id", "created_at"], {}),
    (
        "idx_user_roles_held",
        "user_roles",
        ["user_id", "role"],
        {"unique": True, "postgresql_where": "revoked_at IS NULL"},
    ),
    ("idx_user_bans_user", "user_bans", ["user_id", "starts_at"], {}),
    ("idx_audit_log_created_at", "audit_log", ["created_at DESC"], {}),
    ("idx_audit_log_actor", "audit_log", ["actor_id", "created_at"], {}),
    ("idx_audit_log_target", "audit_log", ["target_table", "target_id"], {}),
]

# In creation order; the downgrade drops them the other way round.
_TABLES = (
    "award_bodies",
    "award_ceremonies",
    "award_categories",
    "award_nominations",
    "festivals",
    "festival_editions",
    "festival_selections",
    "box_office_grosses",
    "curated_lists",
    "curated_list_movies",
    "featured_rails",
    "featured_rail_movies",
    "movie_similarities",
    "quizzes",
    "quiz_questions",
    "quiz_attempts",
    "talent_profiles",
    "casting_calls",
    "casting_applications",
    "content_reports",
    "moderation_actions",
    "user_roles",
    "user_bans",
    "audit_log",
)
# The link tables are keyed by both ends and have no serial id, hence no sequence.
_LINK_TABLES = frozenset({"curated_list_movies", "featured_rail_movies", "movie_similarities"})


def _create_index(name: str, table: str, columns: list[str], options: dict[str, object]) -> None:
    kwargs = dict(options)
    if "postgresql_where" in kwargs:
        kwargs["postgresql_where"] = sa.text(str(kwargs["postgresql_where"]))
    # "col DESC" is an expression to Alembic; a bare name stays a column reference.
    expressions = [sa.text(c) if " " in c else c for c in columns]
    op.create_index(name, table, expressions, **kwargs)  # type: ignore[arg-type]


def _if_role(role: str, statement: str) -> str:
    """``statement`` in a DO block that runs it only on a server where ``role`` exists."""
    exists = f"SELECT FROM pg_catalog.pg_roles WHERE rolname = '{role}'"
    return f"DO $$ BEGIN IF EXISTS ({exists}) THEN {statement}; END IF; END $$"


def _grant() -> None:
    tables = ", ".join(_TABLES)
    sequences = ", ".join(f"{t}_id_seq" for t in _TABLES if t not in _LINK_TABLES)
    op.execute(_if_role(_ANALYST, f"GRANT SELECT ON {tables} TO {_ANALYST}"))
    op.execute(_if_role(_ANALYST, f"GRANT SELECT ON SEQUENCE {sequences} TO {_ANALYST}"))
    writes = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE"
    op.execute(_if_role(_WRITER, f"GRANT {writes} ON {tables} TO {_WRITER}"))
    op.execute(
        _if_role(_WRITER, f"GRANT USAGE, SELECT, UPDATE ON SEQUENCE {sequences} TO {_WRITER}")
    )


def upgrade() -> None:
    _awards()
    _box_office()
    _discovery()
    _quizzes()
    _talent()
    _moderation()
    for name, table, columns, options in _INDEXES:
        _create_index(name, table, columns, options)
    # The box office's budget multiples read the movies with a budget, and their revenue, from
    # this index alone rather than from movies' wide rows.
    op.execute(
        "CREATE INDEX idx_movies_budgeted ON movies (id) INCLUDE (budget, revenue) WHERE budget > 0"
    )
    _grant()


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idx_movies_budgeted")
    # Indexes, constraints, comments and grants go with their tables.
    for table in reversed(_TABLES):
        op.drop_table(table)
