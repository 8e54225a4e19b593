# nbgrader settings of the course, for plain `nbgrader ...` commands run from the repo root and
# for nbgrader's Jupyter extensions (formgrader, assignment list, validate) of a server started
# there. The course's own CLI (`python -m autograder ...`) builds the same settings from
# autograder/course.py, which is the one place they are defined.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from autograder.course import local_exchange, nbgrader_config

ROOT = Path(__file__).resolve().parent
course = nbgrader_config(ROOT)
# Stock commands talk as nbgrader always does: `nbgrader list` prints its list at INFO level,
# submit and collect say what they did. (The course's CLI keeps nbgrader quiet; it logs to a file.)
course.Application.pop("log_level", None)
# The exchange: the one a hub's /etc/jupyter/nbgrader_config.py names, or nbgrader's default
# folder, for instructors and students alike; the course's own folder only where neither exists.
exchange = local_exchange(ROOT)
if exchange is not None:
    course.Exchange.root = str(exchange)

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file
c.merge(course)
