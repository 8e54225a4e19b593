# nbgrader settings of the course, for plain `nbgrader ...` commands run from the repo root.
# The course's own CLI (`python -m autograder ...`) builds the same settings from
# autograder/course.py, which is the one place they are defined.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from autograder.course import nbgrader_config  # noqa: E402

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file
c.merge(nbgrader_config(Path(__file__).resolve().parent))
