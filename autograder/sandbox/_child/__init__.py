"""Programs that run inside the sandbox's namespaces, before and around each kernel (standard library only).

They are never imported by the grader: ``setup.py`` is run by path (``python -I -S setup.py <config>
<socket fd>``) as PID 1 of fresh namespaces; ``template_main.py`` is read from its file and run by the
setup, after ``pivot_root``, as ``python -c <its text>`` (the repository is not in the sandbox's file
system); both load ``mounts.py`` from this folder by path.
"""
