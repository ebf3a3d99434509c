"""Train a character-level LSTM on a text file and watch it learn to write.

    python examples/char_rnn.py ../shared/data/tinyshakespeare.txt --steps 2000

This is the same as `chainrule train-text PATH`: the corpus is cut into parallel
streams, each step backpropagates through --seq-len characters (truncated BPTT,
the state carried over detached), gradients are clipped by norm (--clip, 0 for
none), and a sample of generated text is printed every --sample-every steps. The
loss curve, the model and the samples are written to --out.
"""

import sys

from chainrule.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-text", *sys.argv[1:]]))
