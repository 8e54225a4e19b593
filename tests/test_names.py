"""What crosses from the kernel into the tests, read from the course's cells (autograder/judge/names.py)."""
from autograder.judge.names import crossing, forbidden_lists, graded_function, reads_and_binds
from autograder.protocol import Cell, CellKind, Side

SETUP = Cell("import numpy as np\nfrom seqlab.testing import check_close\n", Side.BOTH, CellKind.COURSE, "setup")


def _test(source: str, gid: str = "test_f_visible") -> Cell:
    return Cell(source, Side.JUDGE, CellKind.COURSE, gid)


def test_a_contract_name_the_tests_call_crosses():
    c = crossing([SETUP, Cell("def f(x):\n    return x\n", Side.KERNEL, CellKind.SOLUTION, "f"), _test("check_close('f', f(1), 1)")])
    assert c.admits("f", course_cell=False) and "f" in c.answers


def test_a_builtin_never_crosses_even_when_the_tests_call_it():
    c = crossing([SETUP, _test("for n in range(3):\n    check_close('f', f(n), sorted(set([n])))\n")])
    assert not any(c.admits(n, False) for n in ("range", "sorted", "set", "print", "len"))
    assert c.admits("f", False)


def test_a_name_any_judge_cell_binds_never_crosses_even_a_later_one():
    cells = [SETUP, _test("check_close('f', f(X), expected)"), _test("X, expected = 1, 2\n", "test_g_visible")]
    c = crossing(cells)
    assert not c.admits("X", False) and not c.admits("expected", False) and not c.admits("check_close", False)


def test_reads_inside_functions_lambdas_and_comprehensions_count_locals_do_not():
    reads, binds = reads_and_binds("def helper(n):\n    rnn_step = n\n    return rnn_forward(n)\n"
                                   "g = lambda: LSTM\n[KVCache for _ in range(2)]\nclass T:\n    y = softmax\n")
    assert {"rnn_forward", "LSTM", "KVCache", "softmax"} <= reads
    assert "rnn_step" not in reads and {"helper", "g", "T"} <= binds


def test_a_name_a_course_kernel_cell_defines_crosses_only_from_that_cell():
    given = Cell("class RNN:\n    pass\n", Side.KERNEL, CellKind.COURSE, "given_rnn")
    c = crossing([SETUP, given, _test("tbptt_forward(RNN(), 2)", "test_tbptt_forward_visible")])
    assert c.admits("RNN", course_cell=True) and not c.admits("RNN", course_cell=False)
    assert c.admits("tbptt_forward", course_cell=False)


def test_ipython_names_and_private_names_never_cross():
    c = crossing([SETUP, _test("get_ipython(); _helper(1); In")])
    assert not any(c.admits(n, False) for n in ("get_ipython", "_helper", "In"))


def test_magics_are_read_as_ipython_runs_them():
    reads, binds = reads_and_binds("%pip install -q x\nimport seqlab\ny = f(1)\n")
    assert "f" in reads and {"seqlab", "y"} <= binds


def test_each_test_cell_grades_the_function_its_id_names():
    assert graded_function("test_RNN_hidden") == "RNN"
    assert graded_function("test_rnn_step_visible") == "rnn_step"
    assert graded_function("test_clip_grad_norm_torch_visible") == "clip_grad_norm_torch"
    assert graded_function("setup") is None and graded_function(None) is None


def test_forbidden_lists_are_read_from_the_visible_tests():
    lists = forbidden_lists(["check_own_work(RNN, forbidden=['torch.nn.RNN', 'torch._VF'])\nx = 1\n",
                             "check_own_work(rnn_step, ['torch'])", "check_own_work(f, forbidden=[])",
                             "check_own_work(g, forbidden=NAMES)"])
    assert lists == {"RNN": ("torch.nn.RNN", "torch._VF"), "rnn_step": ("torch",), "f": ()}
