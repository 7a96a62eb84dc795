"""autograder.ids: student ids (folder names) printed, stored, compared and seeded safely."""
from __future__ import annotations

import os

from autograder import batch
from autograder.ids import (SEED_MASK, ascii_id, confusable_groups, id_skeleton, printable_id, storable_id,
                            student_seed, unstorable_reason)


def test_the_batch_names_are_these():
    """Are the batch's id functions, as imported from autograder.batch until now, the ones of this module?"""
    assert (batch.printable_id, batch.ascii_id, batch.confusable_groups, batch.student_seed) == (
        printable_id, ascii_id, confusable_groups, student_seed)


def test_student_seed_is_per_student_per_secret_and_31_bits():
    """Does the seed depend on the secret and the id only, fit 31 bits, and exist for a folder name of raw bytes?"""
    seeds = {student_seed(b"7", s) for s in ("alice", "bob", "\u0430lice", os.fsdecode(b"bob\xff"))}
    assert len(seeds) == 4 and all(0 <= s <= SEED_MASK for s in seeds)
    assert student_seed(b"7", "alice") == student_seed(b"7", "alice") != student_seed(b"8", "alice")


def test_an_id_of_raw_bytes_is_not_storable_and_the_reason_shows_the_bytes():
    """Is a folder name that is not UTF-8 unstorable, with its bytes and the fix in the reason?"""
    raw = os.fsdecode(b"bob\xff")
    assert storable_id("Zo\u00eb") and not storable_id(raw)
    reason = unstorable_reason(raw)
    assert "b'bob\\xff'" in reason and "rename the folder" in reason and reason.isprintable()


def test_id_skeleton_folds_case_width_invisible_and_look_alike_letters():
    """Do case, full-width letters, zero-width characters and Cyrillic or Greek look-alikes vanish from the
    skeleton, while ids that merely share letters keep theirs?"""
    assert {id_skeleton(s) for s in ("alice", "ALICE", "\uff41lice", "ali\u200bce", "\u0430lice")} == {"alice"}
    assert id_skeleton("\u03bftto") == "otto"
    assert id_skeleton("dmitri") != id_skeleton("\u0434\u043c\u0438\u0442\u0440\u0438")
