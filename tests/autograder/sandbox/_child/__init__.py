"""Tests of autograder.sandbox._child."""
