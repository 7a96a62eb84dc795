"""Realistic wrong and right-but-different implementations of Lab 02's graded cells."""
LAB = "02_dense_networks"

# grade_id -> {description: source appended to the solution cell; it redefines one or more of the cell's functions/classes}
WRONG = {
    "dense_forward": {
        "forgot the bias": (
            "def dense_forward(X, W, b, g):\n"
            "    return g(X @ W)\n"),
        "applies g before adding b": (
            "def dense_forward(X, W, b, g):\n"
            "    return g(X @ W) + b\n"),
        "uses W.T": (
            "def dense_forward(X, W, b, g):\n"
            "    return g(X @ W.T + b)\n"),
        "ignores g (always sigmoid)": (
            "def dense_forward(X, W, b, g):\n"
            "    return sigmoid(X @ W + b)\n"),
        "bias reshaped as a column": (
            "def dense_forward(X, W, b, g):\n"
            "    return g(X @ W + np.reshape(b, (-1, 1)))\n"),
    },
    "mlp_forward": {
        "sigmoid after the hidden layers too": (
            "def mlp_forward(X, params, g=relu):\n"
            "    h = X\n"
            "    for W, b in params:\n"
            "        h = dense_forward(h, W, b, sigmoid)\n"
            "    return h\n"),
        "g after the last layer, then sigmoid": (
            "def mlp_forward(X, params, g=relu):\n"
            "    h = X\n"
            "    for W, b in params:\n"
            "        h = dense_forward(h, W, b, g)\n"
            "    return sigmoid(h)\n"),
        "g after every layer, no sigmoid": (
            "def mlp_forward(X, params, g=relu):\n"
            "    h = X\n"
            "    for W, b in params:\n"
            "        h = dense_forward(h, W, b, g)\n"
            "    return h\n"),
        "skips the last layer": (
            "def mlp_forward(X, params, g=relu):\n"
            "    h = X\n"
            "    for W, b in params[:-1]:\n"
            "        h = dense_forward(h, W, b, g)\n"
            "    return sigmoid(h)\n"),
        "hidden layers always relu (ignores g)": (
            "def mlp_forward(X, params, g=relu):\n"
            "    h = X\n"
            "    for W, b in params[:-1]:\n"
            "        h = dense_forward(h, W, b, relu)\n"
            "    return dense_forward(h, params[-1][0], params[-1][1], sigmoid)\n"),
    },
    "dense_layer_tf": {
        "W transposed, (output_dim, input_dim)": (
            "class MyDenseLayerTF(tf.keras.layers.Layer):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.W = self.add_weight(shape=(output_dim, input_dim), initializer='random_normal')\n"
            "        self.b = self.add_weight(shape=(1, output_dim), initializer='random_normal')\n"
            "    def call(self, inputs):\n"
            "        return tf.math.sigmoid(tf.matmul(inputs, self.W, transpose_b=True) + self.b)\n"),
        "relu instead of sigmoid": (
            "class MyDenseLayerTF(tf.keras.layers.Layer):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.W = self.add_weight(shape=(input_dim, output_dim), initializer='random_normal')\n"
            "        self.b = self.add_weight(shape=(1, output_dim), initializer='random_normal')\n"
            "    def call(self, inputs):\n"
            "        return tf.nn.relu(tf.matmul(inputs, self.W) + self.b)\n"),
        "b of shape (output_dim,)": (
            "class MyDenseLayerTF(tf.keras.layers.Layer):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.W = self.add_weight(shape=(input_dim, output_dim), initializer='random_normal')\n"
            "        self.b = self.add_weight(shape=(output_dim,), initializer='random_normal')\n"
            "    def call(self, inputs):\n"
            "        return tf.math.sigmoid(tf.matmul(inputs, self.W) + self.b)\n"),
        "forgot the bias in call": (
            "class MyDenseLayerTF(tf.keras.layers.Layer):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.W = self.add_weight(shape=(input_dim, output_dim), initializer='random_normal')\n"
            "        self.b = self.add_weight(shape=(1, output_dim), initializer='zeros')\n"
            "    def call(self, inputs):\n"
            "        return tf.math.sigmoid(tf.matmul(inputs, self.W))\n"),
        "returns logits (no activation)": (
            "class MyDenseLayerTF(tf.keras.layers.Layer):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.W = self.add_weight(shape=(input_dim, output_dim), initializer='random_normal')\n"
            "        self.b = self.add_weight(shape=(1, output_dim), initializer='random_normal')\n"
            "    def call(self, inputs):\n"
            "        return tf.matmul(inputs, self.W) + self.b\n"),
    },
    "dense_layer_torch": {
        "W stored like nn.Linear, (output_dim, input_dim)": (
            "class MyDenseLayerTorch(nn.Module):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.W = nn.Parameter(torch.randn(output_dim, input_dim))\n"
            "        self.b = nn.Parameter(torch.randn(1, output_dim))\n"
            "    def forward(self, inputs):\n"
            "        return torch.sigmoid(inputs @ self.W.T + self.b)\n"),
        "relu instead of sigmoid": (
            "class MyDenseLayerTorch(nn.Module):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.W = nn.Parameter(torch.randn(input_dim, output_dim))\n"
            "        self.b = nn.Parameter(torch.randn(1, output_dim))\n"
            "    def forward(self, inputs):\n"
            "        return torch.relu(inputs @ self.W + self.b)\n"),
        "b of shape (output_dim,)": (
            "class MyDenseLayerTorch(nn.Module):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.W = nn.Parameter(torch.randn(input_dim, output_dim))\n"
            "        self.b = nn.Parameter(torch.randn(output_dim))\n"
            "    def forward(self, inputs):\n"
            "        return torch.sigmoid(inputs @ self.W + self.b)\n"),
        "plain tensors instead of nn.Parameter": (
            "class MyDenseLayerTorch(nn.Module):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.W = torch.randn(input_dim, output_dim, requires_grad=True)\n"
            "        self.b = torch.randn(1, output_dim, requires_grad=True)\n"
            "    def forward(self, inputs):\n"
            "        return torch.sigmoid(inputs @ self.W + self.b)\n"),
        "forgot the bias in forward": (
            "class MyDenseLayerTorch(nn.Module):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.W = nn.Parameter(torch.randn(input_dim, output_dim))\n"
            "        self.b = nn.Parameter(torch.randn(1, output_dim))\n"
            "    def forward(self, inputs):\n"
            "        return torch.sigmoid(inputs @ self.W)\n"),
    },
    "sequential_models": {
        "sigmoid on the Keras output layer": (
            "def build_tf_model(num_inputs, num_hiddens, num_outputs):\n"
            "    layers = [tf.keras.Input(shape=(num_inputs,))]\n"
            "    layers += [tf.keras.layers.Dense(h, activation='relu') for h in num_hiddens]\n"
            "    layers.append(tf.keras.layers.Dense(num_outputs, activation='sigmoid'))\n"
            "    return tf.keras.Sequential(layers)\n"),
        "ReLU after the torch output layer": (
            "def build_torch_model(num_inputs, num_hiddens, num_outputs):\n"
            "    layers, width = [], num_inputs\n"
            "    for h in list(num_hiddens) + [num_outputs]:\n"
            "        layers += [nn.Linear(width, h), nn.ReLU()]\n"
            "        width = h\n"
            "    return nn.Sequential(*layers)\n"),
        "Keras hidden Dense without activation (as on the slides)": (
            "def build_tf_model(num_inputs, num_hiddens, num_outputs):\n"
            "    layers = [tf.keras.Input(shape=(num_inputs,))]\n"
            "    layers += [tf.keras.layers.Dense(h) for h in num_hiddens]\n"
            "    layers.append(tf.keras.layers.Dense(num_outputs))\n"
            "    return tf.keras.Sequential(layers)\n"),
        "torch: ReLU only between hidden layers (missing the last one)": (
            "def build_torch_model(num_inputs, num_hiddens, num_outputs):\n"
            "    layers, width = [], num_inputs\n"
            "    for i, h in enumerate(num_hiddens):\n"
            "        if i > 0:\n"
            "            layers.append(nn.ReLU())\n"
            "        layers.append(nn.Linear(width, h))\n"
            "        width = h\n"
            "    layers.append(nn.Linear(width, num_outputs))\n"
            "    return nn.Sequential(*layers)\n"),
        "wrong layer sizes (only the first hidden width)": (
            "def build_torch_model(num_inputs, num_hiddens, num_outputs):\n"
            "    return nn.Sequential(nn.Linear(num_inputs, num_hiddens[0]), nn.ReLU(), nn.Linear(num_hiddens[0], num_outputs))\n"
            "def build_tf_model(num_inputs, num_hiddens, num_outputs):\n"
            "    return tf.keras.Sequential([tf.keras.Input(shape=(num_inputs,)), tf.keras.layers.Dense(num_hiddens[0], activation='relu'),\n"
            "                                tf.keras.layers.Dense(num_outputs)])\n"),
        "Keras hidden layers all of width num_hiddens[0]": (
            "def build_tf_model(num_inputs, num_hiddens, num_outputs):\n"
            "    layers = [tf.keras.Input(shape=(num_inputs,))]\n"
            "    layers += [tf.keras.layers.Dense(num_hiddens[0], activation='relu') for h in num_hiddens]\n"
            "    layers.append(tf.keras.layers.Dense(num_outputs))\n"
            "    return tf.keras.Sequential(layers)\n"),
        "Keras model without an Input (never built)": (
            "def build_tf_model(num_inputs, num_hiddens, num_outputs):\n"
            "    layers = [tf.keras.layers.Dense(h, activation='relu') for h in num_hiddens]\n"
            "    layers.append(tf.keras.layers.Dense(num_outputs))\n"
            "    return tf.keras.Sequential(layers)\n"),
    },
    "losses": {
        "BCE clips y_prob in place": (
            "def binary_cross_entropy(y, y_prob):\n"
            "    p = np.clip(y_prob, 1e-7, 1 - 1e-7, out=y_prob)\n"
            "    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))\n"),
        "BCE without clipping (inf/nan at 0 and 1)": (
            "def binary_cross_entropy(y, y_prob):\n"
            "    y, p = np.asarray(y, dtype=float), np.asarray(y_prob, dtype=float)\n"
            "    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))\n"),
        "BCE summed instead of mean": (
            "def binary_cross_entropy(y, y_prob):\n"
            "    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(y_prob, dtype=float), 1e-7, 1 - 1e-7)\n"
            "    return float(-np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))\n"),
        "BCE with y and 1 - y swapped": (
            "def binary_cross_entropy(y, y_prob):\n"
            "    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(y_prob, dtype=float), 1e-7, 1 - 1e-7)\n"
            "    return float(-np.mean((1 - y) * np.log(p) + y * np.log(1 - p)))\n"),
        "softmax without max subtraction (overflow at 1000)": (
            "def softmax(logits):\n"
            "    e = np.exp(np.asarray(logits, dtype=float))\n"
            "    return e / np.sum(e, axis=-1, keepdims=True)\n"),
        "softmax over axis 0": (
            "def softmax(logits):\n"
            "    z = np.asarray(logits, dtype=float)\n"
            "    e = np.exp(z - np.max(z, axis=0, keepdims=True))\n"
            "    return e / np.sum(e, axis=0, keepdims=True)\n"),
        "softmax subtracts the global maximum (underflow to 0/0)": (
            "def softmax(logits):\n"
            "    z = np.asarray(logits, dtype=float)\n"
            "    e = np.exp(z - np.max(z))\n"
            "    return e / np.sum(e, axis=-1, keepdims=True)\n"),
        "CE as log of a (stable) softmax": (
            "def softmax_cross_entropy(y_onehot, logits):\n"
            "    return float(np.mean(-np.sum(np.asarray(y_onehot) * np.log(softmax(logits)), axis=-1)))\n"),
        "CE summed over the batch": (
            "def softmax_cross_entropy(y_onehot, logits):\n"
            "    z = np.asarray(logits, dtype=float)\n"
            "    m = np.max(z, axis=-1, keepdims=True)\n"
            "    log_probs = z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))\n"
            "    return float(np.sum(-np.sum(np.asarray(y_onehot) * log_probs, axis=-1)))\n"),
        "MSE without mean (sum)": (
            "def mean_squared_error(y, y_pred):\n"
            "    return float(np.sum((np.asarray(y) - np.asarray(y_pred)) ** 2))\n"),
        "MSE returns the elementwise squares": (
            "def mean_squared_error(y, y_pred):\n"
            "    return (np.asarray(y) - np.asarray(y_pred)) ** 2\n"),
    },
}

RIGHT = {
    "dense_forward": {
        "np.einsum instead of @": (
            "def dense_forward(X, W, b, g):\n"
            "    return g(np.einsum('nd,dm->nm', X, W) + np.reshape(b, (1, -1)))\n"),
        "np.dot with extra prints": (
            "def dense_forward(X, W, b, g):\n"
            "    print('dense_forward: X', np.shape(X), 'W', np.shape(W))\n"
            "    z = np.dot(X, W)\n"
            "    z = z + b\n"
            "    return g(z)\n"),
    },
    "mlp_forward": {
        "inline loop without dense_forward": (
            "def mlp_forward(X, params, g=relu):\n"
            "    h = np.array(X, dtype=float)\n"
            "    for k, (W, b) in enumerate(params):\n"
            "        z = h @ W + b\n"
            "        h = sigmoid(z) if k == len(params) - 1 else g(z)\n"
            "    return h\n"),
        "recursive": (
            "def mlp_forward(X, params, g=relu):\n"
            "    (W, b), rest = params[0], params[1:]\n"
            "    if not rest:\n"
            "        return dense_forward(X, W, b, sigmoid)\n"
            "    return mlp_forward(dense_forward(X, W, b, g), rest, g)\n"),
    },
    "dense_layer_tf": {
        "weights made in build(), extra print": (
            "class MyDenseLayerTF(tf.keras.layers.Layer):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.input_dim, self.output_dim = input_dim, output_dim\n"
            "    def build(self, input_shape):\n"
            "        self.W = self.add_weight(shape=[self.input_dim, self.output_dim])\n"
            "        self.b = self.add_weight(shape=[1, self.output_dim])\n"
            "    def call(self, inputs):\n"
            "        print('call on', inputs.shape)\n"
            "        return tf.math.sigmoid(inputs @ self.W + self.b)\n"),
        "keras.ops and zero-initialised bias created first": (
            "class MyDenseLayerTF(tf.keras.layers.Layer):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.b = self.add_weight(shape=(1, output_dim), initializer='zeros', name='bias')\n"
            "        self.W = self.add_weight(shape=(input_dim, output_dim), initializer='glorot_uniform', name='kernel')\n"
            "    def call(self, inputs):\n"
            "        return tf.keras.ops.sigmoid(tf.keras.ops.matmul(inputs, self.W) + self.b)\n"),
    },
    "dense_layer_torch": {
        "float64 parameters": (
            "class MyDenseLayerTorch(nn.Module):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.W = nn.Parameter(torch.randn(input_dim, output_dim, dtype=torch.float64))\n"
            "        self.b = nn.Parameter(torch.randn(1, output_dim, dtype=torch.float64))\n"
            "    def forward(self, inputs):\n"
            "        return torch.sigmoid(torch.matmul(inputs, self.W) + self.b)\n"),
        "torch.addmm, bias first, extra print": (
            "class MyDenseLayerTorch(nn.Module):\n"
            "    def __init__(self, input_dim, output_dim):\n"
            "        super().__init__()\n"
            "        self.b = nn.Parameter(torch.zeros(1, output_dim))\n"
            "        self.W = nn.Parameter(torch.randn(input_dim, output_dim) / input_dim ** 0.5)\n"
            "    def forward(self, inputs):\n"
            "        print('forward on', tuple(inputs.shape))\n"
            "        return 1 / (1 + torch.exp(-torch.addmm(self.b, inputs, self.W)))\n"),
    },
    "sequential_models": {
        "separate ReLU layers, model.add, OrderedDict": (
            "from collections import OrderedDict\n"
            "def build_tf_model(num_inputs, num_hiddens, num_outputs):\n"
            "    model = tf.keras.Sequential()\n"
            "    model.add(tf.keras.Input(shape=(num_inputs,)))\n"
            "    for h in num_hiddens:\n"
            "        model.add(tf.keras.layers.Dense(h))\n"
            "        model.add(tf.keras.layers.ReLU())\n"
            "    model.add(tf.keras.layers.Dense(num_outputs, activation='linear'))\n"
            "    return model\n"
            "def build_torch_model(num_inputs, num_hiddens, num_outputs):\n"
            "    sizes = [num_inputs] + list(num_hiddens)\n"
            "    parts = []\n"
            "    for i in range(len(num_hiddens)):\n"
            "        parts += [(f'linear{i}', nn.Linear(sizes[i], sizes[i + 1])), (f'relu{i}', nn.ReLU())]\n"
            "    parts.append(('out', nn.Linear(sizes[-1], num_outputs)))\n"
            "    return nn.Sequential(OrderedDict(parts))\n"),
        "float64 torch model built with append": (
            "def build_torch_model(num_inputs, num_hiddens, num_outputs):\n"
            "    model = nn.Sequential()\n"
            "    width = num_inputs\n"
            "    for h in num_hiddens:\n"
            "        model.append(nn.Linear(width, h, dtype=torch.float64))\n"
            "        model.append(nn.ReLU())\n"
            "        width = h\n"
            "    model.append(nn.Linear(width, num_outputs, dtype=torch.float64))\n"
            "    return model\n"),
    },
    "losses": {
        "scipy logsumexp and scipy softmax": (
            "from scipy.special import logsumexp as _lse, softmax as _sm\n"
            "def softmax(logits):\n"
            "    return _sm(np.asarray(logits, dtype=float), axis=-1)\n"
            "def softmax_cross_entropy(y_onehot, logits):\n"
            "    z = np.asarray(logits, dtype=float)\n"
            "    return np.mean(_lse(z, axis=1) - np.sum(np.asarray(y_onehot) * z, axis=1))\n"),
        "torch-style BCE (logs clamped at -100) with prints": (
            "def binary_cross_entropy(y, y_prob):\n"
            "    y, p = np.asarray(y, dtype=float), np.asarray(y_prob, dtype=float)\n"
            "    with np.errstate(divide='ignore'):\n"
            "        log_p, log_1mp = np.maximum(np.log(p), -100.0), np.maximum(np.log1p(-p), -100.0)\n"
            "    print('bce over', y.size, 'entries')\n"
            "    return np.mean(-(y * log_p + (1 - y) * log_1mp))\n"),
        "BCE via np.where on the label, MSE via np.square": (
            "def binary_cross_entropy(y, y_prob):\n"
            "    p = np.clip(np.asarray(y_prob, dtype=float), 1e-12, 1 - 1e-12)\n"
            "    y = np.asarray(y, dtype=float)\n"
            "    return float(np.mean(np.where(y == 1, -np.log(p), -np.log(1 - p))))\n"
            "def mean_squared_error(y, y_pred):\n"
            "    return np.square(np.subtract(y_pred, y)).mean()\n"),
    },
}
