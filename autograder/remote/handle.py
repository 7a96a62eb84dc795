"""`RemoteObject`: an object that stays in the student's kernel, seen from the grader."""
from __future__ import annotations

from typing import NamedTuple


class _Handle(NamedTuple):
    """What the grader knows of a kernel object: whose it is, its handle, its classes, where it came from."""

    student: object  # the RemoteStudent of the kernel that holds it
    id: int
    type: str
    origin: str
    mro: tuple


def _forbidden(name: str) -> bool:
    # Dunder names are never forwarded: numpy reads __array_interface__ & co. from instances, and a
    # kernel that answered those could make the grader read arbitrary memory. `_ag` and `_ag_*` are the
    # grader's own (the handles' state and methods).
    return name == "_ag" or name.startswith(("__", "_ag_", "_repr_", "_ipython"))


class RemoteObject:
    """An object that lives in the kernel (a function, a layer …): call it, read its attributes."""

    __slots__ = ("_ag",)

    def __init__(self, student, handle: int, type_name: str, origin: str, mro: tuple = ()):
        object.__setattr__(self, "_ag", _Handle(student, handle, type_name, origin, mro or (type_name,)))

    @property
    def __type_names__(self) -> list[str]:
        """Qualified names of the remote object's classes, most specific first
        (``course_utils.frameworks.type_names``)."""
        return list(self._ag.mro)

    def __getattr__(self, name: str):
        if _forbidden(name):
            raise AttributeError(name)
        return self._ag.student._ag_request({"op": "getattr", "handle": self._ag.id, "name": name},
                                            f"{self._ag.origin}.{name}")

    def __call__(self, *args, **kwargs):
        return self._ag.student._ag_call({"handle": self._ag.id}, self._ag.origin, args, kwargs)

    def __setattr__(self, name, value):
        raise AttributeError("remote objects are read-only")

    def __repr__(self):
        return f"<{self._ag.type} in the student's kernel, from {self._ag.origin}>"

    __str__ = __repr__
