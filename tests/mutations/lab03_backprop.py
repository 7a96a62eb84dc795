"""Realistic wrong and right-but-different implementations of Lab 03's graded cells.

Each entry is Python source appended to the solution cell of its grade_id: it
redefines one or more of that cell's functions. tests/mutations/test_mutations.py
grades the resulting submissions and checks that every WRONG one loses exactly
that cell's points and every RIGHT one keeps full marks.
"""
LAB = "03_backprop"

WRONG = {
    "chain_rule": {
        "dJ/dw1 misses the hidden sigmoid's derivative a1 (1 - a1)": (
            "def chain_rule_1d(x, y, w1, w2):\n"
            "    a1 = float(sigmoid(w1 * x))\n"
            "    y_hat = float(sigmoid(w2 * a1))\n"
            "    delta2 = (y_hat - y) * y_hat * (1.0 - y_hat)\n"
            "    return float(delta2 * w2 * x), float(delta2 * a1)\n"
        ),
        "dJ/dw2 uses z1 instead of a1": (
            "def chain_rule_1d(x, y, w1, w2):\n"
            "    z1 = w1 * x\n"
            "    a1 = float(sigmoid(z1))\n"
            "    y_hat = float(sigmoid(w2 * a1))\n"
            "    delta2 = (y_hat - y) * y_hat * (1.0 - y_hat)\n"
            "    return float(delta2 * w2 * a1 * (1.0 - a1) * x), float(delta2 * z1)\n"
        ),
        "sign error: (y - y_hat) instead of (y_hat - y)": (
            "def chain_rule_1d(x, y, w1, w2):\n"
            "    a1 = float(sigmoid(w1 * x))\n"
            "    y_hat = float(sigmoid(w2 * a1))\n"
            "    delta2 = (y - y_hat) * y_hat * (1.0 - y_hat)\n"
            "    return float(delta2 * w2 * a1 * (1.0 - a1) * x), float(delta2 * a1)\n"
        ),
        "forgets the output sigmoid's derivative": (
            "def chain_rule_1d(x, y, w1, w2):\n"
            "    a1 = float(sigmoid(w1 * x))\n"
            "    y_hat = float(sigmoid(w2 * a1))\n"
            "    delta2 = y_hat - y\n"
            "    return float(delta2 * w2 * a1 * (1.0 - a1) * x), float(delta2 * a1)\n"
        ),
        "returns 0-d torch tensors": (
            "def chain_rule_1d(x, y, w1, w2):\n"
            "    w = torch.tensor([w1, w2], dtype=torch.float64, requires_grad=True)\n"
            "    J = 0.5 * (torch.sigmoid(w[1] * torch.sigmoid(w[0] * x)) - y) ** 2\n"
            "    J.backward()\n"
            "    return w.grad[0], w.grad[1]\n"
        ),
    },
    "gradient_check": {
        "one-sided difference (f(w + h) - f(w)) / h": (
            "def numerical_gradient(f, w, h=1e-5):\n"
            "    grad = np.zeros(w.shape)\n"
            "    f0 = f(w)\n"
            "    for i in np.ndindex(w.shape):\n"
            "        old = w[i]\n"
            "        w[i] = old + h\n"
            "        grad[i] = (f(w) - f0) / h\n"
            "        w[i] = old\n"
            "    return grad\n"
        ),
        "forgets to restore w": (
            "def numerical_gradient(f, w, h=1e-5):\n"
            "    grad = np.zeros(w.shape)\n"
            "    for i in np.ndindex(w.shape):\n"
            "        w[i] += h\n"
            "        f_plus = f(w)\n"
            "        w[i] -= 2 * h\n"
            "        f_minus = f(w)\n"
            "        grad[i] = (f_plus - f_minus) / (2 * h)\n"
            "    return grad\n"
        ),
        "divides by h instead of 2h": (
            "def numerical_gradient(f, w, h=1e-5):\n"
            "    grad = np.zeros(w.shape)\n"
            "    for i in np.ndindex(w.shape):\n"
            "        old = w[i]\n"
            "        w[i] = old + h\n"
            "        f_plus = f(w)\n"
            "        w[i] = old - h\n"
            "        f_minus = f(w)\n"
            "        w[i] = old\n"
            "        grad[i] = (f_plus - f_minus) / h\n"
            "    return grad\n"
        ),
        "ignores the h argument (always 1e-5)": (
            "def numerical_gradient(f, w, h=1e-5):\n"
            "    h = 1e-5\n"
            "    grad = np.zeros(w.shape)\n"
            "    for i in np.ndindex(w.shape):\n"
            "        old = w[i]\n"
            "        w[i] = old + h\n"
            "        f_plus = f(w)\n"
            "        w[i] = old - h\n"
            "        f_minus = f(w)\n"
            "        w[i] = old\n"
            "        grad[i] = (f_plus - f_minus) / (2 * h)\n"
            "    return grad\n"
        ),
        "relative_error without the max(1e-8, .) floor": (
            "def relative_error(a, b):\n"
            "    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)\n"
            "    return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))\n"
        ),
        "relative_error divides by max(|a|, |b|)": (
            "def relative_error(a, b):\n"
            "    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)\n"
            "    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.maximum(np.abs(a), np.abs(b)))))\n"
        ),
        "relative_error takes the max of numerator and denominator separately": (
            "def relative_error(a, b):\n"
            "    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)\n"
            "    return float(np.max(np.abs(a - b)) / max(1e-8, np.max(np.abs(a) + np.abs(b))))\n"
        ),
    },
    "layer_backward": {
        "relu_backward zeroes dout in place": (
            "def relu_backward(dout, z):\n"
            "    dout[z <= 0] = 0.0\n"
            "    return dout\n"
        ),
        "dW = X @ dout (shape bug)": (
            "def dense_backward(dout, X, W):\n"
            "    return dout @ W.T, X @ dout, dout.sum(axis=0)\n"
        ),
        "db not summed over the batch": (
            "def dense_backward(dout, X, W):\n"
            "    return dout @ W.T, X.T @ dout, dout\n"
        ),
        "dX = dout @ W (W not transposed)": (
            "def dense_backward(dout, X, W):\n"
            "    return dout @ W, X.T @ dout, dout.sum(axis=0)\n"
        ),
        "db averaged instead of summed": (
            "def dense_backward(dout, X, W):\n"
            "    return dout @ W.T, X.T @ dout, dout.mean(axis=0)\n"
        ),
        "relu_backward passes the gradient at z == 0": (
            "def relu_backward(dout, z):\n"
            "    return dout * (z >= 0)\n"
        ),
        "sigmoid_backward uses z instead of sigmoid(z)": (
            "def sigmoid_backward(dout, z):\n"
            "    return dout * z * (1.0 - z)\n"
        ),
    },
    "mlp_backprop": {
        "forgets to divide by N": (
            "def mlp_loss_and_grads(params, X, y):\n"
            "    W1, b1, W2, b2 = params['W1'], params['b1'], params['W2'], params['b2']\n"
            "    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)\n"
            "    Z1 = X @ W1 + b1\n"
            "    A1 = np.maximum(Z1, 0)\n"
            "    z2 = A1 @ W2 + b2\n"
            "    loss = float(np.mean(np.maximum(z2, 0) - y * z2 + np.log1p(np.exp(-np.abs(z2)))))\n"
            "    dz2 = sigmoid(z2) - y\n"
            "    dA1, dW2, db2 = dense_backward(dz2, A1, W2)\n"
            "    _, dW1, db1 = dense_backward(relu_backward(dA1, Z1), X, W1)\n"
            "    return loss, {'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}\n"
        ),
        "forgets the ReLU mask in the backward pass": (
            "def mlp_loss_and_grads(params, X, y):\n"
            "    W1, b1, W2, b2 = params['W1'], params['b1'], params['W2'], params['b2']\n"
            "    N = X.shape[0]\n"
            "    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)\n"
            "    Z1 = X @ W1 + b1\n"
            "    A1 = np.maximum(Z1, 0)\n"
            "    z2 = A1 @ W2 + b2\n"
            "    loss = float(np.mean(np.maximum(z2, 0) - y * z2 + np.log1p(np.exp(-np.abs(z2)))))\n"
            "    dz2 = (sigmoid(z2) - y) / N\n"
            "    dA1, dW2, db2 = dense_backward(dz2, A1, W2)\n"
            "    _, dW1, db1 = dense_backward(dA1, X, W1)\n"
            "    return loss, {'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}\n"
        ),
        "wrong loss sign": (
            "def mlp_loss_and_grads(params, X, y):\n"
            "    W1, b1, W2, b2 = params['W1'], params['b1'], params['W2'], params['b2']\n"
            "    N = X.shape[0]\n"
            "    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)\n"
            "    Z1 = X @ W1 + b1\n"
            "    A1 = np.maximum(Z1, 0)\n"
            "    z2 = A1 @ W2 + b2\n"
            "    loss = -float(np.mean(np.maximum(z2, 0) - y * z2 + np.log1p(np.exp(-np.abs(z2)))))\n"
            "    dz2 = (sigmoid(z2) - y) / N\n"
            "    dA1, dW2, db2 = dense_backward(dz2, A1, W2)\n"
            "    _, dW1, db1 = dense_backward(relu_backward(dA1, Z1), X, W1)\n"
            "    return loss, {'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}\n"
        ),
        "loss from log(sigmoid(z2)) (infinite at large logits)": (
            "def mlp_loss_and_grads(params, X, y):\n"
            "    W1, b1, W2, b2 = params['W1'], params['b1'], params['W2'], params['b2']\n"
            "    N = X.shape[0]\n"
            "    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)\n"
            "    Z1 = X @ W1 + b1\n"
            "    A1 = np.maximum(Z1, 0)\n"
            "    z2 = A1 @ W2 + b2\n"
            "    y_hat = sigmoid(z2)\n"
            "    with np.errstate(all='ignore'):\n"
            "        loss = float(np.mean(-y * np.log(y_hat) - (1 - y) * np.log(1 - y_hat)))\n"
            "    dz2 = (y_hat - y) / N\n"
            "    dA1, dW2, db2 = dense_backward(dz2, A1, W2)\n"
            "    _, dW1, db1 = dense_backward(relu_backward(dA1, Z1), X, W1)\n"
            "    return loss, {'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}\n"
        ),
        "mixes up the caches: dW2 from the pre-activation Z1": (
            "def mlp_loss_and_grads(params, X, y):\n"
            "    W1, b1, W2, b2 = params['W1'], params['b1'], params['W2'], params['b2']\n"
            "    N = X.shape[0]\n"
            "    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)\n"
            "    Z1 = X @ W1 + b1\n"
            "    A1 = np.maximum(Z1, 0)\n"
            "    z2 = A1 @ W2 + b2\n"
            "    loss = float(np.mean(np.maximum(z2, 0) - y * z2 + np.log1p(np.exp(-np.abs(z2)))))\n"
            "    dz2 = (sigmoid(z2) - y) / N\n"
            "    dA1, dW2, db2 = dense_backward(dz2, Z1, W2)\n"
            "    _, dW1, db1 = dense_backward(relu_backward(dA1, Z1), X, W1)\n"
            "    return loss, {'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}\n"
        ),
        "y of shape (N,) broadcast against z2 of shape (N, 1)": (
            "def mlp_loss_and_grads(params, X, y):\n"
            "    N = X.shape[0]\n"
            "    Z1, cache1 = dense_forward(X, params['W1'], params['b1'])\n"
            "    A1, cache_relu = relu_forward(Z1)\n"
            "    z2, cache2 = dense_forward(A1, params['W2'], params['b2'])\n"
            "    loss = float(np.mean(np.maximum(z2, 0.0) - y * z2 + np.log1p(np.exp(-np.abs(z2)))))\n"
            "    dz2 = (sigmoid(z2) - y) / N\n"
            "    dA1, dW2, db2 = dense_backward(dz2, *cache2)\n"
            "    dZ1 = relu_backward(dA1, cache_relu)\n"
            "    _, dW1, db1 = dense_backward(dZ1, *cache1)\n"
            "    return loss, {'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}\n"
        ),
    },
    "gradient_descent": {
        "adds the gradient (ascent)": (
            "def gradient_descent(grad_fn, w_init, lr, num_steps):\n"
            "    w = np.array(w_init, dtype=np.float64)\n"
            "    history = [w.copy()]\n"
            "    for _ in range(num_steps):\n"
            "        w = w + lr * grad_fn(w)\n"
            "        history.append(w.copy())\n"
            "    return w, np.array(history)\n"
        ),
        "history misses w_init": (
            "def gradient_descent(grad_fn, w_init, lr, num_steps):\n"
            "    w = np.array(w_init, dtype=np.float64)\n"
            "    history = []\n"
            "    for _ in range(num_steps):\n"
            "        w = w - lr * grad_fn(w)\n"
            "        history.append(w.copy())\n"
            "    return w, np.array(history)\n"
        ),
        "modifies w_init in place": (
            "def gradient_descent(grad_fn, w_init, lr, num_steps):\n"
            "    w = w_init\n"
            "    history = [w.copy()]\n"
            "    for _ in range(num_steps):\n"
            "        w -= lr * grad_fn(w)\n"
            "        history.append(w.copy())\n"
            "    return w, np.array(history)\n"
        ),
        "appends w without copying (every row the final w)": (
            "def gradient_descent(grad_fn, w_init, lr, num_steps):\n"
            "    w = np.array(w_init, dtype=np.float64)\n"
            "    history = [w]\n"
            "    for _ in range(num_steps):\n"
            "        w -= lr * grad_fn(w)\n"
            "        history.append(w)\n"
            "    return w, np.array(history)\n"
        ),
        "one step too few (range(num_steps - 1))": (
            "def gradient_descent(grad_fn, w_init, lr, num_steps):\n"
            "    w = np.array(w_init, dtype=np.float64)\n"
            "    history = [w.copy()]\n"
            "    for _ in range(max(num_steps - 1, 0)):\n"
            "        w = w - lr * grad_fn(w)\n"
            "        history.append(w.copy())\n"
            "    return w, np.array(history)\n"
        ),
    },
    "autodiff": {
        "grads_tf in float32": (
            "def grads_tf(params, X, y):\n"
            "    v = {k: tf.Variable(np.asarray(p, dtype=np.float32)) for k, p in params.items()}\n"
            "    X_t = tf.constant(X, dtype=tf.float32)\n"
            "    y_t = tf.reshape(tf.constant(y, dtype=tf.float32), (-1, 1))\n"
            "    with tf.GradientTape() as tape:\n"
            "        z2 = tf.nn.relu(X_t @ v['W1'] + v['b1']) @ v['W2'] + v['b2']\n"
            "        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_t, logits=z2))\n"
            "    return {k: g.numpy() for k, g in tape.gradient(loss, v).items()}\n"
        ),
        "grads_tf in float32, cast to float64 at the end": (
            "def grads_tf(params, X, y):\n"
            "    v = {k: tf.Variable(np.asarray(p, dtype=np.float32)) for k, p in params.items()}\n"
            "    X_t = tf.constant(X, dtype=tf.float32)\n"
            "    y_t = tf.reshape(tf.constant(y, dtype=tf.float32), (-1, 1))\n"
            "    with tf.GradientTape() as tape:\n"
            "        z2 = tf.nn.relu(X_t @ v['W1'] + v['b1']) @ v['W2'] + v['b2']\n"
            "        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_t, logits=z2))\n"
            "    return {k: g.numpy().astype(np.float64) for k, g in tape.gradient(loss, v).items()}\n"
        ),
        "grads_torch returns tensors": (
            "def grads_torch(params, X, y):\n"
            "    t = {k: torch.tensor(p, dtype=torch.float64, requires_grad=True) for k, p in params.items()}\n"
            "    z2 = torch.relu(torch.as_tensor(X) @ t['W1'] + t['b1']) @ t['W2'] + t['b2']\n"
            "    torch.nn.functional.binary_cross_entropy_with_logits(z2[:, 0], torch.as_tensor(y, dtype=torch.float64)).backward()\n"
            "    return {k: p.grad for k, p in t.items()}\n"
        ),
        "grads_tf sums instead of averaging": (
            "def grads_tf(params, X, y):\n"
            "    v = {k: tf.Variable(np.asarray(p), dtype=tf.float64) for k, p in params.items()}\n"
            "    X_t = tf.constant(X, dtype=tf.float64)\n"
            "    y_t = tf.reshape(tf.constant(y, dtype=tf.float64), (-1, 1))\n"
            "    with tf.GradientTape() as tape:\n"
            "        z2 = tf.nn.relu(X_t @ v['W1'] + v['b1']) @ v['W2'] + v['b2']\n"
            "        loss = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_t, logits=z2))\n"
            "    return {k: g.numpy() for k, g in tape.gradient(loss, v).items()}\n"
        ),
        "grads_tf with a Keras loss object left in float32 (the TODO asks for float64)": (
            "def grads_tf(params, X, y):\n"
            "    v = {k: tf.Variable(np.asarray(p), dtype=tf.float64) for k, p in params.items()}\n"
            "    X_t = tf.constant(X, dtype=tf.float64)\n"
            "    y_t = tf.reshape(tf.constant(y, dtype=tf.float64), (-1, 1))\n"
            "    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)\n"
            "    with tf.GradientTape() as tape:\n"
            "        z2 = tf.nn.relu(X_t @ v['W1'] + v['b1']) @ v['W2'] + v['b2']\n"
            "        loss = bce(y_t, z2)\n"
            "    return {k: g.numpy() for k, g in tape.gradient(loss, v).items()}\n"
        ),
        "grads_torch forgets the ReLU": (
            "def grads_torch(params, X, y):\n"
            "    t = {k: torch.tensor(p, dtype=torch.float64, requires_grad=True) for k, p in params.items()}\n"
            "    z2 = (torch.as_tensor(X) @ t['W1'] + t['b1']) @ t['W2'] + t['b2']\n"
            "    torch.nn.functional.binary_cross_entropy_with_logits(z2[:, 0], torch.as_tensor(y, dtype=torch.float64)).backward()\n"
            "    return {k: p.grad.numpy() for k, p in t.items()}\n"
        ),
    },
}

RIGHT = {
    "chain_rule": {
        "sigmoid written out with np.exp, extra print": (
            "import math\n"
            "def chain_rule_1d(x, y, w1, w2):\n"
            "    a1 = 1.0 / (1.0 + math.exp(-w1 * x))\n"
            "    y_hat = 1.0 / (1.0 + math.exp(-w2 * a1))\n"
            "    dJ_dyhat = y_hat - y\n"
            "    dyhat_dz2 = y_hat * (1 - y_hat)\n"
            "    print('debug:', dJ_dyhat, dyhat_dz2)\n"
            "    return dJ_dyhat * dyhat_dz2 * w2 * a1 * (1 - a1) * x, dJ_dyhat * dyhat_dz2 * a1\n"
        ),
    },
    "gradient_check": {
        "loops with np.nditer and perturbs a copy; relative_error via np.divide": (
            "def numerical_gradient(f, w, h=1e-5):\n"
            "    w_work = np.array(w, dtype=np.float64)\n"
            "    grad = np.zeros_like(w_work)\n"
            "    it = np.nditer(w_work, flags=['multi_index'])\n"
            "    while not it.finished:\n"
            "        i = it.multi_index\n"
            "        w_plus, w_minus = w_work.copy(), w_work.copy()\n"
            "        w_plus[i] += h\n"
            "        w_minus[i] -= h\n"
            "        grad[i] = (f(w_plus) - f(w_minus)) / (2 * h)\n"
            "        it.iternext()\n"
            "    return grad\n"
            "\n"
            "def relative_error(a, b):\n"
            "    diff = np.abs(np.subtract(a, b, dtype=np.float64))\n"
            "    scale = np.abs(a) + np.abs(b)\n"
            "    return np.divide(diff, np.where(scale > 1e-8, scale, 1e-8)).max()\n"
        ),
        "flat index loop through a reshaped view, restoring the saved value": (
            "def numerical_gradient(f, w, h=1e-5):\n"
            "    grad = np.zeros(w.shape)\n"
            "    flat, gflat = w.reshape(-1), grad.reshape(-1)\n"
            "    for j in range(flat.size):\n"
            "        saved = flat[j]\n"
            "        flat[j] = saved + h\n"
            "        f_plus = f(w)\n"
            "        flat[j] = saved - h\n"
            "        f_minus = f(w)\n"
            "        flat[j] = saved\n"
            "        gflat[j] = (f_plus - f_minus) / (2 * h)\n"
            "    return grad\n"
        ),
        "flat index loop with restore by += / -= (w back up to the round-off of the restore)": (
            "def numerical_gradient(f, w, h=1e-5):\n"
            "    grad = np.zeros(w.shape)\n"
            "    flat, gflat = w.reshape(-1), grad.reshape(-1)\n"
            "    for j in range(flat.size):\n"
            "        flat[j] += h\n"
            "        f_plus = f(w)\n"
            "        flat[j] -= 2 * h\n"
            "        f_minus = f(w)\n"
            "        flat[j] += h\n"
            "        gflat[j] = (f_plus - f_minus) / (2 * h)\n"
            "    return grad\n"
        ),
    },
    "layer_backward": {
        "einsum, keepdims-free sums and the e/(1+e)^2 sigmoid derivative": (
            "def dense_backward(dout, X, W):\n"
            "    dX = np.einsum('nm,dm->nd', dout, W)\n"
            "    dW = np.einsum('nd,nm->dm', X, dout)\n"
            "    db = np.einsum('nm->m', dout)\n"
            "    return dX, dW, db\n"
            "\n"
            "def sigmoid_backward(dout, z):\n"
            "    e = np.exp(-np.abs(z))\n"
            "    return dout * e / (1.0 + e) ** 2\n"
            "\n"
            "def relu_backward(dout, z):\n"
            "    dz = np.array(dout, dtype=np.float64)\n"
            "    dz[z <= 0] = 0.0\n"
            "    return dz\n"
        ),
    },
    "mlp_backprop": {
        "everything inline with einsum, loss via np.logaddexp": (
            "def mlp_loss_and_grads(params, X, y):\n"
            "    N = len(X)\n"
            "    y = np.asarray(y, dtype=np.float64)\n"
            "    Z1 = np.einsum('nd,dh->nh', X, params['W1']) + params['b1']\n"
            "    A1 = np.maximum(Z1, 0.0)\n"
            "    z = np.einsum('nh,h->n', A1, params['W2'][:, 0]) + params['b2'][0]\n"
            "    loss = np.mean(np.logaddexp(0.0, z) - y * z)\n"
            "    dz = (sigmoid(z) - y) / N\n"
            "    dW2 = np.einsum('nh,n->h', A1, dz)[:, None]\n"
            "    db2 = np.array([dz.sum()])\n"
            "    dZ1 = np.outer(dz, params['W2'][:, 0]) * (Z1 > 0)\n"
            "    grads = {'W1': X.T @ dZ1, 'b1': dZ1.sum(0), 'W2': dW2, 'b2': db2}\n"
            "    print('loss', loss)\n"
            "    return loss, grads\n"
        ),
        "uses sigmoid_forward/sigmoid_backward with dJ/dy_hat written stably": (
            "def mlp_loss_and_grads(params, X, y):\n"
            "    N = X.shape[0]\n"
            "    y = np.asarray(y, dtype=np.float64)[:, None]\n"
            "    Z1, c1 = dense_forward(X, params['W1'], params['b1'])\n"
            "    A1, cr = relu_forward(Z1)\n"
            "    z2, c2 = dense_forward(A1, params['W2'], params['b2'])\n"
            "    loss = float(np.sum(np.maximum(z2, 0) - z2 * y + np.log1p(np.exp(-np.abs(z2)))) / N)\n"
            "    dz2 = (sigmoid(z2) - y) / N\n"
            "    dA1, dW2, db2 = dense_backward(dz2, *c2)\n"
            "    dX, dW1, db1 = dense_backward(relu_backward(dA1, cr), *c1)\n"
            "    return loss, dict(W1=dW1, b1=db1, W2=dW2, b2=db2)\n"
        ),
    },
    "gradient_descent": {
        "preallocated history with a while loop; list input accepted": (
            "def gradient_descent(grad_fn, w_init, lr, num_steps):\n"
            "    history = np.zeros((num_steps + 1,) + np.shape(w_init))\n"
            "    history[0] = w_init\n"
            "    k = 0\n"
            "    while k < num_steps:\n"
            "        history[k + 1] = history[k] - lr * grad_fn(history[k].copy())\n"
            "        k += 1\n"
            "    return history[-1].copy(), history\n"
        ),
    },
    "autodiff": {
        "Keras BinaryCrossentropy(from_logits=True, dtype='float64') and torch's functional loss on (N, 1) tensors": (
            "def grads_tf(params, X, y):\n"
            "    v = {k: tf.Variable(np.asarray(p), dtype=tf.float64) for k, p in params.items()}\n"
            "    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True, dtype='float64')\n"
            "    with tf.GradientTape() as tape:\n"
            "        z2 = tf.nn.relu(tf.constant(X) @ v['W1'] + v['b1']) @ v['W2'] + v['b2']\n"
            "        loss = bce(tf.reshape(tf.constant(y, dtype=tf.float64), (-1, 1)), z2)\n"
            "    print('loss', float(loss))\n"
            "    return {k: g.numpy() for k, g in tape.gradient(loss, v).items()}\n"
            "\n"
            "def grads_torch(params, X, y):\n"
            "    t = {k: torch.tensor(p, dtype=torch.float64, requires_grad=True) for k, p in params.items()}\n"
            "    z2 = torch.relu(torch.as_tensor(X) @ t['W1'] + t['b1']) @ t['W2'] + t['b2']\n"
            "    y_t = torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1)\n"
            "    torch.nn.BCEWithLogitsLoss()(z2, y_t).backward()\n"
            "    return {k: p.grad.numpy() for k, p in t.items()}\n"
        ),
        "torch.autograd.grad and a persistent tape with a list of variables": (
            "def grads_torch(params, X, y):\n"
            "    keys = list(params)\n"
            "    t = [torch.tensor(params[k], dtype=torch.float64, requires_grad=True) for k in keys]\n"
            "    p = dict(zip(keys, t))\n"
            "    z2 = torch.relu(torch.as_tensor(X, dtype=torch.float64) @ p['W1'] + p['b1']) @ p['W2'] + p['b2']\n"
            "    y_t = torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1)\n"
            "    loss = torch.mean(torch.clamp(z2, min=0) - y_t * z2 + torch.log1p(torch.exp(-torch.abs(z2))))\n"
            "    return {k: g.detach().numpy() for k, g in zip(keys, torch.autograd.grad(loss, t))}\n"
            "\n"
            "def grads_tf(params, X, y):\n"
            "    keys = ['W1', 'b1', 'W2', 'b2']\n"
            "    v = [tf.Variable(tf.constant(params[k], dtype=tf.float64)) for k in keys]\n"
            "    X_t = tf.convert_to_tensor(X, dtype=tf.float64)\n"
            "    y_t = tf.convert_to_tensor(y, dtype=tf.float64)\n"
            "    with tf.GradientTape(persistent=True) as tape:\n"
            "        z = tf.squeeze(tf.nn.relu(tf.matmul(X_t, v[0]) + v[1]) @ v[2] + v[3], axis=1)\n"
            "        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_t, logits=z))\n"
            "    grads = tape.gradient(loss, v)\n"
            "    return dict(zip(keys, [g.numpy() for g in grads]))\n"
        ),
    },
}
