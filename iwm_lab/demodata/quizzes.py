"""Rows of ``quizzes``, ``quiz_questions`` and ``quiz_attempts``.

Trivia quizzes are built from a movie's ``movies.trivia``: one question per trivia object,
in the document's order (``trivia_index``), its answer the one the document gives.
Editorial and community quizzes ask in which year a film came out, or which genre it is.
Attempts answer each question right with a chance set by the quiz's difficulty (a few
quizzes are far harder than their label says); a finished attempt's score is the number of
answers matching the answer index; an unfinished one has answered some questions, has no
finish time and no score.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from iwm_lab.demodata import vocab
from iwm_lab.demodata.copytext import CopyRows, Part, Take, int_text, json_array, masked, pool
from iwm_lab.demodata.facts import cached, movie_facts, released, sliced, spread, trivia_items
from iwm_lab.demodata.world import I64, SECOND, Distribution, World, rng_for, sample

SOURCES = ("editorial", "trivia", "community")
DIFFICULTIES = ("easy", "medium", "hard")
# Chance of a right answer by difficulty; "killer" quizzes are far below their label.
RIGHT = np.array([0.82, 0.62, 0.42])
KILLER = 0.12
# Question kinds: a trivia object, the budget, the release year, the genre.
TRIVIA, BUDGET, YEAR, GENRE = 0, 1, 2, 3
MAX_QUESTIONS = 10
_EDITORIAL_TITLES = ("Name the year", "Genre detective", "Cinema quiz", "Film buff challenge")


@dataclass
class Quizzes:
    source: I64
    movie: I64  # id, 0 = none
    difficulty: I64
    killer: np.ndarray
    creator: I64  # user id
    created: np.ndarray
    published: np.ndarray
    first_question: I64  # 0-based index of the quiz's first question
    questions: I64
    # questions
    q_quiz: I64
    q_kind: I64
    q_movie: I64  # index of the movie asked about
    q_row: I64  # TRIVIA row (kind TRIVIA)
    q_answer: I64
    q_options: I64  # how many options
    q_trivia_index: I64  # -1 = none
    q_shift: I64  # distractor offsets (YEAR, GENRE)


def plan(world: World) -> Quizzes:
    return cached(world, "quizzes", lambda: _build(world))


def _build(world: World) -> Quizzes:
    rng = rng_for(world.seed, "quizzes-plan")
    facts = movie_facts(world)
    items = trivia_items(world)
    n = max(20, world.scale.movies // 20)
    out = released(world)
    source = rng.choice(3, size=n, p=[0.35, 0.45, 0.2])
    with_trivia = np.flatnonzero(out & (facts.trivia >= 0))
    popular = Distribution(world.movie_popularity[with_trivia])
    movie = np.where(source == 1, with_trivia[sample(popular, rng, n)] + 1, 0)
    difficulty = rng.choice(3, size=n, p=[0.35, 0.45, 0.2])
    killer = rng.random(n) < 0.06
    creator = sample(Distribution(world.user_activity), rng, n) + 1
    span = (world.as_of - world.launch).astype(np.int64)
    created = world.launch + (span * rng.random(n) ** 0.6).astype(np.int64) * SECOND
    created = np.maximum(created, world.user_created[creator - 1])
    published = rng.random(n) < 0.9
    # Questions of trivia quizzes: the budget one first when the document has it.
    rest = facts.trivia[np.maximum(movie - 1, 0)]
    opens = facts.trivia_budget[np.maximum(movie - 1, 0)] & (source == 1)
    # Per trivia rest: how many objects follow the budget one, their rows and answers.
    item_count = np.array([len(i) for i in items])
    item_row = np.full((len(items), 3), 0)
    item_answer = np.full((len(items), 3), 0)
    for r, objects in enumerate(items):  # once per pool entry, not per row
        for j, (row, answer) in enumerate(objects):
            item_row[r, j], item_answer[r, j] = row, answer
    trivia = source == 1
    count = np.where(trivia, opens + item_count[rest], rng.integers(3, MAX_QUESTIONS + 1, n))
    first = np.r_[0, np.cumsum(count)[:-1]]
    q_quiz = np.repeat(np.arange(n), count)
    total = len(q_quiz)
    position = np.arange(total) - first[q_quiz]
    trivia_q = trivia[q_quiz]
    budget_q = trivia_q & opens[q_quiz] & (position == 0)
    object_q = trivia_q & ~budget_q
    j = np.clip(position - opens[q_quiz], 0, 2)
    q_kind = np.where(rng.random(total) < 0.5, YEAR, GENRE)
    q_kind[budget_q], q_kind[object_q] = BUDGET, TRIVIA
    q_row = np.where(object_q, item_row[rest[q_quiz], j], -1)
    q_answer = np.where(object_q, item_answer[rest[q_quiz], j], rng.integers(0, 4, total))
    q_trivia = np.where(trivia_q, position, -1)
    q_answer[q_kind == BUDGET] = 0
    sizes = np.array([len(t[2]) for t in vocab.TRIVIA])
    q_options = np.where(q_kind == TRIVIA, sizes[np.maximum(q_row, 0)], 4)
    asked = sample(Distribution(world.movie_popularity * out), rng, total)
    q_movie = np.where(trivia_q, movie[q_quiz] - 1, asked)
    return Quizzes(
        source=source,
        movie=movie,
        difficulty=difficulty,
        killer=killer,
        creator=creator,
        created=created,
        published=published,
        first_question=first,
        questions=count,
        q_quiz=q_quiz,
        q_kind=q_kind,
        q_movie=q_movie,
        q_row=q_row,
        q_answer=q_answer,
        q_options=q_options,
        q_trivia_index=q_trivia,
        q_shift=rng.integers(1, 6, (total, 3)),
    )


def quizzes(world: World) -> Iterator[CopyRows]:
    p = plan(world)
    n = len(p.source)
    rng = rng_for(world.seed, "quizzes")
    ids = np.arange(1, n + 1)
    titles = pool([*_EDITORIAL_TITLES, "Trivia: ", "Fan quiz #"])
    head = np.where(p.source == 1, 4, np.where(p.source == 2, 5, rng.integers(0, 4, n)))
    trivia = p.source == 1
    rows = CopyRows(n)
    rows.ints("id", ids)
    rows.code("external_id", "qz", ids, 6)
    rows.text(
        "title",
        Take(titles, head),
        Take(world.movie_title, np.maximum(p.movie - 1, 0)).nulled(~trivia, b""),
        Take(pool([""] + [f" #{i}" for i in range(1, 100)]), np.where(trivia, 0, ids % 99 + 1)),
    )
    rows.text("description", b"Test what you know.", null=rng.random(n) < 0.4)
    rows.ints("movie_id", p.movie, null=p.movie == 0)
    rows.text("source", Take(pool(SOURCES), p.source))
    rows.text("difficulty", Take(pool(DIFFICULTIES), p.difficulty))
    rows.ints("creator_id", p.creator)
    rows.ints("time_limit_seconds", p.questions * 30, null=rng.random(n) < 0.3)
    rows.bools("is_published", p.published)
    rows.timestamps("created_at", p.created)
    updated = spread(p.created, np.full(n, world.as_of), rng.random(n))
    rows.timestamps("updated_at", updated, null=rng.random(n) < 0.6)
    yield rows


def _options(p: Quizzes, part: slice, world: World) -> list[Part]:
    """The options array of each question: a TRIVIA row's answers, or four years, genres or
    budgets (in millions) with the right one at ``q_answer``."""
    kind, answer = p.q_kind[part], p.q_answer[part]
    movie, shift = p.q_movie[part], p.q_shift[part]
    n = len(kind)
    trivia = kind == TRIVIA
    year = np.where(np.isnat(world.movie_release[movie]), 2000, world.movie_year[movie])
    genre = world.movie_genres[movie, 0]
    budget = np.rint(np.nan_to_num(movie_facts(world).budget[movie]) / 1e6).astype(np.int64)
    step = np.maximum(budget // 4, 1)
    # Offsets of the four options from the right one, which sits at position `answer`
    # (budgets: always first, so that every option stays positive).
    offsets = np.cumsum(np.column_stack([np.zeros(n, np.int64), shift]), axis=1)
    offsets -= offsets[np.arange(n), np.minimum(answer, 3)][:, None]
    genre_names = pool([g[1] for g in vocab.GENRES])
    parts: list[Part] = [
        masked(Take(_TRIVIA_OPTIONS, np.maximum(p.q_row[part], 0)), trivia),
        masked(b"[", ~trivia),
    ]
    for j in range(4):
        parts += [
            masked(b'"' if j == 0 else b'", "', ~trivia),
            masked(int_text(year + offsets[:, j]), kind == YEAR),
            masked(Take(genre_names, (genre + offsets[:, j]) % len(vocab.GENRES)), kind == GENRE),
            masked(b"$", kind == BUDGET),
            masked(int_text(np.maximum(budget + offsets[:, j] * step, 1)), kind == BUDGET),
            masked(b" million", kind == BUDGET),
        ]
    parts.append(masked(b'"]', ~trivia))
    return parts


_TRIVIA_OPTIONS = pool([json.dumps(list(t[2])) for t in vocab.TRIVIA])


def quiz_questions(world: World) -> Iterator[CopyRows]:
    p = plan(world)
    total = len(p.q_quiz)
    rng = rng_for(world.seed, "quiz-questions")
    prompts = pool(
        [t[0] for t in vocab.TRIVIA]
        + ["What was the budget?", "In which year was ", "Which genre is "]
    )
    categories = pool([t[1] for t in vocab.TRIVIA] + ["production", "release", "genre"])
    explanations = pool(
        [t[3] for t in vocab.TRIVIA]
        + ["Figures reported by the studio.", "Its first release.", "Its primary genre."]
    )
    created = p.created[p.q_quiz]
    for part in sliced(total):
        k = part.stop - part.start
        kind = p.q_kind[part]
        which = np.where(kind == TRIVIA, np.maximum(p.q_row[part], 0), len(vocab.TRIVIA) + kind - 1)
        about = (kind == YEAR) | (kind == GENRE)
        ids = np.arange(part.start + 1, part.stop + 1)
        rows = CopyRows(k)
        rows.ints("id", ids)
        rows.code("external_id", "qq", ids, 8)
        rows.ints("quiz_id", p.q_quiz[part] + 1)
        rows.ints(
            "position", np.arange(part.start, part.stop) - p.first_question[p.q_quiz[part]] + 1
        )
        rows.text(
            "prompt",
            Take(prompts, which),
            masked(Take(world.movie_title, p.q_movie[part]), about),
            Take(pool(["", "?"]), about.astype(np.int64)),
        )
        rows.text("options", *_options(p, part, world))
        rows.ints("answer_index", p.q_answer[part])
        rows.text("explanation", Take(explanations, which), null=rng.random(k) < 0.2)
        rows.text("category", Take(categories, which))
        tindex = p.q_trivia_index[part]
        rows.ints("trivia_index", np.maximum(tindex, 0), null=tindex < 0)
        rows.timestamps("created_at", created[part])
        yield rows


@dataclass
class Attempts:
    quiz: I64
    user: I64  # id
    started: np.ndarray
    finished: np.ndarray  # NaT = unfinished
    answered: I64
    chosen: I64  # (n, MAX_QUESTIONS)
    score: I64  # -1 = unfinished


def attempts(world: World) -> Attempts:
    return cached(world, "quiz-attempts", lambda: _attempts(world))


def _attempts(world: World) -> Attempts:
    rng = rng_for(world.seed, "quiz-attempts-plan")
    p = plan(world)
    n = max(400, world.scale.users // 4)
    live = np.flatnonzero(p.published)
    weights = (np.arange(1, len(live) + 1) ** -0.8)[rng.permutation(len(live))]
    quiz = live[sample(Distribution(weights.astype(np.float64)), rng, n)]
    user = sample(Distribution(world.user_activity), rng, n)
    earliest = np.maximum(p.created[quiz], world.user_created[user])
    started = spread(earliest, np.full(n, world.as_of), rng.random(n) ** 0.5)
    count = p.questions[quiz]
    seconds = (count * rng.uniform(8, 40, n)).astype(np.int64)
    finished = started + seconds * SECOND
    done = (rng.random(n) < 0.85) & (finished <= world.as_of)
    answered = np.where(done, count, (rng.random(n) * count).astype(np.int64))
    chance = np.where(p.killer[quiz], KILLER, RIGHT[p.difficulty[quiz]])
    slots = np.arange(MAX_QUESTIONS)
    question = np.minimum(p.first_question[quiz][:, None] + slots, len(p.q_quiz) - 1)
    right = p.q_answer[question]
    options = p.q_options[question]
    wrong = (right + rng.integers(1, 10, (n, MAX_QUESTIONS))) % options
    wrong = np.where(wrong == right, (right + 1) % options, wrong)
    chosen = np.where(rng.random((n, MAX_QUESTIONS)) < chance[:, None], right, wrong)
    present = slots < answered[:, None]
    score = np.where(done, ((chosen == right) & present).sum(axis=1), -1)
    order = np.lexsort((started.astype(np.int64), quiz))
    return Attempts(
        quiz=quiz[order],
        user=user[order] + 1,
        started=started[order],
        finished=np.where(done, finished, np.datetime64("NaT", "s"))[order],
        answered=answered[order],
        chosen=chosen[order],
        score=score[order],
    )


def quiz_attempts(world: World) -> Iterator[CopyRows]:
    p, a = plan(world), attempts(world)
    total = len(a.quiz)
    for part in sliced(total):
        k = part.stop - part.start
        ids = np.arange(part.start + 1, part.stop + 1)
        quiz, answered = a.quiz[part], a.answered[part]
        unfinished = a.score[part] < 0
        rows = CopyRows(k)
        rows.ints("id", ids)
        rows.code("external_id", "qa", ids, 9)
        rows.ints("quiz_id", quiz + 1)
        rows.ints("user_id", a.user[part])
        rows.timestamps("started_at", a.started[part])
        rows.timestamps("finished_at", a.finished[part], null=unfinished)
        rows.ints("question_count", p.questions[quiz])
        rows.ints("score", np.maximum(a.score[part], 0), null=unfinished)
        first = p.first_question[quiz] + 1
        items = [
            [
                b'{"question_id": ',
                int_text(first + j),
                b', "chosen": ',
                int_text(a.chosen[part, j]),
                b"}",
            ]
            for j in range(MAX_QUESTIONS)
        ]
        present = [answered > j for j in range(MAX_QUESTIONS)]
        rows.text("answers", *json_array(items, present), null=answered == 0)
        yield rows
