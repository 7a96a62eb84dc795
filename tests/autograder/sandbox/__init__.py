"""Tests of autograder.sandbox."""
