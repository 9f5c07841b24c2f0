"""Quizzes: quizzes (some built from a movie's ``trivia``), their questions, users' attempts.

Designed here: the schema document names the section but has no page for it (DESIGN.md).
A question is multiple choice: ``options`` is a JSON array of 2 to 10 strings and
``answer_index`` the position (from 0) of the right one. An attempt records the answers given
and its score, the number of right answers out of ``question_count``, the questions the quiz
had when the attempt started (a quiz edited later does not make old scores out of range).

What a deletion does: questions and attempts go with their quiz, a quiz with the movie it is
about, an attempt with its user (it is the user's own data); a quiz outlives its author.

Not expressible as a CHECK, and so a rule for whoever writes rows: an attempt's score is the
number of its answers whose ``chosen`` is the question's ``answer_index``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from iwm_lab.models.base import Base
from iwm_lab.models.values import sql_in

if TYPE_CHECKING:
    from iwm_lab.models.catalog import Movie
    from iwm_lab.models.users import User

# quizzes.source: who or what made the quiz ("trivia": built from movies.trivia).
QUIZ_SOURCES: tuple[str, ...] = ("editorial", "trivia", "community")
QUIZ_DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")
# How many options a question offers, inclusive.
QUIZ_OPTION_COUNT: tuple[int, int] = (2, 10)

_DESIGNED = "Designed here (not in the platform's schema document): "

# jsonb_array_length fails on a non-array, and an AND's operands may run in any order: the
# CASE decides first.
_OPTIONS_ARE_STRINGS = (
    "CASE WHEN jsonb_typeof(options) = 'array' "
    f"THEN jsonb_array_length(options) BETWEEN {QUIZ_OPTION_COUNT[0]} AND {QUIZ_OPTION_COUNT[1]} "
    "AND NOT jsonb_path_exists(options, '$[*] ? (@.type() != \"string\")') "
    "ELSE false END"
)
_ANSWER_IN_OPTIONS = (
    "answer_index >= 0 AND answer_index < "
    "CASE WHEN jsonb_typeof(options) = 'array' THEN jsonb_array_length(options) ELSE 0 END"
)
_ANSWERS_FIT = (
    "CASE WHEN jsonb_typeof(answers) = 'array' "
    "THEN jsonb_array_length(answers) <= question_count ELSE answers IS NULL END"
)


class Quiz(Base):
    __tablename__ = "quizzes"
    __table_args__ = (
        CheckConstraint(sql_in("source", QUIZ_SOURCES), name="source"),
        CheckConstraint(sql_in("difficulty", QUIZ_DIFFICULTIES), name="difficulty"),
        CheckConstraint("source <> 'trivia' OR movie_id IS NOT NULL", name="trivia_has_movie"),
        CheckConstraint("time_limit_seconds >= 1", name="time_limit_positive"),
        CheckConstraint("updated_at >= created_at", name="updated_after_created"),
        {"comment": _DESIGNED + "quizzes about movies, some built from a movie's trivia."},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(50), unique=True, comment="External identifier"
    )
    title: Mapped[str] = mapped_column(String(200), nullable=False, comment="Quiz title")
    description: Mapped[str | None] = mapped_column(Text, comment="Quiz description")
    movie_id: Mapped[int | None] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"),
        comment="Movie it is about (NULL for quizzes across movies)",
    )
    source: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        comment="Who made it (editorial, trivia: built from movies.trivia, community)",
    )
    difficulty: Mapped[str | None] = mapped_column(
        String(10), comment="Stated difficulty (easy, medium, hard)"
    )
    creator_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="User who wrote it (NULL for trivia quizzes, or once the account is deleted)",
    )
    time_limit_seconds: Mapped[int | None] = mapped_column(
        Integer, comment="Time allowed for an attempt, in seconds (NULL: no limit)"
    )
    is_published: Mapped[bool] = mapped_column(
        nullable=False, server_default=false(), comment="Open to users"
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="Creation date"
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="Last update"
    )

    movie: Mapped[Movie | None] = relationship(lazy="raise")
    creator: Mapped[User | None] = relationship(lazy="raise")
    questions: Mapped[list[QuizQuestion]] = relationship(
        back_populates="quiz",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="QuizQuestion.position",
    )

    def __repr__(self) -> str:
        return f"Quiz(id={self.id!r}, title={self.title!r}, source={self.source!r})"


Index("idx_quizzes_movie_id", Quiz.movie_id, postgresql_where=Quiz.movie_id.is_not(None))


class QuizQuestion(Base):
    __tablename__ = "quiz_questions"
    __table_args__ = (
        UniqueConstraint("quiz_id", "position"),
        CheckConstraint("position >= 1", name="position_positive"),
        CheckConstraint(_OPTIONS_ARE_STRINGS, name="options_array"),
        CheckConstraint(_ANSWER_IN_OPTIONS, name="answer_in_options"),
        CheckConstraint("trivia_index >= 0", name="trivia_index_not_negative"),
        {
            "comment": _DESIGNED + "multiple-choice questions of a quiz: options and the "
            "index of the right one."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(80), unique=True, comment="External identifier"
    )
    quiz_id: Mapped[int] = mapped_column(
        ForeignKey("quizzes.id", ondelete="CASCADE"), nullable=False, comment="Quiz"
    )
    position: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Position in the quiz (1 is first)"
    )
    prompt: Mapped[str] = mapped_column(Text, nullable=False, comment="Question text")
    options: Mapped[list[str]] = mapped_column(
        JSONB, nullable=False, comment="Answer options: a JSON array of 2 to 10 strings, in order"
    )
    answer_index: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Position in options (from 0) of the right answer"
    )
    explanation: Mapped[str | None] = mapped_column(
        Text, comment="Why the answer is right (a trivia item's explanation)"
    )
    category: Mapped[str | None] = mapped_column(
        String(50), comment="Topic (e.g., production; a trivia item's category)"
    )
    trivia_index: Mapped[int | None] = mapped_column(
        Integer, comment="Position (from 0) in the movie's trivia of the item it was built from"
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When added"
    )

    quiz: Mapped[Quiz] = relationship(back_populates="questions", lazy="raise")

    def __repr__(self) -> str:
        return f"QuizQuestion(id={self.id!r}, quiz_id={self.quiz_id!r}, position={self.position!r})"


class QuizAttempt(Base):
    __tablename__ = "quiz_attempts"
    __table_args__ = (
        CheckConstraint("question_count >= 1", name="question_count_positive"),
        CheckConstraint("score BETWEEN 0 AND question_count", name="score_range"),
        CheckConstraint("finished_at >= started_at", name="finished_after_started"),
        # A finished attempt has its score; an unfinished (or abandoned) one has none.
        CheckConstraint("(finished_at IS NULL) = (score IS NULL)", name="scored_when_finished"),
        CheckConstraint(_ANSWERS_FIT, name="answers_array"),
        {
            "comment": _DESIGNED + "users' attempts at a quiz: answers given, score, when "
            "started and finished."
        },
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Internal ID")
    external_id: Mapped[str | None] = mapped_column(
        String(80), unique=True, comment="External identifier"
    )
    quiz_id: Mapped[int] = mapped_column(
        ForeignKey("quizzes.id", ondelete="CASCADE"), nullable=False, comment="Quiz"
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, comment="User"
    )
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=False), nullable=False, server_default=func.now(), comment="When started"
    )
    finished_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=False), comment="When finished (NULL: not finished)"
    )
    question_count: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Questions the quiz had when the attempt started"
    )
    score: Mapped[int | None] = mapped_column(
        Integer, comment="Right answers, 0 to question_count (NULL until finished)"
    )
    # none_as_null: None is SQL NULL (no answers yet), not the JSON null the CHECK refuses.
    answers: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSONB(none_as_null=True),
        comment="Answers given: a JSON array of {question_id, chosen} objects (chosen: the "
        "option's position from 0, or null when skipped)",
    )

    quiz: Mapped[Quiz] = relationship(lazy="raise")
    user: Mapped[User] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return (
            f"QuizAttempt(id={self.id!r}, quiz_id={self.quiz_id!r}, user_id={self.user_id!r}, "
            f"score={self.score!r})"
        )


Index("idx_quiz_attempts_quiz", QuizAttempt.quiz_id, QuizAttempt.started_at)
Index("idx_quiz_attempts_user", QuizAttempt.user_id, QuizAttempt.started_at)
