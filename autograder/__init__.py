"""The course's release tool and trusted grader (``python -m autograder``; see autograder.cli)."""
import sys

# nbformat imports jsonschema, which imports rfc3987_syntax when it is installed (jupyter-events
# depends on it) and builds that package's RFC 3987 grammar at import: about 1.5 s at the start of
# every grader process (a `grade` call, the batch's coordinator, each Dask worker). No notebook schema
# checks the "iri" formats it serves, so the grader's processes do without it (jsonschema then lacks
# that one format checker). A process that imported it before importing autograder keeps it.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
