"""The built-in tasks' ground truth by hand: the instruction judge's three constraints, the transitive task's
topic bonus, the heterogeneous task's annotator types and weights, and its per-type oracles.

(The heterogeneous task's cycle margins and the sentiment reward are checked in tests/online/test_online.py.)"""

import numpy as np
import pytest
from scipy.special import expit

from preflab.tasks import get_task
from preflab.tasks.instructions import Instruction, InstructionTask
from preflab.tasks.synthetic import JUNK, NEUTRAL, QUALITY, STYLE

# -- instructions -----------------------------------------------------------------------------------------------

SEA = Instruction("the sea", "blue", 5)
judge = InstructionTask.judge


def test_the_word_limit_counts_words_and_includes_the_limit():
    assert judge(SEA, "The sea is blue.") == 1.0                     # 4 words
    assert judge(SEA, "The sea is very blue.") == 1.0                # exactly 5: still within the limit
    assert judge(SEA, "The sea is very very blue.") == pytest.approx(2 / 3)   # 6: over it
    assert judge(SEA, "The sea, - is blue ... !?.") == 1.0           # punctuation is not a word
    assert judge(SEA, "The sea's so blue.") == 1.0                   # an apostrophe stays inside its word
    assert judge(SEA, ".") == pytest.approx(1 / 3)                   # no words: neither keyword nor limit


def test_the_keyword_must_be_a_whole_word_in_any_case():
    assert judge(SEA, "The BLUE sea.") == 1.0
    assert judge(SEA, "A blue-green sea.") == 1.0                    # hyphens split words
    assert judge(SEA, "The bluest sea.") == pytest.approx(2 / 3)     # a longer word is not the keyword
    assert judge(SEA, "The grey sea.") == pytest.approx(2 / 3)


def test_the_answer_must_end_with_a_period():
    assert judge(SEA, "The sea is blue.  \n") == 1.0                 # trailing whitespace is ignored
    assert judge(SEA, "The sea is blue!") == pytest.approx(2 / 3)
    assert judge(SEA, "The sea. Is blue") == pytest.approx(2 / 3)
    assert judge(SEA, "Waves crash on rocks") == pytest.approx(1 / 3)             # only the limit holds
    assert judge(SEA, "Seven waves crash on many rocks here") == 0.0


def test_instruction_prompts_and_the_judge_oracle():
    task = InstructionTask()
    assert len(task.instructions) == 16 and {i.max_words for i in task.instructions} == {12, 8}
    assert task.instructions[8].text == ("Write one sentence about the sea that uses the word 'blue'. "
                                         "Use at most 8 words.")
    prompts = task.prompts()
    assert len(prompts) == 16 and task.instructions[3].text in prompts[3]
    assert task.score(prompts[8], "Blue sea waves roll in tonight.") == 1.0
    assert task.score(prompts[8], "Blue sea waves roll in gently and slowly tonight.") == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="only scores prompts from InstructionTask.prompts"):
        task.score(task.instructions[0].text, "x.")
    # one more constraint met wins with sigmoid((1/3) / 0.1), the "about 96 %" of the docstring
    p = task.oracle().compare([prompts[0]], ["The sea is blue."], ["The sea is blue"])
    assert p[0] == pytest.approx(expit(10 / 3), abs=1e-12) and 0.96 < p[0] < 0.97


# -- synthetic word tasks ---------------------------------------------------------------------------------------

def test_the_transitive_topic_bonus_raises_the_mean_by_bonus_over_length():
    task = get_task("transitive")
    assert task.topic_bonus == 0.5 and list(task.annotators) == ["annotator"]
    assert [task.favourite(p) for p in task.prompts()] == QUALITY           # topic i: the i-th quality word
    assert task.favourite("t5 :") == QUALITY[1]
    # "exact" (t1's favourite) and "clear" are both worth 1.0; only the bonus tells them apart
    with_fav = task.utility("annotator", "t1 :", "exact the and")
    without = task.utility("annotator", "t1 :", "clear the and")
    assert with_fav == pytest.approx((1.0 + 0.5 + 0 + 0) / 3, abs=1e-12)
    assert with_fav - without == pytest.approx(task.topic_bonus / 3, abs=1e-12)
    assert task.utility("annotator", "t1 :", "exact exact um um") == pytest.approx((1.5 + 1.5 - 1.5 - 1.5) / 4,
                                                                                  abs=1e-12)
    assert task.utility("annotator", "t0 :", "exact the and") == pytest.approx(without, abs=1e-12)   # not t0's word
    assert task.score("t1 :", "exact the and") == with_fav
    p = task.oracle().compare(["t1 :"], ["exact the and"], ["clear the and"])
    assert p[0] == pytest.approx(expit((0.5 / 3) / 0.25), abs=1e-12)


def test_word_values_unknown_words_and_the_empty_response():
    task = get_task("transitive")
    assert task.utility("annotator", "t0 :", "") == -2.0
    assert task.utility("annotator", "t0 :", "banana the") == pytest.approx((-2.0 + 0.0) / 2)
    assert task.utility("annotator", "t2 :", "formal casual vivid um") == pytest.approx((0.5 + 0 - 0.5 - 1.5) / 4)


def test_the_heterogeneous_task_has_three_rotated_annotator_types_and_their_weights():
    task = get_task("heterogeneous")
    assert list(task.annotators) == ["type_1", "type_2", "type_3"]
    assert task.weights == [0.45, 0.35, 0.20] and task.topic_bonus == 0.0
    order = {"type_1": "ABC", "type_2": "BCA", "type_3": "CAB"}
    for name, (first, second, third) in order.items():
        expected = {**{w: 0.0 for w in QUALITY + NEUTRAL}, **{w: -1.5 for w in JUNK},
                    **{w: 1.0 for w in STYLE[first]}, **{w: 0.0 for w in STYLE[second]},
                    **{w: -1.0 for w in STYLE[third]}}
        assert task.annotators[name] == expected, name
    # no topic bonus: t0's favourite is worth its plain value
    assert task.utility("type_1", "t0 :", "clear formal") == pytest.approx(0.5)
    # the task's reward is the weighted mean utility: formal is +1 / -1 / 0 for the three types
    assert task.score("t0 :", "formal") == pytest.approx(0.45 * 1.0 + 0.35 * -1.0 + 0.20 * 0.0)


def test_annotator_oracles_are_single_types_whose_mixture_is_the_task_oracle():
    task = get_task("heterogeneous")
    oracles = task.annotator_oracles()
    assert [o.name for o in oracles] == ["heterogeneous-type_1", "heterogeneous-type_2", "heterogeneous-type_3"]
    rng = np.random.default_rng(0)
    words = np.array(task.words)

    def response():
        return " ".join(rng.choice(words, size=rng.integers(1, 6)))
    n = 200
    prompts = [task.prompts()[i] for i in rng.integers(0, task.n_topics, n)]
    first, second = [response() for _ in range(n)], [response() for _ in range(n)]
    per_type = np.stack([o.compare(prompts, first, second) for o in oracles])      # [3, n]
    for k, (name, o) in enumerate(zip(task.annotators, oracles)):
        assert len(o.utilities) == 1
        u = np.array([[task.utility(name, x, y) for x, y in zip(prompts, ys)] for ys in (first, second)])
        np.testing.assert_allclose(o.score(prompts, first), u[0], rtol=0, atol=1e-12)   # a BT reward oracle
        np.testing.assert_allclose(per_type[k], expit((u[0] - u[1]) / task.temperature), rtol=0, atol=1e-12)
    mixed = np.array(task.weights) @ per_type
    np.testing.assert_allclose(mixed, task.oracle().compare(prompts, first, second), rtol=0, atol=1e-12)
    assert np.abs(per_type[0] - per_type[1]).max() > 0.5          # the types do disagree on these pairs
    with pytest.raises(ValueError, match="task 'sentiment' has a single reward"):
        get_task("sentiment").annotator_oracles()
