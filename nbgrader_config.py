"""nbgrader configuration of the course (run nbgrader commands from the repository root).

solutions/ is nbgrader's source directory: solutions/<lab>/<lab>.ipynb is the
instructor notebook of each lab. `make release` (python -m autograder release)
uses the same stub settings to write notebooks/.
"""
c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "dl-foundations"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_assignments = [
    {"name": lab} for lab in (
        "01_perceptron", "02_dense_networks", "03_backprop",
        "04_optimizers", "05_minibatch_sgd", "06_regularization",
    )
]

c.ClearSolutions.code_stub = {"python": "# TODO: replace this line with your code\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A test cell that runs longer than this is stopped and scores 0.
c.ExecutePreprocessor.timeout = 120
