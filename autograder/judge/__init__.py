"""What decides, where no student code ever runs.

main (the judge process: runs the course's setup and test cells, tells the fork server how each
went) · bridge (the link to the kernel and the data-only proxies of what stays there) · names
(which names may cross) · operators (what a record of operators means) · verdict (a test cell's
grade, a pure function) · scan (static flags for the instructor) · feedback (the student's HTML
page, with no hidden test in it).
"""
