# nbgrader settings of the course, for plain `nbgrader ...` commands run from the repo root and
# for nbgrader's Jupyter extensions (formgrader, assignment list, validate) of a server started
# there. The course's own CLI (`python -m autograder ...`) builds the same settings from
# autograder/course.py, which is the one place they are defined.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from autograder.course import nbgrader_config

course = nbgrader_config(Path(__file__).resolve().parent)
# Stock commands talk as nbgrader always does: `nbgrader list` prints its list at INFO level,
# submit and collect say what they did. (The course's CLI keeps nbgrader quiet; it logs to a file.)
course.Application.pop("log_level", None)

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file
c.merge(course)
