"""What decides, where no student code ever runs.

bridge (the judge process: runs the course's setup and test cells, reaches the student's work
only through data-only proxies) · verdict (a test cell's grade, a pure function) · scan (static
flags for the instructor) · feedback (the student's HTML page, with no hidden test in it).
"""
