# %% [markdown]
# # 4. Training a digit classifier: progress, curves and the model's summary
#
# The 8x8 handwritten digits ship inside chainrule (1,797 images, so nothing is
# downloaded). This notebook trains a small network on them with `chainrule.train.fit`,
# the loop that the `chainrule train` command runs, and looks at what a notebook shows
# along the way: the model's layers as a table, a progress bar per epoch, and the
# learning curves as a figure.

# %%
import matplotlib.pyplot as plt
import numpy as np

import chainrule as cr
from chainrule import data, nn, optim
from chainrule.train import evaluate, fit, predict

X, y = data.load_digits()
print(X.shape, X.dtype, y.shape, "pixel values from", X.min(), "to", X.max())

fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
for digit, ax in enumerate(axes):
    ax.imshow(X[np.flatnonzero(y == digit)[0]].reshape(8, 8), cmap="gray_r")
    ax.set(title=str(digit), xticks=[], yticks=[])
plt.show()

# %% [markdown]
# ## Splits and scaling
#
# A test set is put aside first (stratified: each digit keeps its share), then a
# validation set is taken from the rest to watch for overfitting while training. The
# pixels are standardized with the statistics of the training split alone, so nothing
# about the held-out images leaks into training.

# %%
x_rest, x_test, y_rest, y_test = data.train_test_split(X, y, test_size=0.2, seed=0,
                                                       stratify=y)
x_train, x_val, y_train, y_val = data.train_test_split(x_rest, y_rest, test_size=0.2,
                                                       seed=0, stratify=y_rest)
scaler = data.Standardizer().fit(x_train)
x_train, x_val, x_test = (scaler.transform(a) for a in (x_train, x_val, x_test))
print(f"{len(x_train)} training, {len(x_val)} validation, {len(x_test)} test images")

# %% [markdown]
# ## The model
#
# 64 pixels in, one hidden layer of 64 ReLU units with dropout, 10 scores out (one per
# digit; the cross-entropy loss applies the softmax). `summary` runs one forward pass on
# an input of the given shape (a batch of 32 here) and lists each layer with the shape it
# returns and its parameters: the first layer has 64 x 64 weights and 64 biases. In a
# notebook it shows as a table; `print(model.summary(...))` gives the same as text.

# %%
cr.manual_seed(0)
model = nn.mlp([64, 64, 10], "relu", dropout=0.2)
model.summary((32, 64))

# %%
assert model.summary((32, 64)).total_params == (64 * 64 + 64) + (64 * 10 + 10)

# %% [markdown]
# ## Training
#
# `fit` runs the epochs: for each batch of 32 images a forward pass, the loss, `backward()`
# and an Adam step; after each epoch the loss and accuracy on the training and validation
# data. In a notebook the progress shows as a bar per epoch (a widget where ipywidgets is
# installed, text otherwise). The history it returns holds one row of metrics per epoch.

# %%
history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
              (x_train, y_train), (x_val, y_val), epochs=15, batch_size=32, seed=0)

# %%
print(history)
print("the last epoch:", {k: round(v, 4) for k, v in history.epochs[-1].items()
                          if k != "time"})
assert len(history.epochs) == 15 and history["loss"][-1] < history["loss"][0]

# %% [markdown]
# ## The learning curves
#
# `history.plot()` returns a matplotlib figure of the loss and the accuracy per epoch, on
# the training and the validation data (`history.plot("curves.png")` also saves it, as
# `chainrule train` does). Validation loss that starts rising while the training loss
# keeps falling would be the sign to stop earlier (`early_stopping=True`).

# %%
history.plot(title="digits, 64 hidden units")

# %% [markdown]
# ## On the test set
#
# The test images were never seen during training. `evaluate` gives the mean loss and the
# accuracy; `predict` the scores, from which the confusion matrix counts, for each true
# digit (row), which digit the model said (column).

# %%
scores = evaluate(model, nn.CrossEntropyLoss(), (x_test, y_test))
print(f"test accuracy {scores['accuracy']:.2%}, test loss {scores['loss']:.4f}")
assert scores["accuracy"] > 0.9

predicted = predict(model, x_test).argmax(axis=1)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_test, predicted), 1)
print(confusion)
assert confusion.trace() == (predicted == y_test).sum()
np.testing.assert_allclose(confusion.trace() / len(y_test), scores["accuracy"])

# %% [markdown]
# A few of the images it got wrong (the title is what the model said, then the truth):

# %%
wrong = np.flatnonzero(predicted != y_test)[:8]
fig, axes = plt.subplots(1, max(len(wrong), 1), figsize=(8, 1.6), squeeze=False)
for ax, i in zip(axes[0], wrong, strict=False):
    ax.imshow(scaler.inverse_transform(x_test[i:i + 1]).reshape(8, 8), cmap="gray_r")
    ax.set(title=f"{predicted[i]} ({y_test[i]})", xticks=[], yticks=[])
plt.show()
