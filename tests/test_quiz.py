"""Tests for rnnviz.quiz (check, MultipleChoice, ShapeQuiz) and rnnviz.table.

Right and wrong answers must be judged correctly, feedback must never give the
expected value away, and every shape the quizzes and the table claim is compared
with what a real Keras layer returns.
"""

import itertools

import keras
import numpy as np
import pytest

import rnnviz
from rnnviz.quiz import NOT_ANSWERED, MultipleChoice, ShapeQuiz, _parse_shapes, check

CELLS = ("LSTM", "GRU", "SimpleRNN")


def keras_shapes(kind, bidirectional, return_sequences, return_state, x, units):
    """The shapes a freshly built Keras layer returns for these flags: the ground truth."""
    layer = getattr(keras.layers, kind)(units, return_sequences=return_sequences, return_state=return_state)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    out = layer(x)
    out = out if isinstance(out, (list, tuple)) else [out]
    return [tuple(int(d) for d in t.shape) for t in out]


# --------------------------------------------------------------------------- check()


def test_check_unanswered_prints_not_answered(capsys):
    assert check(None, 3, "why") is False
    assert capsys.readouterr().out.strip() == NOT_ANSWERED


def test_check_right_prints_why(capsys):
    assert check(3, 3, "Three tensors come back.") is True
    assert capsys.readouterr().out.strip() == "\u2713 Right! Three tensors come back."


def test_check_wrong_does_not_reveal_expected(capsys):
    assert check(3, 7, "Seven.", hint="Count the states.") is False
    out = capsys.readouterr().out
    assert out.startswith("\u2717 Not yet: you said 3.")
    assert "Count the states." in out
    assert "7" not in out and "Seven" not in out


@pytest.mark.parametrize(
    ("answer", "expected", "right"),
    [
        (3, 3, True),
        (3.0, 3, True),  # a whole number typed as a float is still that number
        (3.001, 3, False),  # but whole numbers are exact
        (True, 1, False),  # a bool is not a count
        (1, True, False),
        (True, True, True),
        (-0.0653, -0.06532, True),  # typed with four decimals
        (-0.0663, -0.06532, False),
        ((1, 3, 1), (1, 3, 1), True),
        ([1, 3, 1], (1, 3, 1), True),  # a list and a tuple with the same items
        ((1, 1, 3), (1, 3, 1), False),
        ((1, 3), (1, 3, 1), False),
        ([(1, 3, 1), (1, 1), (1, 1)], [(1, 3, 1), (1, 1), (1, 1)], True),
        ([(1, 3, 1), (1, 1)], [(1, 3, 1), (1, 1), (1, 1)], False),
        (" LSTM ", "lstm", True),
        ("GRU", "LSTM", False),
        ("3", 3, False),
        (np.array([0.1, 0.2]), np.array([0.1, 0.2]), True),
        ([0.1, 0.2], np.array([0.1, 0.2]), True),
        (np.array([0.1, 0.2]), np.array([0.1, 0.25]), False),
        (np.zeros((2, 2)), np.zeros((2, 3)), False),
        ({"h": (1, 1), "c": (1, 1)}, {"c": (1, 1), "h": (1, 1)}, True),
        ({"h": (1, 1)}, {"c": (1, 1), "h": (1, 1)}, False),
    ],
)
def test_check_judges_answers(answer, expected, right, capsys):
    assert check(answer, expected, "ok") is right
    out = capsys.readouterr().out
    assert out.startswith("\u2713 Right!" if right else "\u2717 Not yet:")
    assert out.count("\n") == 1  # one line, always


def test_check_accepts_the_shape_of_a_real_keras_tensor(capsys):
    out = keras.layers.LSTM(2, return_sequences=True)(np.zeros((1, 3, 1), np.float32))
    assert check(out.shape, (1, 3, 2), "ok") is True
    assert check((1, 3, 2), out.shape, "ok") is True
    assert check(out.shape, (1, 2), "ok") is False


def test_check_names_a_difference_in_kind_without_the_value(capsys):
    check("3", 3, "ok")
    assert "The answer is a number, not some text." in capsys.readouterr().out
    check([(1, 3, 1)], [(4, 5, 6), (7, 8)], "ok")
    out = capsys.readouterr().out
    assert "1 item" in out and "(4, 5, 6)" not in out and "(7, 8)" not in out


@pytest.mark.parametrize("answer", [np.zeros((1, 5, 1)), 3, True])
def test_check_asks_for_quotes_when_text_is_expected(answer, capsys):
    assert check(answer, "h", "ok", hint="Compare h and c.") is False
    out = capsys.readouterr().out
    assert "between quotes" in out and 'answer = "..."' in out
    assert "Compare h and c." in out
    assert out.count("\n") == 1


@pytest.mark.parametrize("why", [None, "", "   ", 3])
def test_check_needs_a_why(why):
    with pytest.raises(TypeError, match="why"):
        check(1, 1, why)


# --------------------------------------------------------------------------- MultipleChoice


def make_mc(**kw):
    return MultipleChoice(
        "Which gate does a GRU not have?",
        ["update", "reset", "output"],
        2,
        "A GRU has update and reset gates only.",
        **kw,
    )


def test_multiple_choice_without_a_choice_asks_to_pick():
    mc = make_mc()
    assert mc.feedback == ""
    assert mc.check() is False
    assert mc.feedback.startswith("Pick one")


def test_multiple_choice_right_and_wrong():
    mc = make_mc(explanations={0: "The update gate z blends old and new h."})
    assert mc.choose(0).check() is False
    assert mc.feedback.startswith("\u2717 Not yet:") and "update gate z blends" in mc.feedback
    assert "output" not in mc.feedback  # the right option is not given away
    assert mc.choose(1).feedback == ""  # a new choice clears the old feedback
    assert mc.check() is False
    assert mc.choose(2).check() is True
    assert mc.feedback == "\u2713 Right! A GRU has update and reset gates only."
    assert "\u2713 Right!" in mc._label.value  # the label shown is the same text


def test_multiple_choice_check_button_and_radio_drive_the_same_logic():
    mc = make_mc()
    mc._radio.value = "output"  # as a click on the radio button
    mc._button.click()
    assert mc.feedback.startswith("\u2713 Right!")


def test_multiple_choice_displays_as_a_widget():
    mc = make_mc()
    bundle = mc._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "Which gate" in repr(mc) and "(2) output" in repr(mc)
    assert mc.reveal().startswith("output:")


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"correct": 3}, ValueError),
        ({"correct": "2"}, TypeError),
        ({"options": ["only one"]}, ValueError),
        ({"options": "abc"}, TypeError),
        ({"options": ["a", "a"]}, ValueError),
        ({"why": ""}, TypeError),
        ({"explanations": ["too few"]}, ValueError),
    ],
)
def test_multiple_choice_rejects_bad_arguments(kw, error):
    args = {"question": "Q?", "options": ["a", "b"], "correct": 1, "why": "b."} | kw
    with pytest.raises(error):
        MultipleChoice(**args)


def test_multiple_choice_choose_out_of_range():
    with pytest.raises(ValueError, match="index"):
        make_mc().choose(5)


# --------------------------------------------------------------------------- ShapeQuiz


@pytest.mark.parametrize("kind", CELLS)
def test_shape_quiz_answer_matches_keras_for_every_choice(kind):
    sizes = {"units": 3, "timesteps": 4, "features": 2, "batch": 2}
    quiz = ShapeQuiz(kind, **sizes)
    x = np.zeros((2, 4, 2), np.float32)
    for bidi, seq, state in itertools.product([False, True], repeat=3):
        quiz.set(bidirectional=bidi, return_sequences=seq, return_state=state)
        truth = keras_shapes(kind, bidi, seq, state, x, 3)
        answer = quiz.answer()
        assert [s for _, s in answer] == truth
        assert quiz.predict(len(truth), truth).check() is True, quiz.feedback
        assert quiz.feedback.startswith("\u2713 Right!")


def test_shape_quiz_wrong_predictions_do_not_reveal_the_answer():
    quiz = ShapeQuiz("LSTM", units=5, timesteps=7, batch=2, return_sequences=True, return_state=True)
    # right answer: (2, 7, 5), (2, 5), (2, 5)
    for count, shapes in [
        (2, "(2, 7, 5), (2, 5)"),  # a GRU's count
        (3, "(2, 5), (2, 5), (2, 5)"),  # forgot return_sequences
        (3, "(2, 7, 5), (2, 7, 5), (2, 5)"),  # a state given a time axis
    ]:
        assert quiz.predict(count, shapes).check() is False
        assert quiz.feedback.startswith("\u2717 Not yet:")
        assert "Right" not in quiz.feedback
    # the last feedback names the wrong tensor but not the shape it should have
    assert "state_h" in quiz.feedback and "(2, 5)" not in quiz.feedback


def test_shape_quiz_unreadable_and_missing_shapes():
    quiz = ShapeQuiz("GRU")
    assert quiz.predict(1, "one by two").check() is False
    assert "Type the shapes as tuples" in quiz.feedback
    assert quiz.predict(1, "").check() is False
    assert "Type the shapes too" in quiz.feedback
    assert quiz.predict(2, "(1, 2)").check() is False
    assert "1 shape for 2 tensors" in quiz.feedback


def test_shape_quiz_changing_a_flag_clears_feedback_and_updates_code():
    quiz = ShapeQuiz("SimpleRNN", units=2)
    quiz.predict(1, [(1, 2)]).check()
    assert quiz.feedback.startswith("\u2713 Right!")
    quiz.set(return_state=True)
    assert quiz.feedback == ""
    assert quiz.code.startswith("keras.layers.SimpleRNN(2, return_state=True)(x)")
    quiz.set(bidirectional=True)
    assert quiz.code.startswith("keras.layers.Bidirectional(keras.layers.SimpleRNN(2, return_state=True))(x)")


def test_shape_quiz_buttons_drive_the_same_logic():
    quiz = ShapeQuiz("LSTM", units=2, return_state=True)
    quiz.controls["count"].value = "3"
    quiz.controls["shapes"].value = "(1, 2) (1, 2) (1, 2)"
    check_button, show_button, _ = quiz.widget.children[5].children
    check_button.click()
    assert quiz.feedback.startswith("\u2713 Right!")
    show_button.click()
    assert quiz.feedback.startswith("The answer: ") and "state_c (1, 2)" in quiz.feedback


def test_shape_quiz_surprise_is_seeded_and_clears_the_prediction():
    a, b = ShapeQuiz(seed=3), ShapeQuiz(seed=3)
    picks_a = [a.surprise().code for _ in range(6)]
    picks_b = [b.surprise().code for _ in range(6)]
    assert picks_a == picks_b
    assert picks_a != [ShapeQuiz(seed=4).surprise().code for _ in range(6)]
    assert a.controls["shapes"].value == "" and a.controls["count"].value == ""


@pytest.mark.parametrize("allow_bidirectional", [True, False])
def test_shape_quiz_surprise_asks_a_new_question_every_press(allow_bidirectional):
    quiz = ShapeQuiz(allow_bidirectional=allow_bidirectional, seed=0)
    every = len(CELLS) * 2 * 2 * (2 if allow_bidirectional else 1)  # cells x flags (x Bidirectional or not)
    shown = [quiz.code] + [quiz.surprise().code for _ in range(3 * every)]
    assert all(before != after for before, after in zip(shown[:-1], shown[1:], strict=True))  # never the question on screen
    for start in (1, 1 + every):  # each round of presses asks every question once
        assert len(set(shown[start : start + every])) == every


def test_shape_quiz_surprise_never_repeats_a_question_set_by_hand():
    quiz = ShapeQuiz(seed=5)
    for _ in range(40):
        upcoming = quiz._deck[-1] if len(quiz._deck) >= 2 else None
        if upcoming is not None:  # the learner picks, by hand, the very question surprise would ask next
            quiz.set(upcoming[0], bidirectional=upcoming[1], return_sequences=upcoming[2], return_state=upcoming[3])
        before = quiz.code
        assert quiz.surprise().code != before


def test_shape_quiz_surprise_clears_the_old_feedback():
    quiz = ShapeQuiz("LSTM", units=2, seed=0)
    assert quiz.predict(1, [(1, 2)]).check() is True
    assert quiz.feedback.startswith("\u2713 Right!")
    quiz.surprise()
    assert quiz.feedback == "" and quiz._label.value == ""
    assert quiz.controls["shapes"].value == "" and quiz.controls["count"].value == ""


def test_shape_quiz_editing_a_checked_prediction_clears_the_verdict_but_not_a_revealed_answer():
    quiz = ShapeQuiz("GRU", units=2)
    quiz.predict(1, [(1, 2)]).check()
    assert quiz.feedback.startswith("\u2713 Right!")
    quiz.controls["shapes"].value = "(1, 2, 2)"  # typed after the check: the verdict no longer applies
    assert quiz.feedback == ""
    quiz.check()
    assert quiz.feedback.startswith("\u2717 Not yet:")
    quiz.controls["count"].value = "2"
    assert quiz.feedback == ""
    show_button = quiz.widget.children[5].children[1]
    show_button.click()
    answer = quiz.feedback
    assert answer.startswith("The answer: ")
    quiz.controls["shapes"].value = "(1, 2)"  # copying from the revealed answer keeps it on screen
    assert quiz.feedback == answer


def test_shape_quiz_without_bidirectional_never_surprises_with_it():
    quiz = ShapeQuiz(allow_bidirectional=False, seed=1)
    assert all("Bidirectional" not in quiz.surprise().code for _ in range(20))


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"cell": "RNN"}, ValueError),
        ({"units": 0}, ValueError),
        ({"units": 2.5}, TypeError),
        ({"return_state": "yes"}, TypeError),
        ({"bidirectional": True, "allow_bidirectional": False}, ValueError),
    ],
)
def test_shape_quiz_rejects_bad_arguments(kw, error):
    with pytest.raises(error):
        ShapeQuiz(**kw)


@pytest.mark.parametrize(
    ("text", "shapes"),
    [
        ("(1, 3, 2), (1, 2)", [(1, 3, 2), (1, 2)]),
        ("(1,3,2)(1,2)", [(1, 3, 2), (1, 2)]),
        ("[(1, 2,), (1, 2)]", [(1, 2), (1, 2)]),
        ("  ", []),
        ("(1, x)", None),
        ("1, 2", None),
        ("(1, 2) and (1, 2)", None),
        ("()", None),
    ],
)
def test_parse_shapes(text, shapes):
    assert _parse_shapes(text) == shapes


# --------------------------------------------------------------------------- returns_table


def test_returns_table_matches_keras_row_by_row():
    table = rnnviz.returns_table(units=3, timesteps=4, features=2, batch=2, bidirectional=True)
    x = np.zeros((2, 4, 2), np.float32)
    assert len(table.rows) == 3 * 2 * 4
    for label, seq, state, pairs in table.rows:
        kind = label.removeprefix("Bidirectional(").rstrip(")")
        truth = keras_shapes(kind, label.startswith("Bidirectional"), seq, state, x, 3)
        assert [s for _, s in pairs] == truth, label
    assert [n for n, _ in table.lookup("LSTM", True, True)] == ["output", "state_h", "state_c"]
    text = repr(table)
    assert "units=3" in text and "output (2, 4, 3), state_h (2, 3), state_c (2, 3)" in text
    assert "<table>" in table._repr_html_()


def test_returns_table_rejects_unknown_cells():
    with pytest.raises(ValueError, match="cells"):
        rnnviz.returns_table(cells=("LSTM", "Transformer"))
    with pytest.raises(ValueError, match="layer"):
        rnnviz.returns_table(cells="GRU").lookup("LSTM", False, False)


def test_shape_quiz_takes_the_count_from_the_shapes_when_the_box_is_left_alone():
    quiz = ShapeQuiz("LSTM", units=4, timesteps=5, batch=2, return_state=True)
    assert quiz.controls["count"].value == ""  # the "how many:" box starts empty, not at a puzzling 0
    assert quiz.controls["count"].placeholder
    right = ", ".join(str(shape) for _, shape in quiz.answer())  # traced from the layer, not typed here
    quiz.controls["shapes"].value = right
    assert quiz.check(), quiz.feedback
    quiz.controls["count"].value = "1"  # a count typed in, and wrong: then it is judged
    assert not quiz.check()
    assert "You typed 3 shapes for 1 tensor." in quiz.feedback
    quiz.controls["count"].value = "0"  # 0 is a count like any other, not "left empty"
    assert not quiz.check()
    assert "you said 0 tensors" in quiz.feedback
    assert quiz.predict(None, right).check() is True  # predict(None, ...) leaves the box empty
    assert quiz.controls["count"].value == ""


@pytest.mark.parametrize("typed", ["three", "3 tensors", "-1", "2.5"])
def test_shape_quiz_asks_for_a_whole_number_of_tensors(typed):
    quiz = ShapeQuiz("GRU", units=2)
    quiz.controls["count"].value = typed
    quiz.controls["shapes"].value = "(1, 2)"
    assert quiz.check() is False
    assert "whole number" in quiz.feedback and repr(typed) in quiz.feedback
    assert "(1, 2)" not in quiz.feedback.split("you typed")[0]  # no answer given away


def test_quizzes_name_their_parts_and_carry_the_page_fixes():
    """The browser tests find a quiz, its Check button and its verdict by class; the invisible page-fixes widget
    (rnnviz._a11y: focus ring) rides along, and nothing in it shows."""
    from rnnviz import _a11y

    for quiz, kind in ((MultipleChoice("Q?", ["a", "b"], 0, "why"), "rnnviz-multiple-choice"),
                       (ShapeQuiz("GRU"), "rnnviz-shape-quiz")):
        classes = quiz.widget._dom_classes
        assert "rnnviz-quiz" in classes and kind in classes
        fixes = [w for w in quiz.widget.children if getattr(w, "value", None) == _a11y.page_fixes()]
        assert len(fixes) == 1 and fixes[0].layout.display == "contents"
        quiz.check()
        assert quiz._label.value and "rnnviz-verdict" in quiz._label._dom_classes


def test_page_fixes_escape_the_alt_text():
    from rnnviz import _a11y

    page = _a11y.page_fixes('x <1> & "y"')
    assert '<span class="rnnviz-alt" hidden>x &lt;1&gt; &amp; &quot;y&quot;</span>' in page
    assert page.count("<") == page.count(">")
