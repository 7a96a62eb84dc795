"""The course's small datasets, installed as the package ``course_utils.datasets``.

This file makes the folder a regular package: setuptools' editable install
(``pip install -e .``) cannot import a namespace package mapped below a
regular one, so without it ``course_utils.datasets`` only works from a wheel.
Load the data with ``course_utils.data``, not from here.
"""
