"""nbgrader configuration of the course (run nbgrader commands from the repository root).

solutions/ is nbgrader's source directory: solutions/<lab>/<lab>.ipynb is the
instructor notebook of each lab. `make release` (python -m autograder release)
uses the same stub settings to write notebooks/.
"""
c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "dl-foundations"
c.CourseDirectory.source_directory = "solutions"
# nbgrader's release layout is <release_directory>/<lab>/<lab>.ipynb: what `nbgrader generate_assignment` writes
# and what `zip_collect` checks submitted names against. The course's student notebooks, notebooks/<lab>.ipynb,
# are flat (written by `make release`), so notebooks/ cannot be this directory: nbgrader would look in
# notebooks/<lab>/ and find nothing, and generate_assignment would write a second copy into notebooks/<lab>/.
# release/ (git-ignored) stays nbgrader's own. `python -m autograder collect` replaces zip_collect and checks
# names against the lab itself; a course that uses zip_collect runs `nbgrader generate_assignment <lab>` first,
# which fills release/<lab>/ and silences its "No release notebooks found" warning.
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

from autograder.release import CODE_STUB, TEXT_STUB  # one definition of the stubs  # noqa: E402

c.ClearSolutions.code_stub = {"python": CODE_STUB}
c.ClearSolutions.text_stub = TEXT_STUB

# A test cell that runs longer than this is stopped and scores 0.
c.ExecutePreprocessor.timeout = 120

# Student markup reaches the instructor's browser through two nbconvert HTMLExporters: the feedback HTML of
# `nbgrader generate_feedback` and the formgrader's submission pages. Both get the course's sanitiser first
# (autograder.markup: Markdown, HTML and outputs, with nh3), since their templates render Markdown cells
# unsanitised; sanitize_html also makes nbconvert clean HTML outputs and leave out JavaScript and widgets.
from autograder.markup import SanitizeMarkup  # noqa: E402

c.HTMLExporter.preprocessors = [SanitizeMarkup]
c.HTMLExporter.sanitize_html = True
