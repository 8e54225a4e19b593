# nbgrader's settings in work/, the folder where students work and fetched assignments land: the
# course's own. nbgrader's Assignment List reads its settings again from the folder it fetches into.
load_subconfig("../nbgrader_config.py")  # noqa: F821 - provided by traitlets when nbgrader loads this file
