"""What runs beside the student's code, and answers without being trusted.

main (the kernel's start, from the fork: confine, hide the oracles and the grader, serve) ·
servant (the kernel's end of the bridge: runs the student's cells, answers the judge's requests) ·
recorder (which PyTorch operators the student's code ran, for the own-work rule). Nothing here
decides a grade: a pass is decided in ``autograder.judge``; between the two only
``autograder.protocol`` messages with ``autograder.wire`` values cross.
"""
