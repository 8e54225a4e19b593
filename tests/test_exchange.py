"""One exchange for everyone: where the course's nbgrader commands put assignments and look for
submissions (autograder/course.py ``local_exchange``), with nbgrader's defaults and with a
hub's configuration. (The whole term on a hub-like layout: tests/site/test_whole_term.py.)
"""
from __future__ import annotations

import json

import pytest

from autograder import course
from tests.nbgrader_course import copy_course, make_user

A = "01-one-hot"


@pytest.fixture
def config_path(tmp_path, monkeypatch):
    """An empty folder in Jupyter's config path (as /etc/jupyter is), and nothing else of this machine's."""
    folder = tmp_path / "etc" / "jupyter"
    folder.mkdir(parents=True)
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(folder))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "home" / ".jupyter"))
    monkeypatch.delenv("JUPYTER_NO_CONFIG", raising=False)
    return folder


def test_a_root_named_outside_the_course_is_everyones(tmp_path, config_path):
    (config_path / "nbgrader_config.py").write_text('c = get_config()\nc.Exchange.root = "/srv/shared/exchange"\n')
    assert course.configured_exchange_root() == "/srv/shared/exchange"
    assert course.local_exchange(tmp_path / "course", nbgrader_default=tmp_path / "absent") is None
    assert not (tmp_path / "course").exists()  # the course made no exchange of its own


def test_a_users_own_config_counts_and_the_file_nbgrader_reads_last_wins(tmp_path, config_path):
    user = tmp_path / "home" / ".jupyter"
    user.mkdir(parents=True)
    (user / "nbgrader_config.py").write_text('c = get_config()\nc.Exchange.root = "/from/user"\n')
    assert course.configured_exchange_root() == "/from/user"
    # JUPYTER_CONFIG_PATH is read after the user's folder; in one folder, .json after .py
    (config_path / "nbgrader_config.py").write_text('c = get_config()\nc.Exchange.root = "/from/py"\n')
    (config_path / "nbgrader_config.json").write_text(json.dumps({"Exchange": {"root": "/from/json"}}))
    assert course.configured_exchange_root() == "/from/json"


def test_a_broken_config_names_nothing(config_path):
    (config_path / "nbgrader_config.py").write_text("c = get_config(\n")
    assert course.configured_exchange_root() is None


def test_nbgraders_default_folder_is_used_when_it_exists(tmp_path, config_path):
    default = tmp_path / "usr" / "local" / "share" / "nbgrader" / "exchange"
    default.mkdir(parents=True)
    assert course.local_exchange(tmp_path / "course", nbgrader_default=default) is None


def test_with_nothing_set_up_the_course_uses_its_own_folder(tmp_path, config_path):
    root = tmp_path / "course"
    assert course.local_exchange(root, nbgrader_default=tmp_path / "absent") == root / course.LOCAL_EXCHANGE
    assert (root / course.LOCAL_EXCHANGE).is_dir()


@pytest.mark.slow
def test_nbgraders_defaults_on_one_machine(tmp_path):
    """No administrator's file and no nbgrader default folder: the instructor's commands in the
    course folder work with the course's own exchange, and a student elsewhere is told by
    nbgrader that the exchange is missing (what the grading page's administrator section is for)."""
    if course.configured_exchange_root() is not None or course.NBGRADER_EXCHANGE.is_dir():
        pytest.skip("this machine has an exchange set up; the test needs nbgrader's bare defaults")
    root = copy_course(tmp_path / "course")
    teacher = make_user(tmp_path, "instructor", tmp_path / "unused", cwd=root)
    teacher.run("nbgrader", "release_assignment", A)
    listed = teacher.run("nbgrader", "list")
    assert A in listed.stdout + listed.stderr
    assert (root / course.LOCAL_EXCHANGE / course.COURSE_ID / "outbound" / A).is_dir()
    student = make_user(tmp_path, "alice", tmp_path / "unused")
    alone = student.run("nbgrader", "list", f"--course={course.COURSE_ID}", check=False)
    assert alone.returncode != 0 and str(course.NBGRADER_EXCHANGE) in alone.stdout + alone.stderr
