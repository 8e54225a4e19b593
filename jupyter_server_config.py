# JupyterLab settings of the course, for `.venv/bin/jupyter lab ...` run from the course folder.
# Jupyter does not read this folder for its own settings: `make` copies this file into
# .venv/etc/jupyter/, where every Jupyter server of the course's environment finds it.
import json
import os
from pathlib import PurePosixPath

c = get_config()  # noqa: F821 - provided by traitlets when Jupyter loads this file

# Serve the folder the command runs in, even when it names a notebook
# (`jupyter lab notebooks/02-rnn/02-rnn.ipynb` would otherwise serve notebooks/02-rnn/ only):
# nbgrader's Validate button, Assignment List and Formgrader need the course folder inside the server.
c.ServerApp.root_dir = os.getcwd()

#: The notebook metadata the course commits; JupyterLab would replace it with the running kernel's
#: (its exact Python version among them), so opening and saving a notebook would change the file.
KEPT_METADATA = ("kernelspec", "language_info")
COURSE_NOTEBOOKS = ("solutions", "notebooks")


def keep_course_metadata(model, path, contents_manager, **kwargs):
    """Before a notebook of solutions/ or notebooks/ is saved, put back its committed kernel metadata."""
    if model.get("type") != "notebook" or PurePosixPath(path).parts[:1] not in [(d,) for d in COURSE_NOTEBOOKS]:
        return
    try:  # read the file itself: the server's contents manager is asynchronous, this hook is not
        with open(contents_manager._get_os_path(path), encoding="utf-8") as f:
            committed = json.load(f).get("metadata", {})
    except (OSError, ValueError, AttributeError):  # a new file, or one that does not parse: nothing to keep
        return
    metadata = model["content"].setdefault("metadata", {})
    for key in KEPT_METADATA:
        if key in committed:
            metadata[key] = committed[key]


# ContentsManager: the base of the synchronous and the asynchronous (default) file managers.
c.ContentsManager.pre_save_hook = keep_course_metadata
