"""A student's kernel for tests/autograder/remote/test_student.py: run in a live sandboxed kernel (its text is
read from this file and executed there), it defines what the grader calls through RemoteStudent."""
import numpy as np, time, threading, sys

def sigmoid(z):
    print("spam " * 1000)
    return 1 / (1 + np.exp(-z))

class Layer:
    def __init__(self, n_in, n_out):
        self.W = np.arange(n_in * n_out, dtype=np.float32).reshape(n_in, n_out)
    def __call__(self, X):
        return X @ self.W

class MyError(Exception):
    pass

def fails(kind):
    raise {"value": ValueError, "key": KeyError, "mine": MyError}[kind]("bad input")

def apply(g, x):
    return g(x)

def spin():
    while True:
        pass

def as_torch(x):
    import torch
    return torch.as_tensor(x) * 2

def identity(x):
    return x

np.seterr(all="ignore")  # a notebook that silences numpy must not hide overflow from the grader

def naive_sigmoid(z):
    import numpy
    return 1 / (1 + numpy.exp(-z))

def clip_in_place(p, lo=0.1):
    p[p < lo] = lo
    return p.sum()

def warns():
    import warnings
    warnings.warn("custom", FutureWarning)
    return 1

def chatter():
    while True:
        print("background noise", flush=True)
        time.sleep(0.001)
threading.Thread(target=chatter, daemon=True).start()
