"""grunet's Triton kernels: the sequential part of one GRU layer and direction, all T steps in one launch
(`grunet.triton_gru` holds the host side: the GEMMs around them, the tiles, the launches, and the design).

- `blocks`: what both forms are built from: products at torch's float32 matmul precision, tanh, a step's
  elementwise backward.
- `on_chip`: padded H up to `grunet.triton_gru.MAX_ON_CHIP_HIDDEN`: the state h and W_hh in registers for the
  whole sequence.
- `tiled`: any H: column blocks of h and tiles of W_hh read from memory at every step.
"""
