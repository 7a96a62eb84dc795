"""Realistic wrong and right-but-different implementations of Lab 05's graded cells.

Each entry is Python source appended to the solution cell of its grade_id: it
redefines one or more of that cell's functions. tests/mutations/test_mutations.py
grades the resulting submissions and checks that every WRONG one loses exactly
that cell's points and every RIGHT one keeps full marks.
"""
LAB = "05_minibatch_sgd"

_CHECKS = (
    "    X, y = np.asarray(X), np.asarray(y)\n"
    "    if batch_size < 1:\n"
    "        raise ValueError('batch_size must be >= 1')\n"
    "    if len(X) != len(y):\n"
    "        raise ValueError('X and y differ in length')\n"
)

WRONG = {
    "minibatches": {
        "drops the last, smaller batch (range(N // batch_size))": (
            "def iterate_minibatches(X, y, batch_size, shuffle=True, rng=None):\n" + _CHECKS
            + "    order = (rng or np.random.default_rng()).permutation(len(y)) if shuffle else np.arange(len(y))\n"
            "    for k in range(len(y) // batch_size):\n"
            "        idx = order[k * batch_size:(k + 1) * batch_size]\n"
            "        yield X[idx], y[idx]\n"
        ),
        "samples with replacement (rng.integers)": (
            "def iterate_minibatches(X, y, batch_size, shuffle=True, rng=None):\n" + _CHECKS
            + "    order = (rng or np.random.default_rng()).integers(0, len(y), len(y)) if shuffle else np.arange(len(y))\n"
            "    for start in range(0, len(y), batch_size):\n"
            "        idx = order[start:start + batch_size]\n"
            "        yield X[idx], y[idx]\n"
        ),
        "shuffles with np.random's global generator": (
            "def iterate_minibatches(X, y, batch_size, shuffle=True, rng=None):\n" + _CHECKS
            + "    order = np.random.permutation(len(y)) if shuffle else np.arange(len(y))\n"
            "    for start in range(0, len(y), batch_size):\n"
            "        idx = order[start:start + batch_size]\n"
            "        yield X[idx], y[idx]\n"
        ),
        "shuffles X and y with two different permutations": (
            "def iterate_minibatches(X, y, batch_size, shuffle=True, rng=None):\n" + _CHECKS
            + "    rng = rng or np.random.default_rng()\n"
            "    order_X = rng.permutation(len(y)) if shuffle else np.arange(len(y))\n"
            "    order_y = rng.permutation(len(y)) if shuffle else np.arange(len(y))\n"
            "    for start in range(0, len(y), batch_size):\n"
            "        yield X[order_X[start:start + batch_size]], y[order_y[start:start + batch_size]]\n"
        ),
        "shuffles X and y in place": (
            "def iterate_minibatches(X, y, batch_size, shuffle=True, rng=None):\n"
            "    if batch_size < 1:\n"
            "        raise ValueError('batch_size must be >= 1')\n"
            "    if len(X) != len(y):\n"
            "        raise ValueError('X and y differ in length')\n"
            "    if shuffle:\n"
            "        order = (rng or np.random.default_rng()).permutation(len(y))\n"
            "        X[...] = X[order]\n"
            "        y[...] = y[order]\n"
            "    for start in range(0, len(y), batch_size):\n"
            "        yield X[start:start + batch_size], y[start:start + batch_size]\n"
        ),
        "shuffles even when shuffle=False": (
            "def iterate_minibatches(X, y, batch_size, shuffle=True, rng=None):\n" + _CHECKS
            + "    order = (rng or np.random.default_rng()).permutation(len(y))\n"
            "    for start in range(0, len(y), batch_size):\n"
            "        idx = order[start:start + batch_size]\n"
            "        yield X[idx], y[idx]\n"
        ),
        "no check of batch_size (a negative one yields nothing)": (
            "def iterate_minibatches(X, y, batch_size, shuffle=True, rng=None):\n"
            "    X, y = np.asarray(X), np.asarray(y)\n"
            "    order = (rng or np.random.default_rng()).permutation(len(y)) if shuffle else np.arange(len(y))\n"
            "    for start in range(0, len(y), batch_size):\n"
            "        idx = order[start:start + batch_size]\n"
            "        yield X[idx], y[idx]\n"
        ),
    },
    "minibatch_sgd": {
        "one loss per epoch (the epoch's average)": (
            "def minibatch_sgd(grad_fn, w_init, X, y, batch_size, lr, num_epochs, rng):\n"
            "    w, losses = np.array(w_init, dtype=float), []\n"
            "    for epoch in range(num_epochs):\n"
            "        epoch_losses = []\n"
            "        for X_b, y_b in iterate_minibatches(X, y, batch_size, shuffle=True, rng=rng):\n"
            "            loss, grad = grad_fn(w, X_b, y_b)\n"
            "            w = w - lr * grad\n"
            "            epoch_losses.append(loss)\n"
            "        losses.append(np.mean(epoch_losses))\n"
            "    return w, np.array(losses)\n"
        ),
        "shuffles once, before the epoch loop": (
            "def minibatch_sgd(grad_fn, w_init, X, y, batch_size, lr, num_epochs, rng):\n"
            "    w, losses = np.array(w_init, dtype=float), []\n"
            "    batches = list(iterate_minibatches(X, y, batch_size, shuffle=True, rng=rng))\n"
            "    for epoch in range(num_epochs):\n"
            "        for X_b, y_b in batches:\n"
            "            loss, grad = grad_fn(w, X_b, y_b)\n"
            "            w = w - lr * grad\n"
            "            losses.append(loss)\n"
            "    return w, np.array(losses)\n"
        ),
        "does not pass rng on (a fresh generator every epoch)": (
            "def minibatch_sgd(grad_fn, w_init, X, y, batch_size, lr, num_epochs, rng):\n"
            "    w, losses = np.array(w_init, dtype=float), []\n"
            "    for epoch in range(num_epochs):\n"
            "        for X_b, y_b in iterate_minibatches(X, y, batch_size):\n"
            "            loss, grad = grad_fn(w, X_b, y_b)\n"
            "            w = w - lr * grad\n"
            "            losses.append(loss)\n"
            "    return w, np.array(losses)\n"
        ),
        "records the loss after the update": (
            "def minibatch_sgd(grad_fn, w_init, X, y, batch_size, lr, num_epochs, rng):\n"
            "    w, losses = np.array(w_init, dtype=float), []\n"
            "    for epoch in range(num_epochs):\n"
            "        for X_b, y_b in iterate_minibatches(X, y, batch_size, shuffle=True, rng=rng):\n"
            "            _, grad = grad_fn(w, X_b, y_b)\n"
            "            w = w - lr * grad\n"
            "            losses.append(grad_fn(w, X_b, y_b)[0])\n"
            "    return w, np.array(losses)\n"
        ),
        "own batching that drops the last, smaller batch": (
            "def minibatch_sgd(grad_fn, w_init, X, y, batch_size, lr, num_epochs, rng):\n"
            "    w, losses, n = np.array(w_init, dtype=float), [], len(y)\n"
            "    for epoch in range(num_epochs):\n"
            "        order = rng.permutation(n)\n"
            "        for k in range(n // batch_size):\n"
            "            idx = order[k * batch_size:(k + 1) * batch_size]\n"
            "            loss, grad = grad_fn(w, X[idx], y[idx])\n"
            "            w = w - lr * grad\n"
            "            losses.append(loss)\n"
            "    return w, np.array(losses)\n"
        ),
        "steps up the gradient (w + lr * grad)": (
            "def minibatch_sgd(grad_fn, w_init, X, y, batch_size, lr, num_epochs, rng):\n"
            "    w, losses = np.array(w_init, dtype=float), []\n"
            "    for epoch in range(num_epochs):\n"
            "        for X_b, y_b in iterate_minibatches(X, y, batch_size, shuffle=True, rng=rng):\n"
            "            loss, grad = grad_fn(w, X_b, y_b)\n"
            "            w = w + lr * grad\n"
            "            losses.append(loss)\n"
            "    return w, np.array(losses)\n"
        ),
    },
    "gradient_noise": {
        "draws with replacement (rng.integers)": (
            "def gradient_noise(grad_fn, w, X, y, batch_size, num_draws, rng):\n"
            "    g = grad_fn(w, X, y)[1]\n"
            "    total = 0.0\n"
            "    for _ in range(num_draws):\n"
            "        idx = rng.integers(0, len(y), batch_size)\n"
            "        total += np.sum((grad_fn(w, X[idx], y[idx])[1] - g) ** 2)\n"
            "    return float(total / num_draws)\n"
        ),
        "averages the squared differences over the entries": (
            "def gradient_noise(grad_fn, w, X, y, batch_size, num_draws, rng):\n"
            "    g = grad_fn(w, X, y)[1]\n"
            "    distances = []\n"
            "    for _ in range(num_draws):\n"
            "        idx = rng.choice(len(y), size=batch_size, replace=False)\n"
            "        distances.append(np.mean((grad_fn(w, X[idx], y[idx])[1] - g) ** 2))\n"
            "    return float(np.mean(distances))\n"
        ),
        "the distance, not its square": (
            "def gradient_noise(grad_fn, w, X, y, batch_size, num_draws, rng):\n"
            "    g = grad_fn(w, X, y)[1]\n"
            "    distances = []\n"
            "    for _ in range(num_draws):\n"
            "        idx = rng.choice(len(y), size=batch_size, replace=False)\n"
            "        distances.append(np.linalg.norm(grad_fn(w, X[idx], y[idx])[1] - g))\n"
            "    return float(np.mean(distances))\n"
        ),
        "draws with np.random's global generator": (
            "def gradient_noise(grad_fn, w, X, y, batch_size, num_draws, rng):\n"
            "    g = grad_fn(w, X, y)[1]\n"
            "    total = 0.0\n"
            "    for _ in range(num_draws):\n"
            "        idx = np.random.choice(len(y), size=batch_size, replace=False)\n"
            "        total += np.sum((grad_fn(w, X[idx], y[idx])[1] - g) ** 2)\n"
            "    return float(total / num_draws)\n"
        ),
        "sums over the draws instead of averaging": (
            "def gradient_noise(grad_fn, w, X, y, batch_size, num_draws, rng):\n"
            "    g = grad_fn(w, X, y)[1]\n"
            "    total = 0.0\n"
            "    for _ in range(num_draws):\n"
            "        idx = rng.choice(len(y), size=batch_size, replace=False)\n"
            "        total += np.sum((grad_fn(w, X[idx], y[idx])[1] - g) ** 2)\n"
            "    return float(total)\n"
        ),
    },
    "predicted_gradient_noise": {
        "sigma2 / B, the noise with replacement": (
            "def predicted_gradient_noise(sigma2, batch_size, num_samples):\n"
            "    B = np.asarray(batch_size)\n"
            "    if num_samples < 2 or np.any(B < 1) or np.any(B > num_samples):\n"
            "        raise ValueError('need N >= 2 and 1 <= B <= N')\n"
            "    noise = sigma2 / B.astype(float)\n"
            "    return float(noise) if noise.ndim == 0 else noise\n"
        ),
        "N instead of N - 1 in the finite-population factor": (
            "def predicted_gradient_noise(sigma2, batch_size, num_samples):\n"
            "    B = np.asarray(batch_size)\n"
            "    if num_samples < 2 or np.any(B < 1) or np.any(B > num_samples):\n"
            "        raise ValueError('need N >= 2 and 1 <= B <= N')\n"
            "    noise = sigma2 / B * (1 - B / num_samples)\n"
            "    return float(noise) if noise.ndim == 0 else noise\n"
        ),
        "forgets to divide by B": (
            "def predicted_gradient_noise(sigma2, batch_size, num_samples):\n"
            "    B = np.asarray(batch_size)\n"
            "    if num_samples < 2 or np.any(B < 1) or np.any(B > num_samples):\n"
            "        raise ValueError('need N >= 2 and 1 <= B <= N')\n"
            "    noise = sigma2 * (num_samples - B) / (num_samples - 1)\n"
            "    return float(noise) if noise.ndim == 0 else noise\n"
        ),
        "checks the range with `if`, which fails for an array of batch sizes": (
            "def predicted_gradient_noise(sigma2, batch_size, num_samples):\n"
            "    if num_samples < 2 or not 1 <= batch_size <= num_samples:\n"
            "        raise ValueError('need N >= 2 and 1 <= B <= N')\n"
            "    return sigma2 / batch_size * (num_samples - batch_size) / (num_samples - 1)\n"
        ),
        "no ValueError: answers for B > N and B < 1": (
            "def predicted_gradient_noise(sigma2, batch_size, num_samples):\n"
            "    B = np.asarray(batch_size, dtype=float)\n"
            "    noise = sigma2 / B * (num_samples - B) / (num_samples - 1)\n"
            "    return float(noise) if noise.ndim == 0 else noise\n"
        ),
        "integer division in the finite-population factor": (
            "def predicted_gradient_noise(sigma2, batch_size, num_samples):\n"
            "    B = np.asarray(batch_size)\n"
            "    if num_samples < 2 or np.any(B < 1) or np.any(B > num_samples):\n"
            "        raise ValueError('need N >= 2 and 1 <= B <= N')\n"
            "    noise = sigma2 / B * ((num_samples - B) // (num_samples - 1))\n"
            "    return float(noise) if noise.ndim == 0 else noise\n"
        ),
    },
    "data_pipelines": {
        "torch: drop_last=True": (
            "def make_torch_loader(X, y, batch_size, shuffle, seed):\n"
            "    dataset = torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(y))\n"
            "    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=True,\n"
            "                                       generator=torch.Generator().manual_seed(seed))\n"
        ),
        "tf: batch(drop_remainder=True)": (
            "def make_tf_dataset(X, y, batch_size, shuffle, seed):\n"
            "    dataset = tf.data.Dataset.from_tensor_slices((X, y))\n"
            "    if shuffle:\n"
            "        dataset = dataset.shuffle(len(y), seed=seed)\n"
            "    return dataset.batch(batch_size, drop_remainder=True)\n"
        ),
        "torch: torch.manual_seed(seed) instead of a generator": (
            "def make_torch_loader(X, y, batch_size, shuffle, seed):\n"
            "    torch.manual_seed(seed)\n"
            "    dataset = torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(y))\n"
            "    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)\n"
        ),
        "tf: reshuffle_each_iteration=False": (
            "def make_tf_dataset(X, y, batch_size, shuffle, seed):\n"
            "    dataset = tf.data.Dataset.from_tensor_slices((X, y))\n"
            "    if shuffle:\n"
            "        dataset = dataset.shuffle(len(y), seed=seed, reshuffle_each_iteration=False)\n"
            "    return dataset.batch(batch_size)\n"
        ),
        "tf: batches first, then shuffles the batches": (
            "def make_tf_dataset(X, y, batch_size, shuffle, seed):\n"
            "    dataset = tf.data.Dataset.from_tensor_slices((X, y)).batch(batch_size)\n"
            "    return dataset.shuffle(len(y), seed=seed) if shuffle else dataset\n"
        ),
        "tf: shuffle without a seed": (
            "def make_tf_dataset(X, y, batch_size, shuffle, seed):\n"
            "    dataset = tf.data.Dataset.from_tensor_slices((X, y))\n"
            "    if shuffle:\n"
            "        dataset = dataset.shuffle(len(y))\n"
            "    return dataset.batch(batch_size)\n"
        ),
        "torch: always shuffles": (
            "def make_torch_loader(X, y, batch_size, shuffle, seed):\n"
            "    dataset = torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(y))\n"
            "    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,\n"
            "                                       generator=torch.Generator().manual_seed(seed))\n"
        ),
    },
}

RIGHT = {
    "minibatches": {
        "returns a list, shuffles a copy of the positions with rng.shuffle": (
            "def iterate_minibatches(X, y, batch_size, shuffle=True, rng=None):\n"
            "    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:\n"
            "        raise ValueError(f'batch_size must be a positive integer, got {batch_size}')\n"
            "    if len(X) != len(y):\n"
            "        raise ValueError(f'{len(X)} rows in X, {len(y)} in y')\n"
            "    positions = np.arange(len(X))\n"
            "    if shuffle:\n"
            "        (rng if rng is not None else np.random.default_rng()).shuffle(positions)\n"
            "    return [(X[positions[i:i + batch_size]], y[positions[i:i + batch_size]])\n"
            "            for i in range(0, len(positions), batch_size)]\n"
        ),
        "a while loop with np.take": (
            "def iterate_minibatches(X, y, batch_size, shuffle=True, rng=None):\n"
            "    if batch_size <= 0:\n"
            "        raise ValueError('batch_size must be at least 1')\n"
            "    if np.shape(X)[0] != np.shape(y)[0]:\n"
            "        raise ValueError('X and y must have the same number of rows')\n"
            "    n = np.shape(y)[0]\n"
            "    if shuffle and rng is None:\n"
            "        rng = np.random.default_rng()\n"
            "    order = rng.permutation(n) if shuffle else np.arange(n)\n"
            "    start = 0\n"
            "    while start < n:\n"
            "        idx = order[start:start + batch_size]\n"
            "        yield np.take(X, idx, axis=0), np.take(y, idx, axis=0)\n"
            "        start += batch_size\n"
        ),
    },
    "minibatch_sgd": {
        "own shuffling with rng.permutation, an in-place update of a copy, losses as a list": (
            "def minibatch_sgd(grad_fn, w_init, X, y, batch_size, lr, num_epochs, rng):\n"
            "    w = np.array(w_init, dtype=float)\n"
            "    losses = []\n"
            "    for _ in range(num_epochs):\n"
            "        order = rng.permutation(len(y))\n"
            "        for start in range(0, len(y), batch_size):\n"
            "            idx = order[start:start + batch_size]\n"
            "            loss, grad = grad_fn(w, X[idx], y[idx])\n"
            "            w -= lr * np.asarray(grad)\n"
            "            losses.append(loss)\n"
            "    return w, losses\n"
        ),
        "one loop over the epochs chained together": (
            "import itertools\n"
            "def minibatch_sgd(grad_fn, w_init, X, y, batch_size, lr, num_epochs, rng):\n"
            "    w, losses = np.asarray(w_init, dtype=np.float64), []\n"
            "    epochs = (iterate_minibatches(X, y, batch_size, rng=rng) for _ in range(num_epochs))\n"
            "    for X_b, y_b in itertools.chain.from_iterable(epochs):\n"
            "        loss, grad = grad_fn(w, X_b, y_b)\n"
            "        losses.append(float(loss))\n"
            "        w = np.subtract(w, lr * grad)\n"
            "    return w, np.asarray(losses)\n"
        ),
    },
    "gradient_noise": {
        "rng.permutation(N)[:B], the norm squared, a list of distances": (
            "def gradient_noise(grad_fn, w, X, y, batch_size, num_draws, rng):\n"
            "    _, full = grad_fn(w, X, y)\n"
            "    distances = []\n"
            "    for _ in range(num_draws):\n"
            "        idx = rng.permutation(len(y))[:batch_size]\n"
            "        distances.append(np.linalg.norm(np.ravel(grad_fn(w, X[idx], y[idx])[1] - full)) ** 2)\n"
            "    return np.mean(distances)\n"
        ),
        "disjoint batches from successive permutations (epoch style)": (
            "def gradient_noise(grad_fn, w, X, y, batch_size, num_draws, rng):\n"
            "    n, g = len(y), grad_fn(w, X, y)[1]\n"
            "    order, pos, total = rng.permutation(n), 0, 0.0\n"
            "    for _ in range(num_draws):\n"
            "        if pos + batch_size > n:\n"
            "            order, pos = rng.permutation(n), 0\n"
            "        idx = order[pos:pos + batch_size]\n"
            "        pos += batch_size\n"
            "        total += float(((grad_fn(w, X[idx], y[idx])[1] - g) ** 2).sum())\n"
            "    return total / num_draws\n"
        ),
    },
    "predicted_gradient_noise": {
        "(1/B - 1/N) * N/(N - 1), a list comprehension for arrays, the checks with all()": (
            "def predicted_gradient_noise(sigma2, batch_size, num_samples):\n"
            "    if num_samples <= 1:\n"
            "        raise ValueError(f'need at least 2 samples, got {num_samples}')\n"
            "    def one(b):\n"
            "        if not 1 <= b <= num_samples:\n"
            "            raise ValueError(f'batch size {b} outside [1, {num_samples}]')\n"
            "        return sigma2 * (1.0 / b - 1.0 / num_samples) * num_samples / (num_samples - 1.0)\n"
            "    if np.ndim(batch_size) == 0:\n"
            "        return one(batch_size)\n"
            "    sizes = np.asarray(batch_size)\n"
            "    return np.array([one(b) for b in sizes.ravel()]).reshape(sizes.shape)\n"
        ),
    },
    "data_pipelines": {
        "torch: float32 tensors and an explicit sampler with its own generator": (
            "def make_torch_loader(X, y, batch_size, shuffle, seed):\n"
            "    dataset = torch.utils.data.TensorDataset(torch.tensor(X, dtype=torch.float32), torch.as_tensor(y))\n"
            "    sampler = (torch.utils.data.RandomSampler(dataset, generator=torch.Generator().manual_seed(seed)) if shuffle\n"
            "               else torch.utils.data.SequentialSampler(dataset))\n"
            "    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=False)\n"
        ),
        "tf: tensors first, default reshuffling, prefetch": (
            "def make_tf_dataset(X, y, batch_size, shuffle, seed):\n"
            "    dataset = tf.data.Dataset.from_tensor_slices((tf.constant(X), tf.constant(y)))\n"
            "    if shuffle:\n"
            "        dataset = dataset.shuffle(buffer_size=int(tf.shape(X)[0]), seed=seed)\n"
            "    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)\n"
        ),
    },
}
