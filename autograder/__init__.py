"""The course's instructor tools: release the student notebooks, grade a class.

nbgrader is the engine (its gradebook, cell metadata, checksums and feedback); this package
sets it up for the course's layout and wraps it so that one broken submission costs only
its own points. Entry point: ``python -m autograder --help``.
"""
