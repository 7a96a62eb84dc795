"""Realistic wrong and right-but-different implementations of Lab 06's graded cells.

Each entry is Python source appended to the solution cell of its grade_id: it
redefines one or more of that cell's functions or classes.
tests/mutations/test_mutations.py grades the resulting submissions and checks
that every WRONG one loses exactly that cell's points and every RIGHT one keeps
full marks.
"""
LAB = "06_regularization"

# adamw mutants share Adam's defaults and moments; each differs in where the decay goes
_ADAM_HEAD = (
    "def adamw(w, dw, config=None):\n"
    "    if config is None:\n"
    "        config = {}\n"
    "    config.setdefault('learning_rate', 1e-3)\n"
    "    config.setdefault('beta1', 0.9)\n"
    "    config.setdefault('beta2', 0.999)\n"
    "    config.setdefault('eps', 1e-8)\n"
    "    config.setdefault('weight_decay', 1e-2)\n"
    "    lr, b1, b2, wd = config['learning_rate'], config['beta1'], config['beta2'], config['weight_decay']\n"
    "    t = config.get('t', 0) + 1\n"
)
_MOMENTS = (
    "    m = b1 * config.get('m', np.zeros(np.shape(w))) + (1 - b1) * g\n"
    "    v = b2 * config.get('v', np.zeros(np.shape(w))) + (1 - b2) * g * g\n"
    "    config['t'], config['m'], config['v'] = t, m, v\n"
    "    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)\n"
    "    step = m_hat / (np.sqrt(v_hat) + config['eps'])\n"
)

WRONG = {
    "dropout": {
        "kept units scaled by p instead of 1 / (1 - p)": (
            "def dropout_forward(x, p, training, rng):\n"
            "    x = np.asarray(x, dtype=np.float64)\n"
            "    if not training:\n"
            "        return x.copy(), None\n"
            "    mask = (rng.random(x.shape) >= p) * p\n"
            "    return x * mask, mask\n"
        ),
        "dropout active at evaluation too": (
            "def dropout_forward(x, p, training, rng):\n"
            "    x = np.asarray(x, dtype=np.float64)\n"
            "    mask = (rng.random(x.shape) >= p) / (1.0 - p)\n"
            "    return x * mask, mask\n"
        ),
        "p used as the probability of keeping a unit": (
            "def dropout_forward(x, p, training, rng):\n"
            "    x = np.asarray(x, dtype=np.float64)\n"
            "    if not training:\n"
            "        return x.copy(), None\n"
            "    mask = (rng.random(x.shape) < p) / p if p > 0 else np.ones(x.shape)\n"
            "    return x * mask, mask\n"
        ),
        "no scaling of the kept units (plain dropout)": (
            "def dropout_forward(x, p, training, rng):\n"
            "    x = np.asarray(x, dtype=np.float64)\n"
            "    if not training:\n"
            "        return x.copy(), None\n"
            "    mask = (rng.random(x.shape) >= p).astype(np.float64)\n"
            "    return x * mask, mask\n"
        ),
        "numpy's global random state instead of rng": (
            "def dropout_forward(x, p, training, rng):\n"
            "    x = np.asarray(x, dtype=np.float64)\n"
            "    if not training:\n"
            "        return x.copy(), None\n"
            "    mask = (np.random.rand(*x.shape) >= p) / (1.0 - p)\n"
            "    return x * mask, mask\n"
        ),
        "zeroes x in place": (
            "def dropout_forward(x, p, training, rng):\n"
            "    if not training:\n"
            "        return np.array(x, dtype=np.float64), None\n"
            "    mask = (rng.random(x.shape) >= p) / (1.0 - p)\n"
            "    x *= mask\n"
            "    return x, mask\n"
        ),
        "backward without the 1 / (1 - p) scale of the kept units": (
            "def dropout_backward(dout, mask):\n"
            "    if mask is None:\n"
            "        return np.array(dout, dtype=np.float64)\n"
            "    return dout * (mask != 0)\n"
        ),
    },
    "framework_dropout": {
        "torch: nn.Dropout(p=1 - rate), the keep probability": (
            "def build_dropout_model_torch(num_inputs, num_hiddens, num_outputs, rate):\n"
            "    layers, width = [], num_inputs\n"
            "    for h in num_hiddens:\n"
            "        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(p=1.0 - rate)]\n"
            "        width = h\n"
            "    layers.append(nn.Linear(width, num_outputs))\n"
            "    return nn.Sequential(*layers)\n"
        ),
        "Keras: dropout only after the first hidden layer": (
            "def build_dropout_model_tf(num_inputs, num_hiddens, num_outputs, rate):\n"
            "    layers = [tf.keras.Input(shape=(num_inputs,))]\n"
            "    for i, h in enumerate(num_hiddens):\n"
            "        layers.append(tf.keras.layers.Dense(h, activation='relu'))\n"
            "        if i == 0:\n"
            "            layers.append(tf.keras.layers.Dropout(rate))\n"
            "    layers.append(tf.keras.layers.Dense(num_outputs))\n"
            "    return tf.keras.Sequential(layers)\n"
        ),
        "torch: functional dropout that stays on in eval mode": (
            "class _DropoutMLP(nn.Module):\n"
            "    def __init__(self, sizes, rate):\n"
            "        super().__init__()\n"
            "        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))\n"
            "        self.rate = rate\n"
            "    def forward(self, x):\n"
            "        for layer in self.layers[:-1]:\n"
            "            x = nn.functional.dropout(torch.relu(layer(x)), p=self.rate)\n"
            "        return self.layers[-1](x)\n"
            "\n"
            "def build_dropout_model_torch(num_inputs, num_hiddens, num_outputs, rate):\n"
            "    return _DropoutMLP([num_inputs, *num_hiddens, num_outputs], rate)\n"
        ),
        "Keras: dropout on the inputs instead of after the hidden layers": (
            "def build_dropout_model_tf(num_inputs, num_hiddens, num_outputs, rate):\n"
            "    layers = [tf.keras.Input(shape=(num_inputs,)), tf.keras.layers.Dropout(rate)]\n"
            "    layers += [tf.keras.layers.Dense(h, activation='relu') for h in num_hiddens]\n"
            "    layers.append(tf.keras.layers.Dense(num_outputs))\n"
            "    return tf.keras.Sequential(layers)\n"
        ),
        "torch: an activation after the output layer too": (
            "def build_dropout_model_torch(num_inputs, num_hiddens, num_outputs, rate):\n"
            "    layers, width = [], num_inputs\n"
            "    for h in num_hiddens:\n"
            "        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(p=rate)]\n"
            "        width = h\n"
            "    layers += [nn.Linear(width, num_outputs), nn.ReLU()]\n"
            "    return nn.Sequential(*layers)\n"
        ),
    },
    "early_stopping": {
        "patience off by one: stops when wait > patience": (
            "class EarlyStopping:\n"
            "    def __init__(self, patience, min_delta=0.0):\n"
            "        self.patience, self.min_delta = patience, min_delta\n"
            "        self.best_loss, self.best_epoch, self.best_params = np.inf, None, None\n"
            "        self.epoch, self.wait = -1, 0\n"
            "    def step(self, val_loss, params):\n"
            "        self.epoch += 1\n"
            "        if val_loss < self.best_loss - self.min_delta:\n"
            "            self.best_loss, self.best_epoch, self.wait = val_loss, self.epoch, 0\n"
            "            self.best_params = copy.deepcopy(params)\n"
            "            return False\n"
            "        self.wait += 1\n"
            "        return self.wait > self.patience\n"
        ),
        "best weights kept by reference": (
            "class EarlyStopping:\n"
            "    def __init__(self, patience, min_delta=0.0):\n"
            "        self.patience, self.min_delta = patience, min_delta\n"
            "        self.best_loss, self.best_epoch, self.best_params = np.inf, None, None\n"
            "        self.epoch, self.wait = -1, 0\n"
            "    def step(self, val_loss, params):\n"
            "        self.epoch += 1\n"
            "        self.wait += 1\n"
            "        if val_loss < self.best_loss - self.min_delta:\n"
            "            self.best_loss, self.best_epoch, self.wait = val_loss, self.epoch, 0\n"
            "            self.best_params = params\n"
            "            return False\n"
            "        return self.wait >= self.patience\n"
        ),
        "min_delta ignored": (
            "class EarlyStopping:\n"
            "    def __init__(self, patience, min_delta=0.0):\n"
            "        self.patience = patience\n"
            "        self.best_loss, self.best_epoch, self.best_params = np.inf, None, None\n"
            "        self.epoch, self.wait = -1, 0\n"
            "    def step(self, val_loss, params):\n"
            "        self.epoch += 1\n"
            "        self.wait += 1\n"
            "        if val_loss < self.best_loss:\n"
            "            self.best_loss, self.best_epoch, self.wait = val_loss, self.epoch, 0\n"
            "            self.best_params = copy.deepcopy(params)\n"
            "            return False\n"
            "        return self.wait >= self.patience\n"
        ),
        "a dict copy that shares the arrays (params.copy())": (
            "class EarlyStopping:\n"
            "    def __init__(self, patience, min_delta=0.0):\n"
            "        self.patience, self.min_delta = patience, min_delta\n"
            "        self.best_loss, self.best_epoch, self.best_params = np.inf, None, None\n"
            "        self.epoch, self.wait = -1, 0\n"
            "    def step(self, val_loss, params):\n"
            "        self.epoch += 1\n"
            "        self.wait += 1\n"
            "        if val_loss < self.best_loss - self.min_delta:\n"
            "            self.best_loss, self.best_epoch, self.wait = val_loss, self.epoch, 0\n"
            "            self.best_params = params.copy()\n"
            "            return False\n"
            "        return self.wait >= self.patience\n"
        ),
        "counter counts all worse epochs, never reset by an improvement": (
            "class EarlyStopping:\n"
            "    def __init__(self, patience, min_delta=0.0):\n"
            "        self.patience, self.min_delta = patience, min_delta\n"
            "        self.best_loss, self.best_epoch, self.best_params = np.inf, None, None\n"
            "        self.epoch, self.bad = -1, 0\n"
            "    def step(self, val_loss, params):\n"
            "        self.epoch += 1\n"
            "        if val_loss < self.best_loss - self.min_delta:\n"
            "            self.best_loss, self.best_epoch = val_loss, self.epoch\n"
            "            self.best_params = copy.deepcopy(params)\n"
            "            return False\n"
            "        self.bad += 1\n"
            "        return self.bad >= self.patience\n"
        ),
        "best_epoch counted from 1": (
            "class EarlyStopping:\n"
            "    def __init__(self, patience, min_delta=0.0):\n"
            "        self.patience, self.min_delta = patience, min_delta\n"
            "        self.best_loss, self.best_epoch, self.best_params = np.inf, None, None\n"
            "        self.epoch, self.wait = 0, 0\n"
            "    def step(self, val_loss, params):\n"
            "        self.epoch += 1\n"
            "        self.wait += 1\n"
            "        if val_loss < self.best_loss - self.min_delta:\n"
            "            self.best_loss, self.best_epoch, self.wait = val_loss, self.epoch, 0\n"
            "            self.best_params = copy.deepcopy(params)\n"
            "            return False\n"
            "        return self.wait >= self.patience\n"
        ),
    },
    "weight_decay": {
        "biases penalised": (
            "def l2_penalty(params, lam):\n"
            "    return float(lam * sum(np.sum(v ** 2) for v in params.values()))\n"
            "\n"
            "def l2_gradient(params, lam):\n"
            "    return {k: 2.0 * lam * v for k, v in params.items()}\n"
        ),
        "the factor 2 missing in the gradient": (
            "def l2_gradient(params, lam):\n"
            "    return {k: lam * v if k.startswith('W') else np.zeros_like(v) for k, v in params.items()}\n"
        ),
        "penalty with the norm, not its square": (
            "def l2_penalty(params, lam):\n"
            "    return float(lam * sum(np.linalg.norm(v) for k, v in params.items() if k.startswith('W')))\n"
        ),
        "a factor 1/2 in the penalty (lam / 2 * ||W||^2)": (
            "def l2_penalty(params, lam):\n"
            "    return float(0.5 * lam * sum(np.sum(v ** 2) for k, v in params.items() if k.startswith('W')))\n"
        ),
        "gradient leaves the biases out of the dict": (
            "def l2_gradient(params, lam):\n"
            "    return {k: 2.0 * lam * v for k, v in params.items() if k.startswith('W')}\n"
        ),
        "gradient decays the weights in place": (
            "def l2_gradient(params, lam):\n"
            "    grads = {}\n"
            "    for k, v in params.items():\n"
            "        if k.startswith('W'):\n"
            "            v *= 2.0 * lam\n"
            "            grads[k] = v\n"
            "        else:\n"
            "            grads[k] = np.zeros_like(v)\n"
            "    return grads\n"
        ),
    },
    "adamw": {
        "L2 in the gradient: weight_decay * w added to dw before Adam (torch's Adam(weight_decay=))": (
            _ADAM_HEAD + "    g = dw + wd * w\n" + _MOMENTS + "    return w - lr * step, config\n"),
        "decay after the Adam step, applied to the new weights": (
            _ADAM_HEAD + "    g = dw\n" + _MOMENTS + "    return (w - lr * step) * (1 - lr * wd), config\n"),
        "decay without the learning rate: w * (1 - weight_decay)": (
            _ADAM_HEAD + "    g = dw\n" + _MOMENTS + "    return w * (1 - wd) - lr * step, config\n"),
        "no bias correction of m and v": (
            _ADAM_HEAD + "    g = dw\n"
            + _MOMENTS.replace("m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)", "m_hat, v_hat = m, v")
            + "    return w * (1 - lr * wd) - lr * step, config\n"),
        "decay inside Adam's normalisation: (m_hat + wd * w) / (sqrt(v_hat) + eps)": (
            _ADAM_HEAD + "    g = dw\n" + _MOMENTS.replace("step = m_hat / (", "step = (m_hat + wd * w) / (")
            + "    return w - lr * step, config\n"),
        "the step count kept in a global variable shared by all runs": (
            "_adamw_t = [0]\n\n"
            + _ADAM_HEAD.replace("    t = config.get('t', 0) + 1\n", "    _adamw_t[0] += 1\n    t = _adamw_t[0]\n")
            + "    g = dw\n" + _MOMENTS + "    return w * (1 - lr * wd) - lr * step, config\n"),
    },
}

RIGHT = {
    "dropout": {
        "binomial keep mask, scaled with np.where": (
            "def dropout_forward(x, p, training, rng):\n"
            "    x = np.asarray(x, dtype=np.float64)\n"
            "    if not training or p == 0:\n"
            "        return x.copy(), None\n"
            "    keep = rng.binomial(1, 1.0 - p, size=x.shape).astype(bool)\n"
            "    mask = np.where(keep, 1.0 / (1.0 - p), 0.0)\n"
            "    print('dropout: kept', int(keep.sum()), 'of', keep.size)\n"
            "    return np.where(keep, x / (1.0 - p), 0.0), mask\n"
            "\n"
            "def dropout_backward(dout, mask):\n"
            "    return np.array(dout, dtype=np.float64) if mask is None else np.multiply(dout, mask)\n"
        ),
        "uniform draw compared the other way round, mask of ones in evaluation": (
            "def dropout_forward(x, p, training, rng):\n"
            "    x = np.array(x, dtype=np.float64)\n"
            "    if not training:\n"
            "        return x, np.ones_like(x)\n"
            "    mask = (1.0 - rng.uniform(size=x.shape) > p) * (1.0 / (1.0 - p))\n"
            "    return mask * x, mask\n"
        ),
    },
    "framework_dropout": {
        "custom torch module with F.dropout(training=self.training), Keras functional API": (
            "class _DropoutMLP(nn.Module):\n"
            "    def __init__(self, sizes, rate):\n"
            "        super().__init__()\n"
            "        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))\n"
            "        self.rate = rate\n"
            "    def forward(self, x):\n"
            "        for layer in self.layers[:-1]:\n"
            "            x = nn.functional.dropout(torch.relu(layer(x)), p=self.rate, training=self.training)\n"
            "        return self.layers[-1](x)\n"
            "\n"
            "def build_dropout_model_torch(num_inputs, num_hiddens, num_outputs, rate):\n"
            "    return _DropoutMLP([num_inputs, *num_hiddens, num_outputs], rate)\n"
            "\n"
            "def build_dropout_model_tf(num_inputs, num_hiddens, num_outputs, rate):\n"
            "    inputs = tf.keras.Input(shape=(num_inputs,))\n"
            "    h = inputs\n"
            "    for width in num_hiddens:\n"
            "        h = tf.keras.layers.Dropout(rate=rate)(tf.keras.layers.Dense(width, activation='relu')(h))\n"
            "    return tf.keras.Model(inputs, tf.keras.layers.Dense(num_outputs)(h))\n"
        ),
        "dropout before the ReLU (the same function, since a mask is non-negative)": (
            "def build_dropout_model_torch(num_inputs, num_hiddens, num_outputs, rate):\n"
            "    layers, width = [], num_inputs\n"
            "    for h in num_hiddens:\n"
            "        layers += [nn.Linear(width, h), nn.Dropout(rate), nn.ReLU()]\n"
            "        width = h\n"
            "    return nn.Sequential(*layers, nn.Linear(width, num_outputs))\n"
            "\n"
            "def build_dropout_model_tf(num_inputs, num_hiddens, num_outputs, rate):\n"
            "    model = tf.keras.Sequential([tf.keras.Input(shape=(num_inputs,))])\n"
            "    for h in num_hiddens:\n"
            "        model.add(tf.keras.layers.Dense(h))\n"
            "        model.add(tf.keras.layers.Dropout(rate))\n"
            "        model.add(tf.keras.layers.ReLU())\n"
            "    model.add(tf.keras.layers.Dense(num_outputs))\n"
            "    return model\n"
        ),
    },
    "early_stopping": {
        "epochs since the best, params copied array by array": (
            "class EarlyStopping:\n"
            "    def __init__(self, patience, min_delta=0.0):\n"
            "        self.patience, self.min_delta = patience, min_delta\n"
            "        self.best_loss, self.best_epoch, self.best_params = float('inf'), None, None\n"
            "        self.history = []\n"
            "    def step(self, val_loss, params):\n"
            "        self.history.append(val_loss)\n"
            "        epoch = len(self.history) - 1\n"
            "        if val_loss + self.min_delta < self.best_loss:\n"
            "            self.best_loss, self.best_epoch = val_loss, epoch\n"
            "            self.best_params = {k: np.array(v, copy=True) for k, v in params.items()}\n"
            "            return False\n"
            "        return epoch - self.best_epoch >= self.patience\n"
        ),
        "Keras's float32 comparison, verbatim": (
            "class EarlyStopping:\n"
            "    def __init__(self, patience, min_delta=0.0):\n"
            "        self.patience, self.min_delta = patience, min_delta\n"
            "        self.best_loss, self.best_epoch, self.best_params = None, 0, None\n"
            "        self.wait, self.epoch = 0, -1\n"
            "    def step(self, val_loss, params):\n"
            "        self.epoch += 1\n"
            "        self.wait += 1\n"
            "        if self.best_loss is None or np.float32(val_loss + self.min_delta) < np.float32(self.best_loss):\n"
            "            self.best_loss, self.best_epoch, self.wait = val_loss, self.epoch, 0\n"
            "            self.best_params = copy.deepcopy(params)\n"
            "            return False\n"
            "        return bool(self.wait >= self.patience and self.epoch > 0)\n"
        ),
    },
    "weight_decay": {
        "einsum and a dict built in a loop": (
            "def l2_penalty(params, lam):\n"
            "    total = 0.0\n"
            "    for name in params:\n"
            "        if name[0] == 'W':\n"
            "            w = np.ravel(params[name])\n"
            "            total += float(np.einsum('i,i->', w, w))\n"
            "    return lam * total\n"
            "\n"
            "def l2_gradient(params, lam):\n"
            "    grads = {}\n"
            "    for name, value in params.items():\n"
            "        grads[name] = lam * (value + value) if name[0] == 'W' else 0.0 * value\n"
            "    return grads\n"
        ),
    },
    "adamw": {
        "decay written as w - lr * wd * w, torch's denominator sqrt(v) / sqrt(1 - beta2**t) + eps, "
        "state as one tuple, a print": (
            "def adamw(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    for key, value in (('learning_rate', 1e-3), ('beta1', 0.9), ('beta2', 0.999), ('eps', 1e-8),\n"
            "                       ('weight_decay', 1e-2)):\n"
            "        config.setdefault(key, value)\n"
            "    lr, (b1, b2) = config['learning_rate'], (config['beta1'], config['beta2'])\n"
            "    t, m, v = config.get('state', (0, 0.0, 0.0))\n"
            "    t = t + 1\n"
            "    m = b1 * m + (1.0 - b1) * np.asarray(dw, dtype=float)\n"
            "    v = b2 * v + (1.0 - b2) * np.square(dw)\n"
            "    config['state'] = (t, m, v)\n"
            "    w = np.asarray(w, dtype=np.float64)\n"
            "    decayed = w - lr * config['weight_decay'] * w\n"
            "    denom = np.sqrt(v) / np.sqrt(1.0 - b2 ** t) + config['eps']\n"
            "    if t == 1:\n"
            "        print('adamw: first step')\n"
            "    return decayed - (lr / (1.0 - b1 ** t)) * m / denom, config\n"
        ),
    },
}
