"""Realistic wrong and right-but-different implementations of Lab 01's graded cells.

Each entry is Python source appended to the solution cell of its grade_id: it
redefines one or more of that cell's functions. tests/mutations/test_mutations.py
grades the resulting submissions and checks that every WRONG one loses exactly
that cell's points and every RIGHT one keeps full marks.
"""
LAB = "01_perceptron"

WRONG = {
    'activations': {
        'sigmoid wrong sign (sigma(-z))': (
            'def sigmoid(z):\n'
            '    z = np.asarray(z, dtype=np.float64)\n'
            '    e = np.exp(-np.abs(z))\n'
            '    return np.where(z >= 0, e / (1 + e), 1 / (1 + e))\n'
        ),
        'naive sigmoid 1/(1+exp(-z)) (overflow)': (
            'def sigmoid(z):\n'
            '    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))\n'
        ),
        'relu_derivative 1 at z == 0 (z >= 0)': (
            'def relu_derivative(z):\n'
            '    return (np.asarray(z) >= 0).astype(np.float64)\n'
        ),
        'tanh_derivative 1 - z**2': (
            'def tanh_derivative(z):\n'
            '    return 1.0 - np.asarray(z, dtype=np.float64) ** 2\n'
        ),
        'sigmoid_derivative z * (1 - z)': (
            'def sigmoid_derivative(z):\n'
            '    z = np.asarray(z, dtype=np.float64)\n'
            '    return z * (1 - z)\n'
        ),
        'relu_derivative returns bool': (
            'def relu_derivative(z):\n'
            '    return np.asarray(z) > 0\n'
        ),
        'relu modifies z in place': (
            'def relu(z):\n'
            '    z[z < 0] = 0.0\n'
            '    return z\n'
        ),
    },
    'perceptron': {
        'forgets the bias w0': (
            'def perceptron_forward(x, w0, w, g=sigmoid):\n'
            '    return g(np.asarray(x) @ np.asarray(w))\n'
        ),
        'ignores g (always sigmoid)': (
            'def perceptron_forward(x, w0, w, g=sigmoid):\n'
            '    return sigmoid(w0 + np.asarray(x) @ np.asarray(w))\n'
        ),
        'bias added per feature': (
            'def perceptron_forward(x, w0, w, g=sigmoid):\n'
            '    return g(np.sum(np.asarray(x) * np.asarray(w) + w0, axis=-1))\n'
        ),
        'sums over the whole batch': (
            'def perceptron_forward(x, w0, w, g=sigmoid):\n'
            '    return g(w0 + np.sum(np.asarray(x) * np.asarray(w)))\n'
        ),
        'bias added after g': (
            'def perceptron_forward(x, w0, w, g=sigmoid):\n'
            '    return w0 + g(np.asarray(x) @ np.asarray(w))\n'
        ),
        'default g is np.tanh': (
            'def perceptron_forward(x, w0, w, g=np.tanh):\n'
            '    return g(w0 + np.asarray(x) @ np.asarray(w))\n'
        ),
    },
    'linear_collapse': {
        'forgets bias propagation (b = last bias)': (
            'def collapse_linear(layers):\n'
            '    W = layers[0][0]\n'
            '    for W_next, _ in layers[1:]:\n'
            '        W = W @ W_next\n'
            '    return W, layers[-1][1]\n'
        ),
        'b = b @ W_next, drops later biases': (
            'def collapse_linear(layers):\n'
            '    W, b = layers[0]\n'
            '    for W_next, b_next in layers[1:]:\n'
            '        W, b = W @ W_next, b @ W_next\n'
            '    return W, b\n'
        ),
        'wrong order W_next @ W': (
            'def collapse_linear(layers):\n'
            '    W, b = layers[0]\n'
            '    for W_next, b_next in layers[1:]:\n'
            '        W, b = W_next @ W, b @ W_next + b_next\n'
            '    return W, b\n'
        ),
        'handles exactly two layers': (
            'def collapse_linear(layers):\n'
            '    (W1, b1), (W2, b2) = layers[0], layers[-1]\n'
            '    return W1 @ W2, b1 @ W2 + b2\n'
        ),
        'b = b1 @ W_rest + sum of others (no chaining)': (
            'def collapse_linear(layers):\n'
            '    W, b = layers[0]\n'
            '    for W_next, b_next in layers[1:]:\n'
            '        W = W @ W_next\n'
            '    b = layers[0][1] @ (np.linalg.multi_dot([l[0] for l in layers[1:]]) if len(layers) > 2 else (layers[1][0] if len(layers) > 1 else np.eye(len(b))))\n'
            '    for _, b_k in layers[1:]:\n'
            '        b = b + b_k if b_k.shape == b.shape else b\n'
            '    return W, b\n'
        ),
    },
    'decision_boundary': {
        'classify threshold > instead of >=': (
            'def classify(x, w0, w):\n'
            '    return (w0 + np.asarray(x) @ np.asarray(w) > 0).astype(int)\n'
        ),
        'classify returns floats': (
            'def classify(x, w0, w):\n'
            '    return (w0 + np.asarray(x) @ np.asarray(w) >= 0).astype(float)\n'
        ),
        'classify returns bool': (
            'def classify(x, w0, w):\n'
            '    return w0 + np.asarray(x) @ np.asarray(w) >= 0\n'
        ),
        'classify forgets w0': (
            'def classify(x, w0, w):\n'
            '    return (np.asarray(x) @ np.asarray(w) >= 0).astype(int)\n'
        ),
        'boundary_x2 sign error': (
            'def boundary_x2(x1, w0, w):\n'
            '    w = np.asarray(w, dtype=float)\n'
            '    if w[1] == 0:\n'
            "        raise ValueError('vertical')\n"
            '    return (w0 + w[0] * np.asarray(x1)) / w[1]\n'
        ),
        'boundary_x2 no ValueError': (
            'def boundary_x2(x1, w0, w):\n'
            '    w = np.asarray(w, dtype=float)\n'
            '    return -(w0 + w[0] * np.asarray(x1)) / w[1]\n'
        ),
        'boundary_x2 forgets w0': (
            'def boundary_x2(x1, w0, w):\n'
            '    w = np.asarray(w, dtype=float)\n'
            '    if w[1] == 0:\n'
            "        raise ValueError('vertical')\n"
            '    return -(w[0] * np.asarray(x1)) / w[1]\n'
        ),
        'boundary_x2 swaps w[0] and w[1]': (
            'def boundary_x2(x1, w0, w):\n'
            '    w = np.asarray(w, dtype=float)\n'
            '    if w[1] == 0:\n'
            "        raise ValueError('vertical')\n"
            '    return -(w0 + w[1] * np.asarray(x1)) / w[0]\n'
        ),
    },
    'frameworks': {
        'perceptron_tf returns numpy': (
            'def perceptron_tf(x, w0, w):\n'
            '    return tf.math.sigmoid(w0 + tf.linalg.matvec(tf.constant(x), tf.constant(w))).numpy()\n'
        ),
        'perceptron_torch returns numpy': (
            'def perceptron_torch(x, w0, w):\n'
            '    return torch.sigmoid(w0 + torch.as_tensor(x) @ torch.as_tensor(w)).numpy()\n'
        ),
        'perceptron_tf forgets bias': (
            'def perceptron_tf(x, w0, w):\n'
            '    return tf.math.sigmoid(tf.linalg.matvec(tf.constant(x), tf.constant(w)))\n'
        ),
        'perceptron_torch shape (N, 1)': (
            'def perceptron_torch(x, w0, w):\n'
            '    return torch.sigmoid(w0 + torch.as_tensor(x) @ torch.as_tensor(w).reshape(-1, 1))\n'
        ),
        'perceptron_tf uses tanh': (
            'def perceptron_tf(x, w0, w):\n'
            '    return tf.math.tanh(w0 + tf.linalg.matvec(tf.constant(x), tf.constant(w)))\n'
        ),
    },
}

RIGHT = {
    'activations': {
        'tanh via unguarded formula (ok for |z|<=40)': (
            'def tanh(z):\n'
            '    z = np.asarray(z, dtype=np.float64)\n'
            '    return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))\n'
        ),
        'sigmoid via clipping': (
            'def sigmoid(z):\n'
            '    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(z, dtype=np.float64), -500, 500)))\n'
        ),
    },
    'decision_boundary': {
        'classify via sigmoid >= 0.5': (
            'def classify(x, w0, w):\n'
            '    return (perceptron_forward(x, w0, w) >= 0.5).astype(int)\n'
        ),
    },
    'frameworks': {
        'perceptron_tf in float32': (
            'def perceptron_tf(x, w0, w):\n'
            '    return tf.math.sigmoid(w0 + tf.linalg.matvec(tf.constant(x, tf.float32), tf.constant(w, tf.float32)))\n'
        ),
        'perceptron_torch in float32': (
            'def perceptron_torch(x, w0, w):\n'
            '    return torch.sigmoid(w0 + torch.as_tensor(x, dtype=torch.float32) @ torch.as_tensor(w, dtype=torch.float32))\n'
        ),
    },
    'perceptron': {
        'np.dot and an explicit float64 cast': (
            'def perceptron_forward(x, w0, w, g=sigmoid):\n'
            '    z = np.dot(np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)) + w0\n'
            '    return g(z)\n'
        ),
    },
    'linear_collapse': {
        'functools.reduce over the layers, with a print': (
            'def collapse_linear(layers):\n'
            '    import functools\n'
            "    print('collapsing', len(layers), 'layers')\n"
            '    def merge(acc, layer):\n'
            '        return acc[0] @ layer[0], acc[1] @ layer[0] + layer[1]\n'
            '    return functools.reduce(merge, layers[1:], layers[0])\n'
        ),
    },
}
