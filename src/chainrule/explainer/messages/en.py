"""English, the default language: every message of every report (see the package
docstring). A translation has exactly these keys, with the same placeholders."""

MESSAGES: dict[str, str] = {
    # -- shared by every derivation ---------------------------------------------------------
    "heading.notation": "Notation",
    "heading.forward": "Forward pass",
    "heading.loss": "Loss",
    "heading.backward": "Backward pass",
    "heading.per_example": "Per-example form (one example at a time)",
    "heading.update": "Update (one step of gradient descent)",
    "heading.summary": "Summary",
    "verdict.ok": "✓ {name} matches autograd (max |diff| {autograd}, numerical "
                  "{numeric})",
    "verdict.failed": "✗ FAILED: {name} does NOT match (autograd max |diff| {autograd:.3g}, "
                      "numerical {numeric:.3g}): the formula is wrong",
    "summary.all_match": "{n} gradients checked against autograd and central "
                         "differences{detail}: all match ✓",
    "summary.mismatch": "{n} gradients checked against autograd and central "
                        "differences{detail}: {bad} MISMATCH ✗ (see FAILED lines)",
    "matrix.cut": "({rows} x {columns}: {parts} shown; --full shows all)",
    "matrix.first_rows": "the first {n} rows",
    "matrix.first_columns": "the first {n} columns",
    "matrix.and": " and ",
    # -- the MLP derivation (render.py) -----------------------------------------------------
    "mlp.title": "Backpropagation, step by step",
    "mlp.sizes": "{layers} layer(s), sizes {sizes}; m = {m} examples as {layout}; loss {loss}; "
                 "learning rate alpha = {lr}",
    "mlp.layout.rows": "rows (one example per row)",
    "mlp.layout.columns": "columns (one example per column)",
    "mlp.l2": "; L2 lambda = {l2}",
    "mlp.l1": "; L1 lambda = {l1}",
    "mlp.no_regularization": "",
    "mlp.layer": "layer {i}: W^({i}) {shape} (out, in), {what}",
    "mlp.activation": "activation {activation}{param}",
    "mlp.raw_scores": "raw scores (no activation layer; the loss applies {activation})",
    "mlp.derivative": "f'(Z) = {formula} for {activation}{param}",
    "loss.bce_cancels": "  (sigmoid output: its derivative cancels)",
    "loss.softmax_cross_entropy": "  (softmax + cross-entropy)",
    "loss.per_entry": "  ({label}: the mean over all m n entries, n = {n} outputs)",
    "loss.logits": ",  A^(L) = {f}(Z^(L)): the loss applies {f} to the raw scores Z^(L)",
    "loss.logits_delta": "  ({f} + {loss}, on raw scores)",
    "mlp.regularization": "plus regularization of the weights (not the biases): {terms}",
    "mlp.data_term": " (data term {loss:.6f})",
    "mlp.layer_heading": "Layer {i}",
    "mlp.sum_rows": "sum_rows",
    "mlp.sum_rows.latex": "rows",
    "mlp.sum_columns": "sum_columns",
    "mlp.sum_columns.latex": "columns",
    "mlp.example": "Example {k}",
    "mlp.per_example_loop": "Delta^(l) = 0; for k = 1..m: forward x_k, delta^(L) of example "
                            "k, back through the layers (the formulas above with m = 1), then "
                            "Delta^(l) += delta^(l) a^(l-1)T and Delta_b^(l) += delta^(l)",
    "mlp.per_example_finally": "Finally D^(l) = Delta^(l) / m{reg},  D_b^(l) = Delta_b^(l) / m "
                               "(the bias is not regularized)",
    "mlp.per_example_same": "D^({l}) = dW^({l}) of the matrix form (max |diff| {diff}): "
                            "the two derivations are the same computation",
    "mlp.new": "{name} new",
    "mlp.new.latex": "new",
    "mlp.steps": "{n} steps of gradient descent",
    "mlp.before_first_step": "before the first step: L = {loss:.6f}",
    "mlp.after_step": "after step {k}: L = {loss:.6f}",
    "check_name.example_delta": "delta^({l}) of example {k}",
    "note.dropout": "Dropout layers are left out: the derivation is of the network as it "
                    "predicts (evaluation mode), where dropout is the identity",
    "note.model": "model {path}",
    "note.model_trained": "model {path}, trained by chainrule train on {data}",
    "note.standardized": "X below is your input standardized as the training data was: "
                         "(x - mean) / std with the training split's mean and std",
    "note.predicted_targets": "targets: the model's own predicted classes (no labels were "
                              "given)",
    # -- the interactive page (page.py) -----------------------------------------------------
    "page.first": "« first",
    "page.first.tip": "first step (Home)",
    "page.back": "◀ back",
    "page.back.tip": "back (←)",
    "page.forward": "forward ▶",
    "page.forward.tip": "forward (→)",
    "page.last": "last »",
    "page.last.tip": "last step (End)",
    "page.steps": "{n} steps",
    "page.at": "step {k} of {n}: {t}",
    "page.example": "example",
    "page.unit": "{name} (layer {layer}, unit {unit})",
    "page.input": "{name} (input {unit})",
    "page.more": "+{n} more",
    "page.to_loss": "output {unit} to the loss",
    "page.step.inputs": "inputs X (and targets Y)",
    "page.step.z": "layer {i}: Z^({i})",
    "page.step.a": "layer {i}: A^({i}) = {activation}(Z^({i}))",
    "page.step.loss": "loss",
    "page.step.delta": "layer {i}: delta^({i})",
    "page.step.dw": "layer {i}: dW^({i}) and db^({i})",
    "page.step.da": "layer {i}: dA^({below}) = delta^({i}) W^({i})",
    "page.step.per_example": "the per-example form",
    "page.step.update": "update: W <- W - alpha dW, b <- b - alpha db",
    "page.da_sums": "each unit's dA sums the errors of every unit it feeds, along the "
                    "highlighted edges",
    # -- backpropagation through time (bptt.py) ---------------------------------------------
    "rnn.title": "Backpropagation through time, step by step",
    "rnn.notation": "a tanh RNN over T = {T} steps: a_t = U x_t + W h_(t-1) + b, h_t = "
                    "tanh(a_t), o_t = V h_t + c, p_t = softmax(o_t), L = sum_t -log p_t[y_t]; "
                    "h_0 = 0",
    "rnn.heading.forward": "Forward through time",
    "rnn.forward": "t = {t}: x_{t} = {x}, target y_{t} = {y}",
    "rnn.heading.backward": "Backward through time (t = T down to 1)",
    "rnn.backward_checks": "each checked against autograd (the gradients of o_t, h_t, a_t in "
                           "the unrolled graph) and central differences (each entry of o_t, "
                           "h_t or a_t perturbed, the rest of the unrolled network run forward "
                           "from it)",
    "rnn.heading.shared": "Shared weights: sums over time",
    "rnn.shares": "step t's share is the gradient with respect to the copy of the weight used "
                  "at step t alone (autograd: a node per step; numerically: that copy "
                  "perturbed); the sum, with respect to the shared weight (every step's use "
                  "perturbed at once)",
    "rnn.step_matrix": "  step {t}",
    "rnn.step_matrix.latex": r"\text{{step }}{t}",
    "rnn.summary": " ({errors} per-step errors do_t, dh_t, da_t; {shares} per-step shares; "
                   "{sums} weight sums)",
    "check_name.step_share": "d{weight} (step {t})",
    "rnn.node.h0": "h_0 (zeros)",
    "rnn.edge": "{weight} (step {t})",
    "rnn.step.weights": "the weights U, W, V, b, c",
    "rnn.step.forward": "forward, t = {t}",
    "rnn.step.backward": "backward, t = {t}",
    "rnn.step.sum": "d{weight}: the sum over time",
    "rnn.share": "d{weight} share",
    # -- a convolution and max pooling (conv.py) --------------------------------------------
    "conv.title": "Backpropagation through a convolution and max pooling, step by step",
    "conv.summary": " ({deltas} deltas do, dP, dZ; {parameters} parameter gradients; dX two "
                    "ways)",
    "conv.notation": "a {h}x{w} image X, one {kh}x{kw} kernel K and bias b (stride 1, no "
                     "padding), {pool}x{pool} max pooling with stride {pool}, flatten, a "
                     "linear layer to {classes} classes, softmax cross-entropy; target class "
                     "y = {y}",
    "conv.z": "Z = X (star) K + b:  Z[i, j] = sum_(p,q) X[i+p, j+q] K[p, q] + b  (the "
              "cross-correlation a convolution layer computes)",
    "conv.pool": "P[u, v] = max of the {pool}x{pool} window Z[{pool}u:{pool}u+{pool}, "
                 "{pool}v:{pool}v+{pool}]; the arg-max of each window (1 below) is the only "
                 "element of Z that P depends on",
    "conv.argmax_map": "arg-max map",
    "conv.output": "f = flatten(P) (row by row),  o = V f + c,  p = softmax(o),  L = -log p[y]",
    "conv.checks": "each delta checked against autograd (the retained gradient of o, P or Z) "
                   "and central differences (each entry of o, P or Z perturbed, the rest of "
                   "the network run forward from it)",
    "conv.do": "do = p - onehot(y)  (softmax + cross-entropy)",
    "conv.dp": "dP = V^T do, reshaped as P: the delta of the pooled output",
    "conv.dz": "dZ = dP routed to each window's arg-max, 0 elsewhere: max pooling passes its "
               "gradient to the element that won, and only to it",
    "conv.dz.latex": r"dZ_{{ij}} = dP_{{uv}}\ \text{{if }} (i, j) \text{{ is the arg-max of "
                     r"window }} (u, v),\ 0 \text{{ otherwise}}",
    "conv.dk": "dK = X (star) dZ: dK[p, q] = sum_(i,j) X[i+p, j+q] dZ[i, j], the correlation "
               "of the input with delta (every position the kernel visited, weighted by its "
               "delta)",
    "conv.db": "db = sum_(i,j) dZ[i, j]  (the bias is added at every position)",
    "conv.dx": "dX = dZ (*) K, the full convolution: dX[a, c] = sum_(p,q) dZ[a-p, c-q] K[p, q] "
               "(each delta sent back through every kernel tap to the input it read)",
    "conv.flipped": "the same as the full correlation of dZ, zero-padded by {pad} on every "
                    "side, with the kernel flipped by 180 degrees, rot180(K) = {kernel}",
    "conv.flipped.latex": "flipped",
    "check_name.flipped": "dX (flipped kernel)",
    # -- a causal attention head (attention.py) ---------------------------------------------
    "attention.title": "Backpropagation through a causal attention head, step by step",
    "attention.summary": " ({intermediates} intermediates dO, dP, dS; {inputs} input "
                         "gradients dV, dQ, dK)",
    "attention.notation": "one attention head over {n} tokens, head size d = {d}: queries Q, "
                          "keys K, values V (rows are tokens), causal (token i attends to "
                          "tokens 0..i), and the loss L = 1/2 sum (O - T)^2 against a fixed "
                          "target T",
    "attention.scores": "S = Q K^T / sqrt(d), the scores (1/sqrt({d}) = {scale:.4f})",
    "attention.mask": "the causal mask: S[i, j] = -inf for j > i (a query may not see later "
                      "keys)",
    "attention.masked": "S (masked)",
    "attention.softmax": "P = softmax(S) row by row: each row sums to 1, and P = 0 where "
                         "masked",
    "attention.output": "O = P V: each output row a weighted mean of the value rows it may see",
    "attention.checks": "dO, dP and dS checked against autograd (the retained gradients of O, "
                        "P and S in the head built from explicit ops) and central differences "
                        "(each entry perturbed, the rest run forward from it); dV, dQ and dK "
                        "against scaled_dot_product_attention(is_causal=True)",
    "attention.do": "dO = O - T  (the upstream gradient of the loss)",
    "attention.dv": "dV = P^T dO: value row j collects dO from every query that attended to it",
    "attention.ds": "dS = P * (dP - rowsum(dP * P)): the softmax's vector-Jacobian product, "
                    "row by row; 0 at the masked positions, where P = 0",
    # -- chainrule check (check_render.py) --------------------------------------------------
    "check.title": "chainrule check: {file}",
    "check.network": "network: {layers} layer(s), sizes {sizes}; m = {m} examples as {layout}",
    "check.layout.rows": "rows: Z = A @ W.T + b",
    "check.layout.rows_xw": "rows: Z = A @ W + b",
    "check.layout.columns": "columns: Z = W @ A + b",
    "check.activations": "activations: {acts} ({source})",
    "check.loss": "loss: {loss} ({source})",
    "check.l2": "L2: lambda = {lambd:g}, J += {penalty} * sum of W**2 ({where})",
    "check.l2.inside": "in your cost",
    "check.l2.outside": "your cost leaves it out; check adds it",
    "check.source.inferred.forward": "inferred from your forward",
    "check.source.inferred.cost": "inferred from your cost",
    "check.source.declared": "declared",
    "check.source.default": "no cost function: declared LOSS",
    "check.also": "note: {acts} fit your forward output as well",
    "check.truth": "true gradients: chainrule autograd, and central differences on your own "
                   "forward and cost",
    "check.truth.disagree": "note: autograd and central differences disagree on {names} (max "
                            "{diff:.2g}); the results below use autograd",
    "check.ignored": "note: not checked (not a gradient check knows): {names}",
    "check.ok": "{name} correct (max error {error}, numerical {numeric})",
    "check.ok.convention": "{name} correct as dJ/d{var} (max error {error}): the 1/m is "
                           "already in it",
    "check.wrong": "{name} WRONG (max error {error:.3g}, numerical {numeric:.3g})",
    "check.wrong.shape": "{name} WRONG: shape {got}, the right value has shape {want}",
    "check.first": "the first wrong one",
    "check.summary.ok": "all {n} quantities correct",
    "check.summary.wrong": "{k} of {n} quantities wrong; the first wrong one is {first}",
    "check.fix": "correct: {formula}",
    "check.inherited": "inherits the error of {source}: its own formula is right",
    "check.inherited.found": "inherits the mistake in {source} found above: its own formula is "
                             "right",
    "check.upstream": "fits a mistake in {site}, which backward did not return: {text}",
    "check.explains": "this also explains {names}",
    "check.unknown": "no usual mistake fits; the entries that differ most (index: yours, right):",
    "check.entry": "  {index}: {got:.6g}, {want:.6g}",
    "check.kind.sign": "{site} has the wrong sign (it is -1 times the right value)",
    "check.kind.factor": "{site} is {factor} times the right value",
    "check.factor.m": "{site} is m = {m} times the right value: the 1/m is missing",
    "check.factor.1/m": "{site} is 1/m times the right value: an extra 1/m (or the 1/m twice)",
    "check.factor.2": "{site} is twice the right value",
    "check.factor.1/2": "{site} is half the right value (a factor 2 is missing)",
    "check.kind.activation-derivative": "{site} uses the derivative of {used} ({used_formula}), "
                                        "but layer {layer} is {actual}",
    "check.kind.missing-derivative": "{site} leaves out the derivative of layer {layer}'s "
                                     "activation ({actual})",
    "check.kind.derivative-of-z": "{site} writes the derivative of {actual} with Z{layer} where "
                                  "A{layer} belongs",
    "check.kind.output-formula": "{site} is (A{layer} - Y) * {used_formula}, with the derivative "
                                 "of {used}",
    "check.kind.output-missing-derivative": "{site} is A{layer} - Y, without the derivative of "
                                            "the output activation {actual}",
    "check.kind.transpose": "{site} is transposed (it is the right value's .T)",
    "check.kind.no-sum": "{site} is not summed over the examples (it is dZ{layer} / m)",
    "check.kind.sum-all": "{site} sums over every entry (np.sum without axis), giving one number",
    "check.kind.sum-axis": "{site} sums over the wrong axis: over the units instead of the "
                           "examples",
    "check.kind.shape": "{site} has the right values in the wrong shape: {got} where {param} has "
                        "shape {want}",
    "check.kind.l2-missing": "{site} lacks the L2 term {term}",
    "check.kind.l2-scale": "{site} adds the L2 term {used} instead of {term}",
    "check.kind.l2-sign": "{site} subtracts the L2 term {term} instead of adding it",
    "check.kind.l2-bias": "{site} adds an L2 term to the bias: L2 regularizes the weights only",
    "check.kind.extra-term": "{site} has an extra term {c} * W{layer}",
    "check.kind.w-not-transposed": "{site} multiplies by W{next} where W{next}.T belongs",
    "check.loss.cross-entropy": "cross-entropy, -sum(Y * log(A)) / m",
    "check.loss.binary-cross-entropy": "binary cross-entropy, -sum(Y * log(A) + (1 - Y) * log(1 "
                                       "- A)) / m",
    "check.loss.mse/2": "squared error, sum((A - Y)**2) / (2 m)",
    "check.loss.mse": "squared error, sum((A - Y)**2) / m",
    "check.loss.mse-mean": "mean squared error, sum((A - Y)**2) / (m n)",
}
