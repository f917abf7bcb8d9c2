"""Self-checked exercises for the lessons: a check function and two small quiz widgets.

* :func:`check` compares a learner's answer with the expected one and prints a
  single line: "Not answered yet", "✓ Right! <why>", or "✗ Not yet: ..." with a hint
  that never gives the expected value away.
* :class:`MultipleChoice` is a question with radio buttons, a Check button and a
  feedback line; each option may carry its own explanation.
* :class:`ShapeQuiz` lets the learner pick a cell (``LSTM``, ``GRU``,
  ``SimpleRNN``, optionally inside ``Bidirectional``) and the two flags, predict
  how many tensors come back and their shapes, and checks the prediction against
  :meth:`rnnviz.Trace.returns` of a real, traced Keras layer.

Both widgets display themselves in JupyterLab and can be driven without a
browser (``choose`` / ``set`` / ``predict`` / ``check``), which is how the tests
use them. ``feedback`` always holds the text shown.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence

import numpy as np

from . import _checks
from .trace import SUPPORTED_KINDS

__all__ = ["MultipleChoice", "ShapeQuiz", "check"]

NOT_ANSWERED = "Not answered yet: replace None with your answer and run the cell again."
#: Every verdict starts with a symbol and a word, so right and wrong never rest on colour alone.
RIGHT, NOT_YET = "\u2713 Right!", "\u2717 Not yet:"


# --------------------------------------------------------------------------- check()


def check(answer, expected, why: str, hint: str | None = None, *, rtol: float = 1e-3, atol: float = 1e-4) -> bool:
    """Print whether ``answer`` matches ``expected`` and return ``True`` if it does.

    * ``answer``: what the learner wrote; ``None`` means "not answered yet".
    * ``expected``: the right answer: a number, a bool, a string (compared without
      case or surrounding spaces), a shape tuple such as ``(1, 3, 1)``, a list of
      those, a dict, or a NumPy array (compared by shape, then with ``np.allclose``).
      A list and a tuple with the same items count as equal, and so do a shape
      tuple and a Keras/TensorFlow shape object.
    * ``why``: the explanation printed after "Right!".
    * ``hint``: printed after a wrong answer; it must not contain the expected value.
    * ``rtol``, ``atol``: tolerance for floats (defaults accept a value typed with 4 decimals).

    Whole numbers and bools are compared exactly. A wrong answer prints what the
    learner said and, where it can tell, how the answer differs in kind (a number
    where a shape was expected, the wrong number of items) without revealing it.
    Where text is expected and something else was given (``answer = tr.h`` for
    ``"h"``), it says to put the answer between quotes. (``answer = h`` with no such
    name stops with Python's NameError before ``check`` runs; the exercise's
    comment asks for the quotes.)
    """
    if not isinstance(why, str) or not why.strip():
        raise TypeError(f"why: expected a non-empty str explaining the right answer, got {why!r}.")
    if hint is not None and not isinstance(hint, str):
        raise TypeError(f"hint: expected a str or None, got {type(hint).__name__}.")
    if answer is None:
        print(NOT_ANSWERED)
        return False
    if _equal(answer, expected, rtol, atol):
        print(f"{RIGHT} {why.strip()}")
        return True
    parts = [f"{NOT_YET} you said {_show(answer)}."]
    mismatch = _kind_mismatch(answer, expected)
    if mismatch:
        parts.append(mismatch)
    parts.append(hint.strip() if hint else "Look back at the cells above and try again.")
    print(" ".join(parts))
    return False


def _is_number(v) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_))


def _is_bool(v) -> bool:
    return isinstance(v, (bool, np.bool_))


def _as_sequence(v):
    """``v`` as a tuple if it is a list, tuple or shape-like object (TensorShape), else ``None``."""
    if isinstance(v, (list, tuple)):
        return tuple(v)
    if hasattr(v, "as_list"):  # tf.TensorShape
        try:
            return tuple(v.as_list())
        except ValueError:
            return None
    return None


def _equal(answer, expected, rtol: float, atol: float) -> bool:
    if expected is None:
        return answer is None
    if _is_bool(expected):
        return _is_bool(answer) and bool(answer) == bool(expected)
    if isinstance(expected, str):
        return isinstance(answer, str) and answer.strip().lower() == expected.strip().lower()
    if _is_number(expected):
        if not _is_number(answer):
            return False
        if isinstance(expected, numbers.Integral):
            return float(answer) == float(expected)
        return bool(np.isclose(float(answer), float(expected), rtol=rtol, atol=atol))
    if isinstance(expected, np.ndarray) or isinstance(answer, np.ndarray):
        try:
            a, e = np.asarray(answer), np.asarray(expected)
        except (TypeError, ValueError):
            return False
        if a.shape != e.shape:
            return False
        if a.dtype.kind in "biuf" and e.dtype.kind in "biuf":
            return bool(np.allclose(a.astype(float), e.astype(float), rtol=rtol, atol=atol))
        return bool(np.all(a == e))
    if isinstance(expected, dict):
        return (
            isinstance(answer, dict)
            and set(answer) == set(expected)
            and all(_equal(answer[k], expected[k], rtol, atol) for k in expected)
        )
    exp_seq = _as_sequence(expected)
    if exp_seq is not None:
        ans_seq = _as_sequence(answer)
        return (
            ans_seq is not None
            and len(ans_seq) == len(exp_seq)
            and all(_equal(a, e, rtol, atol) for a, e in zip(ans_seq, exp_seq, strict=True))
        )
    return bool(answer == expected)


def _kind_of(v) -> str:
    if _is_bool(v):
        return "True or False"
    if _is_number(v):
        return "a number"
    if isinstance(v, str):
        return "some text"
    if isinstance(v, np.ndarray):
        return "an array"
    if isinstance(v, dict):
        return "a dict"
    if _as_sequence(v) is not None:
        return "a list or tuple"
    return f"a {type(v).__name__}"


def _kind_mismatch(answer, expected) -> str:
    """A sentence on how the answer differs in kind from the expected one, or ``""``."""
    ka, ke = _kind_of(answer), _kind_of(expected)
    if ke == "an array" and ka in ("a list or tuple", "a number"):
        return ""  # arrays accept nested lists; a shape difference is the learner's to find
    if ka != ke and ke == "some text":
        return (
            f"The answer is some text, not {ka}: put it between quotes, as in answer = \"...\" "
            "(without the quotes Python reads a name, not text)."
        )
    if ka != ke:
        return f"The answer is {ke}, not {ka}."
    seq_a, seq_e = _as_sequence(answer), _as_sequence(expected)
    if seq_a is not None and seq_e is not None and len(seq_a) != len(seq_e):
        return f"Your answer has {len(seq_a)} item{'s' if len(seq_a) != 1 else ''}, and that is not the right count."
    if isinstance(expected, np.ndarray):
        a = np.asarray(answer)
        if a.shape != expected.shape:
            return f"Your array has shape {a.shape}, and that is not the right shape."
    return ""


def _show(v) -> str:
    if isinstance(v, np.ndarray):
        return " ".join(np.array2string(v, precision=4, suppress_small=True, separator=", ").split())
    if hasattr(v, "as_list"):
        return str(tuple(v.as_list()))
    return repr(v)


# --------------------------------------------------------------------------- MultipleChoice


class MultipleChoice:
    """A multiple-choice question: radio buttons, a Check button and a feedback line.

    * ``question``: the question, plain text (shown in bold).
    * ``options``: two or more answers to choose from, as strings.
    * ``correct``: the index of the right option in ``options``.
    * ``why``: why the right option is right; shown after "Right!".
    * ``explanations``: optional, one string per option (or a dict index -> string):
      shown when the learner picks that wrong option, so a wrong answer says why.

    Drive it without a browser with :meth:`choose` and :meth:`check`; ``feedback``
    holds the text shown, ``widget`` the ipywidgets box that is displayed.
    """

    def __init__(
        self,
        question: str,
        options: Sequence[str],
        correct: int,
        why: str,
        explanations: Sequence[str] | dict[int, str] | None = None,
    ) -> None:
        if not isinstance(question, str) or not question.strip():
            raise TypeError(f"question: expected a non-empty str, got {question!r}.")
        if isinstance(options, str) or not isinstance(options, Sequence):
            raise TypeError(f"options: expected a list of strings, got {type(options).__name__}. Pass e.g. ['A', 'B'].")
        options = list(options)
        if len(options) < 2 or not all(isinstance(o, str) for o in options):
            raise ValueError(f"options: expected two or more strings, got {options!r}.")
        if len(set(options)) != len(options):
            raise ValueError(f"options: expected distinct strings, got a repeated one in {options!r}.")
        self.correct = _checks.integer(correct, "correct", 0, len(options) - 1)
        if not isinstance(why, str) or not why.strip():
            raise TypeError(f"why: expected a non-empty str explaining the right answer, got {why!r}.")
        self.question, self.options, self.why = question, options, why.strip()
        self.explanations = _explanations(explanations, len(options))

        import ipywidgets as w

        self._radio = w.RadioButtons(options=options, value=None, layout=w.Layout(width="max-content"))
        self._button = w.Button(description="Check", button_style="primary")
        self._label = w.HTML(value="")
        self._button.on_click(lambda _: self.check())
        self._radio.observe(lambda _: self._clear(), names="value")
        title = w.HTML(value=f"<b>{_escape(question)}</b>")
        self.widget = w.VBox([title, self._radio, self._button, self._label, _page_fixes()])
        _name_parts(self.widget, "rnnviz-multiple-choice", self._button, self._label)
        self._feedback = ""

    @property
    def feedback(self) -> str:
        """The feedback text currently shown (empty before the first check)."""
        return self._feedback

    @property
    def chosen(self) -> int | None:
        """The index of the chosen option, or ``None``."""
        return None if self._radio.value is None else self.options.index(self._radio.value)

    def choose(self, index: int) -> MultipleChoice:
        """Select option ``index`` (0-based), as a click on its radio button would; returns ``self``."""
        index = _checks.integer(index, "index", 0, len(self.options) - 1)
        self._radio.value = self.options[index]
        return self

    def check(self) -> bool:
        """Judge the chosen option, show the feedback and return ``True`` if it is right."""
        i = self.chosen
        if i is None:
            ok, text = False, "Pick one of the answers first, then press Check."
        elif i == self.correct:
            ok, text = True, f"{RIGHT} {self.why}"
        else:
            reason = self.explanations.get(i, "Think about what the lesson showed, and try another answer.")
            ok, text = False, f"{NOT_YET} “{self.options[i]}” is not it. {reason}"
        self._show(text, ok)
        return ok

    def reveal(self) -> str:
        """The right option and why, as text (for a solution cell)."""
        return f"{self.options[self.correct]}: {self.why}"

    def _show(self, text: str, ok: bool) -> None:
        self._feedback = text
        colour = "#1a7f37" if ok else "#b35900"
        self._label.value = f'<span style="color:{colour}">{_escape(text)}</span>'

    def _clear(self) -> None:
        self._feedback = ""
        self._label.value = ""

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, plus the question and its choices for viewers without a kernel."""
        from . import _static

        return _static.bundle(self.widget._repr_mimebundle_(**kwargs), _static.quiz_text(self.question, self.options),
                              _static.quiz_html(self.question, self.options))

    def __repr__(self) -> str:
        lines = [f"MultipleChoice: {self.question}"] + [f"  ({i}) {o}" for i, o in enumerate(self.options)]
        return "\n".join(lines)


def _explanations(value, n: int) -> dict[int, str]:
    if value is None:
        return {}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[_checks.integer(k, "explanations key", 0, n - 1)] = str(v)
        return out
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != n:
        raise ValueError(
            f"explanations: expected one string per option ({n}) or a dict index -> string, got {value!r}."
        )
    return {i: str(v) for i, v in enumerate(value)}


def _page_fixes():
    """An invisible widget with the focus style and the page-side fixes of :mod:`rnnviz._a11y`."""
    import ipywidgets as w

    from . import _a11y

    return w.HTML(value=_a11y.page_fixes(), layout=w.Layout(display="contents"))


def _name_parts(widget, kind: str, check_button, verdict) -> None:
    """Stable CSS classes for styling and for the browser tests: the quiz, its Check button and its verdict line."""
    widget.add_class("rnnviz-quiz")
    widget.add_class(kind)
    check_button.add_class("rnnviz-check")
    verdict.add_class("rnnviz-verdict")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- ShapeQuiz

CELLS = SUPPORTED_KINDS  # the cells the quiz asks about: every kind rnnviz traces


class ShapeQuiz:
    """Predict what a Keras recurrent layer returns, then check it against the layer itself.

    The learner picks a cell (``"LSTM"``, ``"GRU"`` or ``"SimpleRNN"``), whether it sits in
    ``Bidirectional``, and the two flags; types how many tensors come back and their
    shapes, e.g. ``(1, 3, 2), (1, 2), (1, 2)``; and presses Check. The answer is computed
    by tracing a real Keras layer of that kind on an input ``(batch, timesteps, features)``
    with :func:`rnnviz.trace` and reading :meth:`Trace.returns` for the flags.

    * ``cell``, ``bidirectional``, ``return_sequences``, ``return_state``: the starting choice.
    * ``units``, ``timesteps``, ``features``, ``batch``: the sizes of the layer and input
      (whole numbers from 1 to 64), shown in the question.
    * ``allow_bidirectional``: show the Bidirectional box (default ``True``).
    * ``seed``: seeds :meth:`surprise`, which moves to another cell and flags at each press
      (the same seed gives the same questions in the same order).

    The "how many" box starts empty; left empty, the count is read from the shapes typed.

    Headless use: ``q.set(cell="GRU", return_state=True)``, ``q.predict(2, [(1, 2), (1, 2)])``,
    ``q.check()``; ``q.feedback`` holds the text shown and ``q.answer()`` the right shapes.
    """

    def __init__(
        self,
        cell: str = "LSTM",
        *,
        units: int = 2,
        timesteps: int = 3,
        features: int = 1,
        batch: int = 1,
        return_sequences: bool = False,
        return_state: bool = False,
        bidirectional: bool = False,
        allow_bidirectional: bool = True,
        seed: int = 0,
    ) -> None:
        cell = _checks.choice(cell, "cell", CELLS)
        self.units = _checks.integer(units, "units", 1, 64)
        self.timesteps = _checks.integer(timesteps, "timesteps", 1, 64)
        self.features = _checks.integer(features, "features", 1, 64)
        self.batch = _checks.integer(batch, "batch", 1, 64)
        flags = {
            "return_sequences": _checks.flag(return_sequences, "return_sequences"),
            "return_state": _checks.flag(return_state, "return_state"),
            "bidirectional": _checks.flag(bidirectional, "bidirectional"),
        }
        allow_bidirectional = _checks.flag(allow_bidirectional, "allow_bidirectional")
        if flags["bidirectional"] and not allow_bidirectional:
            raise ValueError("bidirectional: True needs allow_bidirectional=True, got allow_bidirectional=False.")
        self._rng = np.random.default_rng(_checks.integer(seed, "seed", 0))
        self._deck: list[tuple[str, bool, bool, bool]] = []  # questions surprise() has still to ask
        self._traces: dict = {}

        import ipywidgets as w

        self.controls = {
            "cell": w.ToggleButtons(options=list(CELLS), value=cell, description="cell"),
            "bidirectional": w.Checkbox(value=flags["bidirectional"], description="inside Bidirectional"),
            "return_sequences": w.Checkbox(value=flags["return_sequences"], description="return_sequences"),
            "return_state": w.Checkbox(value=flags["return_state"], description="return_state"),
            # Starts empty. Left empty, the count is read from the shapes typed, so a learner who types
            # every shape right is never marked wrong for leaving this box alone.
            "count": w.Text(value="", placeholder="e.g. 3", description="how many:"),
            "shapes": w.Text(value="", placeholder="e.g. (1, 3, 2), (1, 2)", description="shapes:"),
        }
        self.controls["bidirectional"].layout.display = None if allow_bidirectional else "none"
        for key in ("cell", "bidirectional", "return_sequences", "return_state"):
            self.controls[key].observe(lambda _: self._on_change(), names="value")
        for key in ("count", "shapes"):  # an edited prediction has not been checked yet
            self.controls[key].observe(lambda _: self._clear_verdict(), names="value")
        check_b = w.Button(description="Check", button_style="primary")
        check_b.on_click(lambda _: self.check())
        show_b = w.Button(description="Show answer")
        show_b.on_click(lambda _: self._show(self.reveal(), None))
        surprise_b = w.Button(description="Surprise me")
        surprise_b.on_click(lambda _: self.surprise())
        self._code = w.HTML()
        self._label = w.HTML()
        self._feedback = ""
        self._verdict: bool | None = None  # True/False after Check, None for no feedback or a revealed answer
        intro = w.HTML(
            f"<b>Predict what comes back.</b> Input x has shape ({self.batch}, {self.timesteps}, {self.features}) "
            f"(batch, timesteps, features); the layer has units={self.units}. Pick a layer and flags, "
            "then type how many tensors Keras returns and their shapes, in order. "
            "(Leave <i>how many</i> empty to let your shapes do the counting.)"
        )
        c = self.controls
        self.widget = w.VBox(
            [
                intro,
                c["cell"],
                w.HBox([c["bidirectional"], c["return_sequences"], c["return_state"]]),
                self._code,
                w.HBox([c["count"], c["shapes"]]),
                w.HBox([check_b, show_b, surprise_b]),
                self._label,
                _page_fixes(),
            ]
        )
        _name_parts(self.widget, "rnnviz-shape-quiz", check_b, self._label)
        self._on_change()

    # ---- the learner's side
    def set(self, cell=None, *, bidirectional=None, return_sequences=None, return_state=None) -> ShapeQuiz:
        """Change the cell and/or flags, as clicking the controls would; returns ``self``."""
        if cell is not None:
            self.controls["cell"].value = _checks.choice(cell, "cell", CELLS)
        for name, value in (
            ("bidirectional", bidirectional),
            ("return_sequences", return_sequences),
            ("return_state", return_state),
        ):
            if value is not None:
                self.controls[name].value = _checks.flag(value, name)
        return self

    def predict(self, count: int | None, shapes) -> ShapeQuiz:
        """Type a prediction: ``count`` tensors with ``shapes`` (a list of tuples, or text
        such as ``"(1, 3, 2), (1, 2)"``); returns ``self``. ``count=None`` leaves the
        "how many" box empty, so the shapes typed give the count."""
        self.controls["count"].value = "" if count is None else str(_checks.integer(count, "count", 0, 9))
        if not isinstance(shapes, str):
            try:
                shapes = ", ".join(str(tuple(int(n) for n in s)) for s in shapes)
            except (TypeError, ValueError):
                raise TypeError(
                    f"shapes: expected a list of shape tuples such as [(1, 3, 2), (1, 2)] or the same as text, "
                    f"got {shapes!r}."
                ) from None
        self.controls["shapes"].value = shapes
        return self

    def check(self) -> bool:
        """Compare the prediction with what Keras returns; show the feedback; ``True`` if right."""
        right = self.answer()
        names = [n for n, _ in right]
        shapes = [s for _, s in right]
        count_text = self.controls["count"].value.strip()
        if count_text and not re.fullmatch(r"\d+", count_text):
            self._show(
                f"Type how many tensors as a whole number, e.g. 3 (you typed {count_text!r}), "
                "or leave the box empty to let your shapes do the counting.",
                False,
            )
            return False
        count = int(count_text) if count_text else None
        typed = _parse_shapes(self.controls["shapes"].value)
        if typed is None:
            self._show(
                "Type the shapes as tuples separated by commas, e.g. (1, 3, 2), (1, 2): one tuple per tensor.", False
            )
            return False
        if not typed:
            self._show("Type the shapes too, one tuple per tensor in order, e.g. (1, 3, 2), (1, 2).", False)
            return False
        problems = []
        if count is None:  # the box left empty: the shapes typed say how many
            count = len(typed)
        if count != len(right):
            problems.append(
                f"you said {count} tensor{'s' if count != 1 else ''}; that is not how many come back. "
                + self._count_hint()
            )
        if len(typed) != count:
            problems.append(f"You typed {len(typed)} shape{'s' if len(typed) != 1 else ''} "
                            f"for {count} tensor{'s' if count != 1 else ''}.")
        elif count == len(right):
            wrong = [i for i, (a, e) in enumerate(zip(typed, shapes, strict=True)) if a != e]
            for i in wrong[:2]:
                problems.append(
                    f"tensor {i + 1} ({names[i]}) does not have shape {typed[i]}. " + self._shape_hint(names[i])
                )
        if problems:
            self._show(f"{NOT_YET} " + " ".join(problems), False)
            return False
        self._show(f"{RIGHT} {self._explain()}", True)
        return True

    def answer(self) -> list[tuple[str, tuple[int, ...]]]:
        """What Keras returns for the current choice: ``(name, shape)`` pairs in Keras's order."""
        c = self.controls
        tr = self._trace(c["cell"].value, c["bidirectional"].value)
        pairs = tr.returns(c["return_sequences"].value, c["return_state"].value)
        return [(name, tuple(int(n) for n in arr.shape)) for name, arr in pairs]

    def reveal(self) -> str:
        """The right answer with its explanation, as text."""
        return "The answer: " + self._explain()

    def surprise(self) -> ShapeQuiz:
        """Move to a new question: another cell and flags, never the one on screen; returns ``self``.

        The questions come from a shuffled deck of every allowed choice (seeded by ``seed``):
        each comes up once before any repeats, and the same seed gives the same order.
        The prediction boxes and the feedback are cleared.
        """
        if len(self._deck) < 2:  # a fresh shuffle; a question left over from the last one is asked first
            self._deck = self._shuffled_questions() + self._deck
        current = self._question()
        if self._deck[-1] == current:  # never the question already on screen: ask that one later
            i = max(i for i, q in enumerate(self._deck) if q != current)
            self._deck[i], self._deck[-1] = self._deck[-1], self._deck[i]
        cell, bidirectional, return_sequences, return_state = self._deck.pop()
        self.set(cell, bidirectional=bidirectional, return_sequences=return_sequences, return_state=return_state)
        self.controls["shapes"].value = ""
        self.controls["count"].value = ""
        self._on_change()  # a new question clears the feedback, even if no control changed
        return self

    @property
    def feedback(self) -> str:
        """The feedback text currently shown (empty after a change of cell or flags)."""
        return self._feedback

    @property
    def code(self) -> str:
        """The Keras line for the current choice."""
        c = self.controls
        args = [str(self.units)]
        args += [f"{k}=True" for k in ("return_sequences", "return_state") if c[k].value]
        layer = f"keras.layers.{c['cell'].value}({', '.join(args)})"
        if c["bidirectional"].value:
            layer = f"keras.layers.Bidirectional({layer})"
        return f"{layer}(x)   # x.shape == {(self.batch, self.timesteps, self.features)}"

    # ---- internals
    def _question(self) -> tuple[str, bool, bool, bool]:
        c = self.controls
        return (c["cell"].value, c["bidirectional"].value, c["return_sequences"].value, c["return_state"].value)

    def _shuffled_questions(self) -> list[tuple[str, bool, bool, bool]]:
        wrappers = (False, True) if self.controls["bidirectional"].layout.display != "none" else (False,)
        questions = [
            (cell, bidi, seq, state)
            for cell in CELLS
            for bidi in wrappers
            for seq in (False, True)
            for state in (False, True)
        ]
        return [questions[i] for i in self._rng.permutation(len(questions))]

    def _trace(self, kind: str, bidirectional: bool):
        key = (kind, bidirectional)
        if key not in self._traces:
            from ._quiet import import_keras
            from .trace import trace

            keras = import_keras()
            layer = getattr(keras.layers, kind)(self.units)
            if bidirectional:
                layer = keras.layers.Bidirectional(layer)
            x = np.zeros((self.batch, self.timesteps, self.features), np.float32)
            self._traces[key] = trace(layer, x)
        return self._traces[key]

    def _count_hint(self) -> str:
        return (
            "Start with one tensor, the output. return_state adds the final states: "
            "an LSTM carries two (h and c), a GRU and a SimpleRNN one (h); inside Bidirectional "
            "each direction adds its own."
        )

    def _shape_hint(self, name: str) -> str:
        if "output" in name:
            return (
                "The output is (batch, units) without return_sequences and (batch, timesteps, units) with it; "
                "Bidirectional concatenates the two directions along the last axis."
            )
        return "Every state is (batch, units): one row of units numbers per sample, whatever the flags."

    def _explain(self) -> str:
        c = self.controls
        right = self.answer()
        listed = ", ".join(f"{n} {s}" for n, s in right)
        seq = c["return_sequences"].value
        out = "the hidden state at every timestep" if seq else "the hidden state at the last timestep only"
        text = f"{self.code.split('   #')[0]} returns {len(right)} tensor{'s' if len(right) > 1 else ''}: {listed}. "
        text += f"The output is {out}"
        text += " (both directions side by side)." if c["bidirectional"].value else "."
        if c["return_state"].value:
            states = "h and c" if c["cell"].value == "LSTM" else "h only"
            article = "an" if c["cell"].value == "LSTM" else "a"
            text += f" return_state appends the final states: {article} {c['cell'].value} carries {states}"
            text += ", once per direction." if c["bidirectional"].value else "."
        return text

    def _on_change(self) -> None:
        self._code.value = f"<code>{_escape(self.code)}</code>"
        self._show("", None)

    def _clear_verdict(self) -> None:
        """Remove a Right!/Not yet verdict once the prediction it judged is edited; keep a revealed answer."""
        if self._verdict is not None:
            self._show("", None)

    def _show(self, text: str, ok: bool | None) -> None:
        self._feedback = text
        self._verdict = ok if text else None
        colour = {True: "#1a7f37", False: "#b35900", None: "#333333"}[ok]
        self._label.value = f'<span style="color:{colour}">{_escape(text)}</span>' if text else ""

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, plus the question and what to choose for viewers without a kernel."""
        from . import _static

        question = (f"Predict what comes back: x has shape {(self.batch, self.timesteps, self.features)} "
                    f"(batch, timesteps, features) and the layer has units={self.units}. How many tensors "
                    "does Keras return, and what are their shapes, in order?")
        choices = [f"cell: {', '.join(CELLS[:-1])} or {CELLS[-1]}", "return_sequences: False or True",
                   "return_state: False or True"]
        if self.controls["bidirectional"].layout.display != "none":
            choices.insert(1, "inside Bidirectional or not")
        start = f"It starts at: {self.code}"
        return _static.bundle(self.widget._repr_mimebundle_(**kwargs), _static.quiz_text(question, choices, start),
                              _static.quiz_html(question, choices, start))

    def __repr__(self) -> str:
        return f"ShapeQuiz: {self.code}"


def _parse_shapes(text: str) -> list[tuple[int, ...]] | None:
    """``"(1, 3, 2), (1, 2)"`` -> ``[(1, 3, 2), (1, 2)]``; ``[]`` for blank text; ``None`` if unreadable."""
    text = text.strip()
    if not text:
        return []
    groups = re.findall(r"\(([^()]*)\)", text)
    leftover = re.sub(r"\([^()]*\)", "", text)
    if not groups or re.search(r"[^\s,;\[\]]", leftover):
        return None
    shapes = []
    for g in groups:
        items = [p.strip() for p in g.split(",") if p.strip()]
        if not items or not all(re.fullmatch(r"\d+", p) for p in items):
            return None
        shapes.append(tuple(int(p) for p in items))
    return shapes
