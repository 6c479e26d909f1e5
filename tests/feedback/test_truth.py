"""Feedback bodies: what a truth may be (table), and how it is scored."""

from __future__ import annotations

import pytest

from canaria_serving.feedback.truth import (
    MAX_ITEMS,
    FeedbackError,
    Item,
    Score,
    parse_feedback,
    score,
)

C, R = "classification", "regression"


@pytest.mark.parametrize(
    ("body", "task", "message"),
    [
        (b"{", C, "malformed JSON body"),
        (b"[]", C, 'expected a JSON object {"feedback"'),
        (b'{"feedback": {}}', C, 'expected a JSON object {"feedback"'),
        (b'{"feedback": []}', C, "empty list"),
        (b'{"feedback": [1]}', C, 'feedback[0]: expected an object with exactly "id" and "truth"'),
        (b'{"feedback": [{"id": "a"}]}', C, 'exactly "id" and "truth"'),
        (b'{"feedback": [{"id": 3, "truth": 1}]}', C, "feedback[0]: id must be a non-empty"),
        (b'{"feedback": [{"id": "", "truth": 1}]}', C, "id must be a non-empty"),
        (b'{"feedback": [{"id": "a", "truth": 1.5}]}', C, "(id 'a'): truth 1.5 has the wrong type"),
        (b'{"feedback": [{"id": "a", "truth": true}]}', C, "truth true has the wrong type"),
        (b'{"feedback": [{"id": "a", "truth": null}]}', C, "truth null has the wrong type"),
        (b'{"feedback": [{"id": "a", "truth": "cat"}]}', R, "expected a finite number"),
        (b'{"feedback": [{"id": "a", "truth": [1, "x"]}]}', R, 'truth "x" has the wrong type'),
        (b'{"feedback": [{"id": "a", "truth": []}]}', R, "truth is an empty list"),
        (
            b'{"feedback": [{"id": "a", "truth": 1}, {"id": "a", "truth": 2}]}',
            C,
            "feedback[1] (id 'a'): the same id twice",
        ),
    ],
)
def test_bad_feedback_is_refused_naming_the_problem(body: bytes, task: str, message: str) -> None:
    with pytest.raises(FeedbackError) as err:
        parse_feedback(body, task)
    assert message in str(err.value)


def test_too_many_items_are_refused() -> None:
    items = ",".join(f'{{"id": "{i}", "truth": 1}}' for i in range(MAX_ITEMS + 1))
    with pytest.raises(FeedbackError, match="at most 1000"):
        parse_feedback(f'{{"feedback": [{items}]}}'.encode(), C)


def test_good_feedback_is_read() -> None:
    body = b'{"feedback": [{"id": "a", "truth": "setosa"}, {"id": "b", "truth": [0, 2]}]}'
    assert parse_feedback(body, C) == [Item("a", "setosa"), Item("b", [0, 2])]
    assert parse_feedback(b'{"feedback": [{"id": "a", "truth": 2}]}', R) == [Item("a", 2)]


@pytest.mark.parametrize(
    ("prediction", "truth", "task", "want"),
    [
        ('["1"]', 1, C, Score(rows=1, correct=1)),  # labels compare as text
        ("[1]", "1", C, Score(rows=1, correct=1)),
        ('["a", "b", "c"]', ["a", "x", "c"], C, Score(rows=3, correct=2)),
        ("[2.5]", 1.5, R, Score(rows=1, abs_error=1.0, squared_error=1.0)),
        ("[1.0, 3.0]", [2, 1], R, Score(rows=2, abs_error=3.0, squared_error=5.0)),
        ('["a", "b"]', "a", C, None),  # one truth for two rows: does not fit
        ("[null]", 1.0, R, None),  # the model answered NaN
    ],
)
def test_scores(prediction: str, truth: object, task: str, want: Score | None) -> None:
    assert score(prediction, truth, task) == want
