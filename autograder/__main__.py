"""``python -m autograder``: see autograder.cli."""
import sys

from autograder.cli import end_process, main

end_process(main(), sys.argv[1:2] == ["grade"])
