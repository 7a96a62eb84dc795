"""Realistic wrong and right-but-different implementations of Lab 04's graded cells.

Each entry is Python source appended to the solution cell of its grade_id: it
redefines one or more of that cell's functions. tests/mutations/test_mutations.py
grades the resulting submissions and checks that every WRONG one loses exactly
that cell's points and every RIGHT one keeps full marks.
"""
LAB = "04_optimizers"

WRONG = {
    "sgd": {
        "adds the gradient (ascent)": (
            "def sgd(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-3)\n"
            "    return w + config['learning_rate'] * dw, config\n"
        ),
        "changes w in place": (
            "def sgd(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-3)\n"
            "    w -= config['learning_rate'] * dw\n"
            "    return w, config\n"
        ),
        "Keras' default learning rate 0.01 instead of torch's 1e-3": (
            "def sgd(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-2)\n"
            "    return w - config['learning_rate'] * dw, config\n"
        ),
        "returns next_w alone, without the config": (
            "def sgd(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-3)\n"
            "    return w - config['learning_rate'] * dw\n"
        ),
    },
    "sgd_momentum": {
        "Nesterov ignored": (
            "def sgd_momentum(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-3); config.setdefault('momentum', 0.9); config.setdefault('nesterov', False)\n"
            "    v = config.get('velocity')\n"
            "    v = dw.copy() if v is None else config['momentum'] * v + dw\n"
            "    config['velocity'] = v\n"
            "    return w - config['learning_rate'] * v, config\n"
        ),
        "velocity kept in a global variable": (
            "_velocity = {}\n"
            "def sgd_momentum(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-3); config.setdefault('momentum', 0.9); config.setdefault('nesterov', False)\n"
            "    mu, v = config['momentum'], _velocity.get('v')\n"
            "    v = dw.copy() if v is None or v.shape != dw.shape else mu * v + dw\n"
            "    _velocity['v'] = v\n"
            "    step = dw + mu * v if config['nesterov'] else v\n"
            "    return w - config['learning_rate'] * step, config\n"
        ),
        "averages instead of summing: v = mu v + (1 - mu) g": (
            "def sgd_momentum(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-3); config.setdefault('momentum', 0.9); config.setdefault('nesterov', False)\n"
            "    mu = config['momentum']\n"
            "    v = mu * config.get('velocity', np.zeros_like(dw)) + (1 - mu) * dw\n"
            "    config['velocity'] = v\n"
            "    step = dw + mu * v if config['nesterov'] else v\n"
            "    return w - config['learning_rate'] * step, config\n"
        ),
        "Nesterov with the old buffer (look-ahead one step late)": (
            "def sgd_momentum(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-3); config.setdefault('momentum', 0.9); config.setdefault('nesterov', False)\n"
            "    mu, old = config['momentum'], config.get('velocity', np.zeros_like(dw))\n"
            "    v = mu * old + dw\n"
            "    config['velocity'] = v\n"
            "    step = dw + mu * old if config['nesterov'] else v\n"
            "    return w - config['learning_rate'] * step, config\n"
        ),
    },
    "adagrad": {
        "sums g instead of g squared": (
            "def adagrad(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-2); config.setdefault('eps', 1e-10); config.setdefault('initial_accumulator_value', 0.0)\n"
            "    s = config.get('sum', np.full(np.shape(w), config['initial_accumulator_value'])) + np.abs(dw)\n"
            "    config['sum'] = s\n"
            "    return w - config['learning_rate'] * dw / (np.sqrt(s) + config['eps']), config\n"
        ),
        "eps inside the root": (
            "def adagrad(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-2); config.setdefault('eps', 1e-10); config.setdefault('initial_accumulator_value', 0.0)\n"
            "    s = config.get('sum', np.full(np.shape(w), config['initial_accumulator_value'])) + dw * dw\n"
            "    config['sum'] = s\n"
            "    return w - config['learning_rate'] * dw / np.sqrt(s + config['eps']), config\n"
        ),
        "ignores initial_accumulator_value": (
            "def adagrad(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-2); config.setdefault('eps', 1e-10); config.setdefault('initial_accumulator_value', 0.0)\n"
            "    s = config.get('sum', np.zeros(np.shape(w))) + dw * dw\n"
            "    config['sum'] = s\n"
            "    return w - config['learning_rate'] * dw / (np.sqrt(s) + config['eps']), config\n"
        ),
        "sum kept in a global variable": (
            "_adagrad_state = {}\n"
            "def adagrad(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-2); config.setdefault('eps', 1e-10); config.setdefault('initial_accumulator_value', 0.0)\n"
            "    s = _adagrad_state.get('sum')\n"
            "    if s is None or s.shape != np.shape(w):\n"
            "        s = np.full(np.shape(w), config['initial_accumulator_value'])\n"
            "    s = s + dw * dw\n"
            "    _adagrad_state['sum'] = s\n"
            "    return w - config['learning_rate'] * dw / (np.sqrt(s) + config['eps']), config\n"
        ),
    },
    "adadelta": {
        "rho and 1 - rho swapped": (
            "def adadelta(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1.0); config.setdefault('rho', 0.9); config.setdefault('eps', 1e-6)\n"
            "    rho, eps = config['rho'], config['eps']\n"
            "    sq = (1 - rho) * config.get('square_avg', np.zeros(np.shape(w))) + rho * dw * dw\n"
            "    acc = config.get('acc_delta', np.zeros(np.shape(w)))\n"
            "    delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * dw\n"
            "    config['square_avg'], config['acc_delta'] = sq, (1 - rho) * acc + rho * delta * delta\n"
            "    return w - config['learning_rate'] * delta, config\n"
        ),
        "eps outside the roots": (
            "def adadelta(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1.0); config.setdefault('rho', 0.9); config.setdefault('eps', 1e-6)\n"
            "    rho, eps = config['rho'], config['eps']\n"
            "    sq = rho * config.get('square_avg', np.zeros(np.shape(w))) + (1 - rho) * dw * dw\n"
            "    acc = config.get('acc_delta', np.zeros(np.shape(w)))\n"
            "    delta = (np.sqrt(acc) + eps) / (np.sqrt(sq) + eps) * dw\n"
            "    config['square_avg'], config['acc_delta'] = sq, rho * acc + (1 - rho) * delta * delta\n"
            "    return w - config['learning_rate'] * delta, config\n"
        ),
        "step average updated before the step is computed": (
            "def adadelta(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1.0); config.setdefault('rho', 0.9); config.setdefault('eps', 1e-6)\n"
            "    rho, eps = config['rho'], config['eps']\n"
            "    sq = rho * config.get('square_avg', np.zeros(np.shape(w))) + (1 - rho) * dw * dw\n"
            "    acc = config.get('acc_delta', np.zeros(np.shape(w)))\n"
            "    acc = rho * acc + (1 - rho) * dw * dw\n"
            "    delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * dw\n"
            "    config['square_avg'], config['acc_delta'] = sq, acc\n"
            "    return w - config['learning_rate'] * delta, config\n"
        ),
        "forgets the learning rate": (
            "def adadelta(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1.0); config.setdefault('rho', 0.9); config.setdefault('eps', 1e-6)\n"
            "    rho, eps = config['rho'], config['eps']\n"
            "    sq = rho * config.get('square_avg', np.zeros(np.shape(w))) + (1 - rho) * dw * dw\n"
            "    acc = config.get('acc_delta', np.zeros(np.shape(w)))\n"
            "    delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * dw\n"
            "    config['square_avg'], config['acc_delta'] = sq, rho * acc + (1 - rho) * delta * delta\n"
            "    return w - delta, config\n"
        ),
    },
    "rmsprop": {
        "eps inside the root (Keras' formula)": (
            "def rmsprop(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-2); config.setdefault('alpha', 0.99); config.setdefault('eps', 1e-8)\n"
            "    a = config['alpha']\n"
            "    sq = a * config.get('square_avg', np.zeros(np.shape(w))) + (1 - a) * dw * dw\n"
            "    config['square_avg'] = sq\n"
            "    return w - config['learning_rate'] * dw / np.sqrt(sq + config['eps']), config\n"
        ),
        "alpha and 1 - alpha swapped": (
            "def rmsprop(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-2); config.setdefault('alpha', 0.99); config.setdefault('eps', 1e-8)\n"
            "    a = config['alpha']\n"
            "    sq = (1 - a) * config.get('square_avg', np.zeros(np.shape(w))) + a * dw * dw\n"
            "    config['square_avg'] = sq\n"
            "    return w - config['learning_rate'] * dw / (np.sqrt(sq) + config['eps']), config\n"
        ),
        "Keras' default decay 0.9 instead of torch's alpha 0.99": (
            "def rmsprop(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-2); config.setdefault('alpha', 0.9); config.setdefault('eps', 1e-8)\n"
            "    a = config['alpha']\n"
            "    sq = a * config.get('square_avg', np.zeros(np.shape(w))) + (1 - a) * dw * dw\n"
            "    config['square_avg'] = sq\n"
            "    return w - config['learning_rate'] * dw / (np.sqrt(sq) + config['eps']), config\n"
        ),
        "changes w in place": (
            "def rmsprop(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    config.setdefault('learning_rate', 1e-2); config.setdefault('alpha', 0.99); config.setdefault('eps', 1e-8)\n"
            "    a = config['alpha']\n"
            "    sq = a * config.get('square_avg', np.zeros(np.shape(w))) + (1 - a) * dw * dw\n"
            "    config['square_avg'] = sq\n"
            "    w -= config['learning_rate'] * dw / (np.sqrt(sq) + config['eps'])\n"
            "    return w, config\n"
        ),
    },
    "adam": {
        "no bias correction": (
            "def adam(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    for k, v in (('learning_rate', 1e-3), ('beta1', 0.9), ('beta2', 0.999), ('eps', 1e-8)):\n"
            "        config.setdefault(k, v)\n"
            "    b1, b2 = config['beta1'], config['beta2']\n"
            "    m = b1 * config.get('m', np.zeros(np.shape(w))) + (1 - b1) * dw\n"
            "    v = b2 * config.get('v', np.zeros(np.shape(w))) + (1 - b2) * dw * dw\n"
            "    config['m'], config['v'] = m, v\n"
            "    return w - config['learning_rate'] * m / (np.sqrt(v) + config['eps']), config\n"
        ),
        "bias correction one step ahead (t + 1)": (
            "def adam(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    for k, v in (('learning_rate', 1e-3), ('beta1', 0.9), ('beta2', 0.999), ('eps', 1e-8)):\n"
            "        config.setdefault(k, v)\n"
            "    b1, b2 = config['beta1'], config['beta2']\n"
            "    t = config.get('t', 0) + 1\n"
            "    m = b1 * config.get('m', np.zeros(np.shape(w))) + (1 - b1) * dw\n"
            "    v = b2 * config.get('v', np.zeros(np.shape(w))) + (1 - b2) * dw * dw\n"
            "    config['t'], config['m'], config['v'] = t, m, v\n"
            "    m_hat, v_hat = m / (1 - b1 ** (t + 1)), v / (1 - b2 ** (t + 1))\n"
            "    return w - config['learning_rate'] * m_hat / (np.sqrt(v_hat) + config['eps']), config\n"
        ),
        "Keras' epsilon-hat form with a constant eps": (
            "def adam(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    for k, v in (('learning_rate', 1e-3), ('beta1', 0.9), ('beta2', 0.999), ('eps', 1e-8)):\n"
            "        config.setdefault(k, v)\n"
            "    b1, b2 = config['beta1'], config['beta2']\n"
            "    t = config.get('t', 0) + 1\n"
            "    m = b1 * config.get('m', np.zeros(np.shape(w))) + (1 - b1) * dw\n"
            "    v = b2 * config.get('v', np.zeros(np.shape(w))) + (1 - b2) * dw * dw\n"
            "    config['t'], config['m'], config['v'] = t, m, v\n"
            "    lr_t = config['learning_rate'] * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)\n"
            "    return w - lr_t * m / (np.sqrt(v) + config['eps']), config\n"
        ),
        "step count and moments kept in globals": (
            "_adam_state = {'t': 0}\n"
            "def adam(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    for k, v in (('learning_rate', 1e-3), ('beta1', 0.9), ('beta2', 0.999), ('eps', 1e-8)):\n"
            "        config.setdefault(k, v)\n"
            "    b1, b2 = config['beta1'], config['beta2']\n"
            "    if 'm' not in _adam_state or _adam_state['m'].shape != np.shape(w):\n"
            "        _adam_state.update(t=0, m=np.zeros(np.shape(w)), v=np.zeros(np.shape(w)))\n"
            "    _adam_state['t'] += 1\n"
            "    t = _adam_state['t']\n"
            "    _adam_state['m'] = b1 * _adam_state['m'] + (1 - b1) * dw\n"
            "    _adam_state['v'] = b2 * _adam_state['v'] + (1 - b2) * dw * dw\n"
            "    m_hat, v_hat = _adam_state['m'] / (1 - b1 ** t), _adam_state['v'] / (1 - b2 ** t)\n"
            "    return w - config['learning_rate'] * m_hat / (np.sqrt(v_hat) + config['eps']), config\n"
        ),
        "eps inside the root of v_hat": (
            "def adam(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    for k, v in (('learning_rate', 1e-3), ('beta1', 0.9), ('beta2', 0.999), ('eps', 1e-8)):\n"
            "        config.setdefault(k, v)\n"
            "    b1, b2 = config['beta1'], config['beta2']\n"
            "    t = config.get('t', 0) + 1\n"
            "    m = b1 * config.get('m', np.zeros(np.shape(w))) + (1 - b1) * dw\n"
            "    v = b2 * config.get('v', np.zeros(np.shape(w))) + (1 - b2) * dw * dw\n"
            "    config['t'], config['m'], config['v'] = t, m, v\n"
            "    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)\n"
            "    return w - config['learning_rate'] * m_hat / np.sqrt(v_hat + config['eps']), config\n"
        ),
    },
    "run_optimizer": {
        "path misses w_init": (
            "def run_optimizer(rule, grad_fn, w_init, config, num_steps):\n"
            "    w, path = np.array(w_init, dtype=float), []\n"
            "    for _ in range(num_steps):\n"
            "        w, config = rule(w, grad_fn(w), config)\n"
            "        path.append(w)\n"
            "    return np.array(path).reshape(num_steps, -1)\n"
        ),
        "a fresh copy of config at every step (the state is lost)": (
            "def run_optimizer(rule, grad_fn, w_init, config, num_steps):\n"
            "    w = np.array(w_init, dtype=float)\n"
            "    path = [w]\n"
            "    for _ in range(num_steps):\n"
            "        w, _ = rule(w, grad_fn(w), dict(config))\n"
            "        path.append(w)\n"
            "    return np.array(path)\n"
        ),
        "changes w_init in place": (
            "def run_optimizer(rule, grad_fn, w_init, config, num_steps):\n"
            "    w = w_init\n"
            "    path = [w.copy()]\n"
            "    for _ in range(num_steps):\n"
            "        next_w, config = rule(w, grad_fn(w), config)\n"
            "        w[:] = next_w\n"
            "        path.append(w.copy())\n"
            "    return np.array(path)\n"
        ),
        "one step too few": (
            "def run_optimizer(rule, grad_fn, w_init, config, num_steps):\n"
            "    w = np.array(w_init, dtype=float)\n"
            "    path = [w]\n"
            "    for _ in range(num_steps - 1):\n"
            "        w, config = rule(w, grad_fn(w), config)\n"
            "        path.append(w)\n"
            "    return np.array(path)\n"
        ),
    },
    "momentum_steady_state": {
        "plain SGD's step, -lr * grad": (
            "def momentum_steady_state(lr, momentum, grad):\n"
            "    if not 0 <= momentum < 1:\n"
            "        raise ValueError('momentum must be in [0, 1)')\n"
            "    step = -lr * np.asarray(grad, dtype=float)\n"
            "    return float(step) if step.ndim == 0 else step\n"
        ),
        "multiplies by (1 - momentum) instead of dividing": (
            "def momentum_steady_state(lr, momentum, grad):\n"
            "    if not 0 <= momentum < 1:\n"
            "        raise ValueError('momentum must be in [0, 1)')\n"
            "    step = -lr * np.asarray(grad, dtype=float) * (1 - momentum)\n"
            "    return float(step) if step.ndim == 0 else step\n"
        ),
        "series started at mu^1: -lr * grad * mu / (1 - mu)": (
            "def momentum_steady_state(lr, momentum, grad):\n"
            "    if not 0 <= momentum < 1:\n"
            "        raise ValueError('momentum must be in [0, 1)')\n"
            "    step = -lr * momentum * np.asarray(grad, dtype=float) / (1 - momentum)\n"
            "    return float(step) if step.ndim == 0 else step\n"
        ),
        "no ValueError for momentum >= 1 or < 0": (
            "def momentum_steady_state(lr, momentum, grad):\n"
            "    step = -lr * np.asarray(grad, dtype=float) / (1 - momentum)\n"
            "    return float(step) if step.ndim == 0 else step\n"
        ),
        "a step along the gradient (sign flipped)": (
            "def momentum_steady_state(lr, momentum, grad):\n"
            "    if not 0 <= momentum < 1:\n"
            "        raise ValueError('momentum must be in [0, 1)')\n"
            "    step = lr * np.asarray(grad, dtype=float) / (1 - momentum)\n"
            "    return float(step) if step.ndim == 0 else step\n"
        ),
    },
    "lr_schedules": {
        "step decay one step early: (step + 1) // step_size": (
            "def step_decay(lr0, step, step_size, gamma):\n"
            "    return float(lr0 * gamma ** ((step + 1) // step_size))\n"
        ),
        "step decay without rounding down: gamma ** (step / step_size)": (
            "def step_decay(lr0, step, step_size, gamma):\n"
            "    return float(lr0 * gamma ** (step / step_size))\n"
        ),
        "cosine without the clamp: climbs back up after total_steps (torch's CosineAnnealingLR)": (
            "import math\n"
            "def cosine_decay(lr0, step, total_steps, lr_min=0.0):\n"
            "    return lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * step / total_steps)) / 2\n"
        ),
        "cosine ignores lr_min": (
            "import math\n"
            "def cosine_decay(lr0, step, total_steps, lr_min=0.0):\n"
            "    return lr0 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps)) / 2\n"
        ),
        "warm-up one step ahead: lr0 * (step + 1) / warmup_steps": (
            "def warmup_cosine(lr0, step, warmup_steps, total_steps, lr_min=0.0):\n"
            "    if step < warmup_steps:\n"
            "        return lr0 * (step + 1) / warmup_steps\n"
            "    return cosine_decay(lr0, step - warmup_steps, total_steps - warmup_steps, lr_min)\n"
        ),
        "cosine after the warm-up not shifted: cosine_decay(lr0, step, total_steps)": (
            "def warmup_cosine(lr0, step, warmup_steps, total_steps, lr_min=0.0):\n"
            "    if step < warmup_steps:\n"
            "        return lr0 * step / warmup_steps\n"
            "    return cosine_decay(lr0, step, total_steps, lr_min)\n"
        ),
    },
    "training_loop": {
        "torch: returns the loss after the update": (
            "def train_step_torch(model, optimizer, loss_fn, X, y):\n"
            "    optimizer.zero_grad()\n"
            "    loss_fn(model(X), y).backward()\n"
            "    optimizer.step()\n"
            "    with torch.no_grad():\n"
            "        return loss_fn(model(X), y).item()\n"
        ),
        "torch: returns the loss tensor": (
            "def train_step_torch(model, optimizer, loss_fn, X, y):\n"
            "    optimizer.zero_grad()\n"
            "    loss = loss_fn(model(X), y)\n"
            "    loss.backward()\n"
            "    optimizer.step()\n"
            "    return loss\n"
        ),
        "torch: never zeroes the gradients": (
            "def train_step_torch(model, optimizer, loss_fn, X, y):\n"
            "    loss = loss_fn(model(X), y)\n"
            "    loss.backward()\n"
            "    optimizer.step()\n"
            "    return loss.item()\n"
        ),
        "tf: forward pass before the tape (the lecture's slide)": (
            "def train_step_tf(model, optimizer, loss_fn, X, y):\n"
            "    y_pred = model(X, training=True)\n"
            "    with tf.GradientTape() as tape:\n"
            "        loss = loss_fn(y, y_pred)\n"
            "    grads = tape.gradient(loss, model.trainable_variables)\n"
            "    optimizer.apply_gradients(zip(grads, model.trainable_variables))\n"
            "    return float(loss)\n"
        ),
    },
}

RIGHT = {
    "sgd": {
        "np.subtract into a new array, a new config dict, an extra print": (
            "def sgd(w, dw, config=None):\n"
            "    config = dict(config or {})\n"
            "    config.setdefault('learning_rate', 1e-3)\n"
            "    print('sgd step with lr', config['learning_rate'])\n"
            "    return np.subtract(w, np.multiply(config['learning_rate'], dw)), config\n"
        ),
    },
    "sgd_momentum": {
        "Keras' formulation (the velocity accumulates steps), buffer started at zeros": (
            "def sgd_momentum(w, dw, config=None):\n"
            "    if config is None:\n"
            "        config = {}\n"
            "    lr = config.setdefault('learning_rate', 1e-3)\n"
            "    mu = config.setdefault('momentum', 0.9)\n"
            "    config.setdefault('nesterov', False)\n"
            "    m = mu * config.get('m', np.zeros_like(w, dtype=float)) - lr * dw\n"
            "    config['m'] = m\n"
            "    return (w + mu * m - lr * dw if config['nesterov'] else w + m), config\n"
        ),
    },
    "adagrad": {
        "np.add / np.divide, the sum under another key": (
            "def adagrad(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    for k, v in (('learning_rate', 1e-2), ('eps', 1e-10), ('initial_accumulator_value', 0.0)):\n"
            "        config.setdefault(k, v)\n"
            "    if 'G' not in config:\n"
            "        config['G'] = np.zeros(np.shape(w)) + config['initial_accumulator_value']\n"
            "    config['G'] = np.add(config['G'], np.square(dw))\n"
            "    return w - np.divide(config['learning_rate'] * dw, np.sqrt(config['G']) + config['eps']), config\n"
        ),
    },
    "adadelta": {
        "lerp-style averages and the step written as a ratio of RMS values": (
            "def adadelta(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    lr, rho, eps = (config.setdefault(k, v) for k, v in (('learning_rate', 1.0), ('rho', 0.9), ('eps', 1e-6)))\n"
            "    Eg = config.get('Eg2', np.zeros(np.shape(w)))\n"
            "    Ex = config.get('Edx2', np.zeros(np.shape(w)))\n"
            "    Eg = Eg + (1 - rho) * (dw ** 2 - Eg)\n"
            "    rms = lambda a: np.sqrt(a + eps)\n"
            "    dx = -rms(Ex) / rms(Eg) * dw\n"
            "    Ex = Ex + (1 - rho) * (dx ** 2 - Ex)\n"
            "    config.update(Eg2=Eg, Edx2=Ex)\n"
            "    return w + lr * dx, config\n"
        ),
    },
    "rmsprop": {
        "lerp form of the average, denominator computed first": (
            "def rmsprop(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    lr, alpha, eps = (config.setdefault(k, v) for k, v in (('learning_rate', 1e-2), ('alpha', 0.99), ('eps', 1e-8)))\n"
            "    cache = config.get('cache', np.zeros(np.shape(w)))\n"
            "    cache = cache + (1 - alpha) * (dw * dw - cache)\n"
            "    config['cache'] = cache\n"
            "    denominator = np.sqrt(cache) + eps\n"
            "    return w - lr * dw / denominator, config\n"
        ),
    },
    "adam": {
        "torch's own arrangement: step size lr / (1 - beta1^t), denominator sqrt(v) / sqrt(1 - beta2^t) + eps": (
            "import math\n"
            "def adam(w, dw, config=None):\n"
            "    config = {} if config is None else config\n"
            "    lr, b1, b2, eps = (config.setdefault(k, v) for k, v in (('learning_rate', 1e-3), ('beta1', 0.9), ('beta2', 0.999), ('eps', 1e-8)))\n"
            "    config['step'] = config.get('step', 0) + 1\n"
            "    t = config['step']\n"
            "    m = config.get('exp_avg', np.zeros(np.shape(w)))\n"
            "    v = config.get('exp_avg_sq', np.zeros(np.shape(w)))\n"
            "    m = m + (dw - m) * (1 - b1)\n"
            "    v = v * b2 + (1 - b2) * dw * dw\n"
            "    config['exp_avg'], config['exp_avg_sq'] = m, v\n"
            "    step_size = lr / (1 - b1 ** t)\n"
            "    denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps\n"
            "    return w - step_size * m / denom, config\n"
        ),
    },
    "run_optimizer": {
        "preallocated trajectory and a while loop": (
            "def run_optimizer(rule, grad_fn, w_init, config, num_steps):\n"
            "    trajectory = np.empty((num_steps + 1, np.size(w_init)))\n"
            "    trajectory[0] = w_init\n"
            "    k = 0\n"
            "    while k < num_steps:\n"
            "        w = trajectory[k].copy()\n"
            "        w, config = rule(w, grad_fn(w), config)\n"
            "        trajectory[k + 1] = w\n"
            "        k += 1\n"
            "    return trajectory\n"
        ),
    },
    "momentum_steady_state": {
        "the geometric series summed term by term, the checks written out, numpy scalars returned": (
            "def momentum_steady_state(lr, momentum, grad):\n"
            "    if momentum >= 1.0 or momentum < 0.0:\n"
            "        raise ValueError(f'momentum {momentum} is outside [0, 1): the buffer grows without limit')\n"
            "    series = np.sum(momentum ** np.arange(20000, dtype=float))  # 1 + mu + mu^2 + ...\n"
            "    return np.multiply(-lr * series, grad)\n"
        ),
    },
    "lr_schedules": {
        "gamma applied in a loop, the cosine as cos^2(x / 2), numpy floats, warm-up by np.interp": (
            "def step_decay(lr0, step, step_size, gamma):\n"
            "    rate = lr0\n"
            "    for _ in range(step // step_size):\n"
            "        rate = rate * gamma\n"
            "    return rate\n"
            "\n"
            "def cosine_decay(lr0, step, total_steps, lr_min=0.0):\n"
            "    done = np.clip(step / total_steps, 0.0, 1.0)\n"
            "    return np.float64(lr_min + (lr0 - lr_min) * np.cos(np.pi * done / 2) ** 2)\n"
            "\n"
            "def warmup_cosine(lr0, step, warmup_steps, total_steps, lr_min=0.0):\n"
            "    if step >= warmup_steps:\n"
            "        return cosine_decay(lr0, step - warmup_steps, total_steps - warmup_steps, lr_min)\n"
            "    return np.interp(step, [0, warmup_steps], [0.0, lr0])\n"
        ),
    },
    "training_loop": {
        "model.zero_grad, float(loss.detach()), loss from tf.reduce_mean inside the tape": (
            "def train_step_tf(model, optimizer, loss_fn, X, y):\n"
            "    variables = model.trainable_variables\n"
            "    with tf.GradientTape() as tape:\n"
            "        prediction = model(X)\n"
            "        loss = tf.reduce_mean(loss_fn(y, prediction))\n"
            "    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))\n"
            "    return float(loss.numpy())\n"
            "\n"
            "def train_step_torch(model, optimizer, loss_fn, X, y):\n"
            "    model.zero_grad(set_to_none=True)\n"
            "    y_hat = model(X)\n"
            "    loss = loss_fn(y_hat, y)\n"
            "    loss.backward()\n"
            "    optimizer.step()\n"
            "    return float(loss.detach())\n"
        ),
    },
}
