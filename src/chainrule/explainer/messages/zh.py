"""简体中文：与 ``en`` 相同的键和占位符，用中文推导（神经网络的 BP 推导过程）的术语：
前向传播、反向传播、误差项 δ、代价函数、链式法则、权重矩阵、偏置、正则项、学习率、梯度下降、
时间反向传播。记号（delta^(l)、W^(l)、A^(l)、Z^(l)）和公式不译，数字与英文完全相同。

Simplified Chinese, in the words of the Chinese derivations; the keys, placeholders,
notation and numbers are English's."""

MESSAGES: dict[str, str] = {
    # -- shared by every derivation ---------------------------------------------------------
    "heading.notation": "记号与设定",
    "heading.forward": "前向传播",
    "heading.loss": "代价函数",
    "heading.backward": "反向传播（按链式法则逐层求误差项）",
    "heading.per_example": "逐样本形式（一次一个样本）",
    "heading.update": "更新权重矩阵与偏置（一步梯度下降）",
    "heading.summary": "小结",
    "verdict.ok": "✓ {name} 与 autograd 一致（最大 |差| {autograd}，数值梯度 {numeric}）",
    "verdict.failed": "✗ 失败：{name} 不一致（与 autograd 的最大 |差| {autograd:.3g}，数值梯度 "
                      "{numeric:.3g}）：公式有误",
    "summary.all_match": "共 {n} 个梯度与 autograd 和中心差分逐一核对{detail}：全部一致 ✓",
    "summary.mismatch": "共 {n} 个梯度与 autograd 和中心差分逐一核对{detail}：{bad} 个不一致 ✗"
                        "（见“失败”各行）",
    "matrix.cut": "（{rows} x {columns}：只显示{parts}；--full 显示全部）",
    "matrix.first_rows": "前 {n} 行",
    "matrix.first_columns": "前 {n} 列",
    "matrix.and": "和",
    # -- the MLP derivation (render.py) -----------------------------------------------------
    "mlp.title": "反向传播，逐步推导",
    "mlp.sizes": "{layers} 层，各层大小 {sizes}；m = {m} 个样本，按{layout}排列；代价函数 {loss}；"
                 "学习率 alpha = {lr}",
    "mlp.layout.rows": "行（每行一个样本）",
    "mlp.layout.columns": "列（每列一个样本）",
    "mlp.l2": "；L2 正则项 lambda = {l2}",
    "mlp.l1": "；L1 正则项 lambda = {l1}",
    "mlp.no_regularization": "；无正则项",
    "mlp.layer": "第 {i} 层：权重矩阵 W^({i}) {shape}（输出, 输入），{what}",
    "mlp.activation": "激活函数 {activation}{param}",
    "mlp.raw_scores": "原始得分（没有激活层，由代价函数施加 {activation}）",
    "mlp.derivative": "f'(Z) = {formula}（{activation}{param}）",
    "loss.bce_cancels": "  （sigmoid 输出：它的导数被约去）",
    "loss.softmax_cross_entropy": "  （softmax + 交叉熵）",
    "loss.per_entry": "  （{label}：对全部 m n 个元素取平均，n = {n} 个输出）",
    "loss.logits": "，A^(L) = {f}(Z^(L))：代价函数自己对原始得分 Z^(L) 施加 {f}",
    "loss.logits_delta": "  （{f} + {loss}，作用于原始得分）",
    "mlp.regularization": "再加上权重的正则项（偏置不参与正则化）：{terms}",
    "mlp.data_term": "（其中数据项 {loss:.6f}）",
    "mlp.layer_heading": "第 {i} 层：误差项 δ 与梯度",
    "mlp.sum_rows": "sum_(各行)",
    "mlp.sum_rows.latex": "各行",
    "mlp.sum_columns": "sum_(各列)",
    "mlp.sum_columns.latex": "各列",
    "mlp.example": "样本 {k}",
    "mlp.per_example_loop": "Delta^(l) = 0；对 k = 1..m：样本 x_k 做前向传播，求它的误差项 "
                            "delta^(L)，再逐层反向传播（即上面的公式取 m = 1），然后 Delta^(l) += "
                            "delta^(l) a^(l-1)T，Delta_b^(l) += delta^(l)",
    "mlp.per_example_finally": "最后 D^(l) = Delta^(l) / m{reg}，D_b^(l) = Delta_b^(l) / m"
                               "（偏置不参与正则化）",
    "mlp.per_example_same": "D^({l}) 等于矩阵形式的 dW^({l})（最大 |差| {diff}）：两种推导是"
                            "同一个计算",
    "mlp.new": "新的 {name}",
    "mlp.new.latex": r"\text{{新}}",
    "mlp.steps": "{n} 步梯度下降",
    "mlp.before_first_step": "第一步之前：L = {loss:.6f}",
    "mlp.after_step": "第 {k} 步之后：L = {loss:.6f}",
    "check_name.example_delta": "样本 {k} 的 delta^({l})",
    "note.dropout": "Dropout 层被略去：推导的是网络预测时（评估模式）的样子，此时 dropout 是恒等"
                    "映射",
    "note.model": "模型 {path}",
    "note.model_trained": "模型 {path}，由 chainrule train 在 {data} 上训练",
    "note.standardized": "下面的 X 是按训练数据的方式标准化后的输入：(x - mean) / std，用的是训练"
                         "集的均值和标准差",
    "note.predicted_targets": "目标：模型自己预测的类别（没有给出标签）",
    # -- the interactive page (page.py) -----------------------------------------------------
    "page.first": "« 第一步",
    "page.first.tip": "第一步（Home）",
    "page.back": "◀ 后退",
    "page.back.tip": "后退（←）",
    "page.forward": "前进 ▶",
    "page.forward.tip": "前进（→）",
    "page.last": "最后一步 »",
    "page.last.tip": "最后一步（End）",
    "page.steps": "共 {n} 步",
    "page.at": "第 {k} 步，共 {n} 步：{t}",
    "page.example": "样本",
    # the diagram shows the text before the first space: keep one after the symbol
    "page.unit": "{name} （第 {layer} 层，第 {unit} 个单元）",
    "page.input": "{name} （第 {unit} 个输入）",
    "page.more": "还有 {n} 个",
    "page.to_loss": "输出 {unit} 到代价函数",
    "page.step.inputs": "输入 X（及目标 Y）",
    "page.step.z": "第 {i} 层：Z^({i})",
    "page.step.a": "第 {i} 层：A^({i}) = {activation}(Z^({i}))",
    "page.step.loss": "代价函数",
    "page.step.delta": "第 {i} 层：误差项 delta^({i})",
    "page.step.dw": "第 {i} 层：dW^({i}) 和 db^({i})",
    "page.step.da": "第 {i} 层：dA^({below}) = delta^({i}) W^({i})",
    "page.step.per_example": "逐样本形式",
    "page.step.update": "更新：W <- W - alpha dW，b <- b - alpha db",
    "page.da_sums": "每个单元的 dA 沿高亮的边，汇总它所连接的每个单元的误差项",
    # -- backpropagation through time (bptt.py) ---------------------------------------------
    "rnn.title": "时间反向传播（BPTT），逐步推导",
    "rnn.notation": "一个 tanh RNN，共 T = {T} 个时间步：a_t = U x_t + W h_(t-1) + b，h_t = "
                    "tanh(a_t)，o_t = V h_t + c，p_t = softmax(o_t)，L = sum_t -log p_t[y_t]；"
                    "h_0 = 0",
    "rnn.heading.forward": "沿时间的前向传播",
    "rnn.forward": "t = {t}：x_{t} = {x}，目标 y_{t} = {y}",
    "rnn.heading.backward": "时间反向传播（从 t = T 到 1）",
    "rnn.backward_checks": "每一项都与 autograd（展开图中 o_t、h_t、a_t 的梯度）和中心差分（扰动 "
                           "o_t、h_t 或 a_t 的每个元素，再从它开始把展开网络的其余部分向前计算）"
                           "核对",
    "rnn.heading.shared": "共享权重：对时间求和",
    "rnn.shares": "第 t 步的份额，是对第 t 步单独使用的那份权重副本的梯度（autograd：每步一个节点；"
                  "数值上：只扰动那份副本）；总和是对共享权重的梯度（所有时间步的使用同时扰动）",
    "rnn.step_matrix": "  第 {t} 步",
    "rnn.step_matrix.latex": r"\text{{第 }}{t}\text{{ 步}}",
    "rnn.summary": "（{errors} 个逐步误差 do_t、dh_t、da_t；{shares} 个逐步份额；{sums} 个权重"
                   "总和）",
    "check_name.step_share": "d{weight}（第 {t} 步）",
    "rnn.node.h0": "h_0 （零向量）",
    "rnn.edge": "{weight}（第 {t} 步）",
    "rnn.step.weights": "权重 U、W、V、b、c",
    "rnn.step.forward": "前向传播，t = {t}",
    "rnn.step.backward": "反向传播，t = {t}",
    "rnn.step.sum": "d{weight}：对时间求和",
    "rnn.share": "d{weight} 份额",
    # -- a convolution and max pooling (conv.py) --------------------------------------------
    "conv.title": "卷积与最大池化的反向传播，逐步推导",
    "conv.summary": "（{deltas} 个误差项 do、dP、dZ；{parameters} 个参数梯度；dX 用两种方法）",
    "conv.notation": "一张 {h}x{w} 的图像 X，一个 {kh}x{kw} 的卷积核 K 和偏置 b（步幅 1，无填充），"
                     "{pool}x{pool} 最大池化（步幅 {pool}），展平，一个通向 {classes} 个类别的"
                     "线性层，softmax 交叉熵；目标类别 y = {y}",
    "conv.z": "Z = X (star) K + b：Z[i, j] = sum_(p,q) X[i+p, j+q] K[p, q] + b（卷积层实际计算的"
              "是互相关）",
    "conv.pool": "P[u, v] = {pool}x{pool} 窗口 Z[{pool}u:{pool}u+{pool}, {pool}v:{pool}v+{pool}] "
                 "中的最大值；每个窗口的最大值位置（下面标为 1）是 P 唯一依赖的 Z 元素",
    "conv.argmax_map": "最大值位置图",
    "conv.output": "f = flatten(P)（逐行展平），o = V f + c，p = softmax(o)，L = -log p[y]",
    "conv.checks": "每个误差项都与 autograd（o、P 或 Z 保留的梯度）和中心差分（扰动 o、P 或 Z 的"
                   "每个元素，再从它开始向前计算网络的其余部分）核对",
    "conv.do": "do = p - onehot(y)（softmax + 交叉熵）",
    "conv.dp": "dP = V^T do，整形为 P 的形状：池化输出的误差项",
    "conv.dz": "dZ = 把 dP 送到每个窗口的最大值位置，其余位置为 0：最大池化只把梯度传给胜出的那个"
               "元素",
    "conv.dz.latex": r"dZ_{{ij}} = dP_{{uv}}\ \text{{若 }} (i, j) \text{{ 是窗口 }} (u, v) "
                     r"\text{{ 的最大值位置}},\ \text{{否则为 }} 0",
    "conv.dk": "dK = X (star) dZ：dK[p, q] = sum_(i,j) X[i+p, j+q] dZ[i, j]，即输入与误差项的"
               "互相关（卷积核经过的每个位置，以该处的误差项加权）",
    "conv.db": "db = sum_(i,j) dZ[i, j]（偏置加在每个位置上）",
    "conv.dx": "dX = dZ (*) K，完全卷积：dX[a, c] = sum_(p,q) dZ[a-p, c-q] K[p, q]（每个误差项经"
               "卷积核的每个抽头送回它读过的输入）",
    "conv.flipped": "也等于 dZ（四周补 {pad} 圈零）与旋转 180 度的卷积核的完全互相关，rot180(K) = "
                    "{kernel}",
    "conv.flipped.latex": "翻转",
    "check_name.flipped": "dX（翻转卷积核）",
    # -- a causal attention head (attention.py) ---------------------------------------------
    "attention.title": "因果注意力头的反向传播，逐步推导",
    "attention.summary": "（{intermediates} 个中间量 dO、dP、dS；{inputs} 个输入梯度 dV、dQ、dK）",
    "attention.notation": "一个注意力头，共 {n} 个词元，头大小 d = {d}：查询 Q、键 K、值 V（每行"
                          "一个词元），因果（词元 i 只关注词元 0..i），代价函数 L = 1/2 sum "
                          "(O - T)^2，T 为固定目标",
    "attention.scores": "S = Q K^T / sqrt(d)，即得分（1/sqrt({d}) = {scale:.4f}）",
    "attention.mask": "因果掩码：j > i 时 S[i, j] = -inf（查询不能看到后面的键）",
    "attention.masked": "S（掩码后）",
    "attention.softmax": "P = softmax(S)，逐行计算：每行之和为 1，被掩码处 P = 0",
    "attention.output": "O = P V：每个输出行是它能看到的各值行的加权平均",
    "attention.checks": "dO、dP 和 dS 与 autograd（由显式运算搭建的注意力头中 O、P、S 保留的梯度）"
                        "和中心差分（扰动每个元素，再向前计算其余部分）核对；dV、dQ 和 dK 与 "
                        "scaled_dot_product_attention(is_causal=True) 核对",
    "attention.do": "dO = O - T（代价函数传来的上游梯度）",
    "attention.dv": "dV = P^T dO：值行 j 汇总所有关注它的查询的 dO",
    "attention.ds": "dS = P * (dP - rowsum(dP * P))：softmax 的向量-雅可比积，逐行计算；被掩码处 "
                    "P = 0，故为 0",
    # -- chainrule check (check_render.py) --------------------------------------------------
    "check.title": "chainrule check：{file}",
    "check.network": "网络：{layers} 层，各层大小 {sizes}；m = {m} 个样本，按{layout}",
    "check.layout.rows": "行排列：Z = A @ W.T + b",
    "check.layout.rows_xw": "行排列：Z = A @ W + b",
    "check.layout.columns": "列排列：Z = W @ A + b",
    "check.activations": "激活函数：{acts}（{source}）",
    "check.loss": "代价函数：{loss}（{source}）",
    "check.l2": "L2 正则项：lambda = {lambd:g}，J += {penalty} * W**2 之和（{where}）",
    "check.l2.inside": "已在你的代价函数中",
    "check.l2.outside": "你的代价函数没有包含它，check 会加上",
    "check.source.inferred.forward": "由你的前向传播推断",
    "check.source.inferred.cost": "由你的代价函数推断",
    "check.source.declared": "文件中声明",
    "check.source.default": "没有代价函数：用声明的 LOSS",
    "check.also": "注意：{acts} 同样符合你的前向传播输出",
    "check.truth": "真实梯度：chainrule 的 autograd，以及对你自己的前向传播和代价函数做的中心差分",
    "check.truth.disagree": "注意：autograd 与中心差分在 {names} 上不一致（最大 {diff:.2g}）；"
                            "以下结果用的是 autograd",
    "check.ignored": "注意：未检查（check 不认识的梯度）：{names}",
    "check.ok": "{name} 正确（最大误差 {error}，数值梯度 {numeric}）",
    "check.ok.convention": "{name} 作为 dJ/d{var} 是正确的（最大误差 {error}）：其中已包含 1/m",
    "check.wrong": "{name} 错误（最大误差 {error:.3g}，数值梯度 {numeric:.3g}）",
    "check.wrong.shape": "{name} 错误：形状为 {got}，正确值的形状为 {want}",
    "check.first": "第一个出错的量",
    "check.summary.ok": "全部 {n} 个量都正确",
    "check.summary.wrong": "{n} 个量中有 {k} 个错误；第一个出错的是 {first}",
    "check.fix": "正确写法：{formula}",
    "check.inherited": "继承了 {source} 的错误：它自己的公式是对的",
    "check.inherited.found": "继承了上面找到的 {source} 中的错误：它自己的公式是对的",
    "check.upstream": "符合 {site} 中的一个错误，而 backward 没有返回它：{text}",
    "check.explains": "这也解释了 {names}",
    "check.unknown": "没有常见错误与之相符；差别最大的元素（索引：你的值，正确值）：",
    "check.entry": "  {index}：{got:.6g}，{want:.6g}",
    "check.kind.sign": "{site} 的符号错了（它是正确值的 -1 倍）",
    "check.kind.factor": "{site} 是正确值的 {factor} 倍",
    "check.factor.m": "{site} 是正确值的 m = {m} 倍：缺少 1/m",
    "check.factor.1/m": "{site} 是正确值的 1/m 倍：多了一个 1/m（或 1/m 用了两次）",
    "check.factor.2": "{site} 是正确值的两倍",
    "check.factor.1/2": "{site} 是正确值的一半（缺少因子 2）",
    "check.kind.activation-derivative": "{site} 用的是 {used} 的导数（{used_formula}），但第 "
                                        "{layer} 层是 {actual}",
    "check.kind.missing-derivative": "{site} 漏掉了第 {layer} 层激活函数（{actual}）的导数",
    "check.kind.derivative-of-z": "{site} 在应该用 A{layer} 的地方用 Z{layer} 写 {actual} 的导数",
    "check.kind.output-formula": "{site} 是 (A{layer} - Y) * {used_formula}，多乘了 {used} 的导数",
    "check.kind.output-missing-derivative": "{site} 是 A{layer} - Y，没有乘输出激活函数 {actual} "
                                            "的导数",
    "check.kind.transpose": "{site} 被转置了（它是正确值的 .T）",
    "check.kind.no-sum": "{site} 没有对样本求和（它是 dZ{layer} / m）",
    "check.kind.sum-all": "{site} 对所有元素求和（np.sum 没有指定 axis），得到一个数",
    "check.kind.sum-axis": "{site} 沿错误的轴求和：对单元求和，而不是对样本求和",
    "check.kind.shape": "{site} 的值对但形状错：形状为 {got}，而 {param} 的形状为 {want}",
    "check.kind.l2-missing": "{site} 缺少 L2 项 {term}",
    "check.kind.l2-scale": "{site} 加的 L2 项是 {used}，而不是 {term}",
    "check.kind.l2-sign": "{site} 减去了 L2 项 {term}，而不是加上它",
    "check.kind.l2-bias": "{site} 给偏置加了 L2 项：L2 正则项只作用于权重",
    "check.kind.extra-term": "{site} 多了一项 {c} * W{layer}",
    "check.kind.w-not-transposed": "{site} 乘的是 W{next}，而应该是 W{next}.T",
    "check.loss.cross-entropy": "交叉熵，-sum(Y * log(A)) / m",
    "check.loss.binary-cross-entropy": "二元交叉熵，-sum(Y * log(A) + (1 - Y) * log(1 - A)) / m",
    "check.loss.mse/2": "平方误差，sum((A - Y)**2) / (2 m)",
    "check.loss.mse": "平方误差，sum((A - Y)**2) / m",
    "check.loss.mse-mean": "均方误差，sum((A - Y)**2) / (m n)",
}
