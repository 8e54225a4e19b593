"""``python -m autograder.forkserver``: a worker's fork server (server.py)."""
from .server import serve

serve()
