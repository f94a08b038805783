"""Optional compiled inner loop for `grunet.fast`: the whole recurrence of one layer in one C++ call.

Why: at small hidden sizes a GRU step is a few microseconds of arithmetic and torch spends far more dispatching its
~10 ops per step. The batch columns of a GRU never interact, so each thread takes a slice of the batch and runs all
T steps on it alone: no per-step synchronisation, no per-step dispatch. Inside, a step of a tile of columns is the
input projection and the recurrent product as small register-blocked GEMMs (weights times a (features, tile)
block, SIMD over the batch) followed by the fused elementwise work. Buffers are (features, T, B), allocated by the
caller with torch; the weight gradients and dx stay single torch GEMMs over all T·B columns (`grunet.fast`).

It is strictly optional: the C++ source below is compiled on first use with the system's C++ compiler (``$CXX``
or ``c++``), ``-O3 -march=native -ffast-math`` (compile step only: the link step leaves it out, so loading the
library does not switch the process to flush-to-zero), plus ``-fopenmp`` when that works (the threads are then torch's
own libgomp pool), into ``~/.cache/grunet`` (``$XDG_CACHE_HOME``), and loaded with ctypes. Nothing is compiled at
install time and torch's headers are not needed. Where there is no compiler, the build fails, the tensors are not
float32/float64 on the CPU, hidden_size > `MAX_HIDDEN`, or ``GRUNET_NATIVE=0`` is set, `grunet.fast` runs its
pure-torch loop instead (same numbers up to rounding).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
from torch import Tensor

_SOURCE = r"""
// grunet native GRU recurrence. Buffers are (features, steps, batch) with unit batch stride; rows are strided.
// Gate order z, r, n. Update h' = h + z (h~ - h) (grunet's z multiplies the candidate).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>
#include <algorithm>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) && defined(__SSE2__)
#include <immintrin.h>
#define GRUNET_STREAM 1
#endif

// A loaded vector stays in its register: GCC otherwise folds the load into every FMA that uses it, so that each of
// the R (or RM x RN) FMAs reloads it from L1 and the micro-kernels run out of load slots before FMA slots.
#if defined(__AVX512F__) && defined(__GNUC__)
#define GRUNET_KEEP(v) asm("" : "+v"(v))
#else
#define GRUNET_KEEP(v) ((void)0)
#endif

namespace {

// 64 bytes from src to a 64-byte aligned dst with non-temporal stores: a buffer written once and read only much
// later (the saved gates) goes to memory without first being read into the cache (no read-for-ownership)
inline void stream64(void* dst, const void* src) {
#if defined(__AVX512F__)
    _mm512_stream_si512((__m512i*)dst, _mm512_loadu_si512(src));
#elif defined(__AVX__)
    _mm256_stream_si256((__m256i*)dst, _mm256_loadu_si256((const __m256i*)src));
    _mm256_stream_si256((__m256i*)dst + 1, _mm256_loadu_si256((const __m256i*)src + 1));
#elif defined(GRUNET_STREAM)
    for (int i = 0; i < 4; ++i) _mm_stream_si128((__m128i*)dst + i, _mm_loadu_si128((const __m128i*)src + i));
#else
    std::memcpy(dst, src, 64);
#endif
}
inline void stream_fence() {
#ifdef GRUNET_STREAM
    _mm_sfence();
#endif
}

template <typename S, int V>
struct Tile {
    // A tile is W columns (a multiple of the vector width V) of the batch, held locally as rows of W values.
    int W;
    typedef S vec __attribute__((vector_size(V * sizeof(S))));  // one SIMD register of V values
    static inline vec load(const S* p) { vec v; std::memcpy(&v, p, sizeof(vec)); return v; }
    static inline void store(S* p, vec v) { std::memcpy(p, &v, sizeof(vec)); }

    // out[m][:] += sum_k A[m*K + k] * in[k][:] for m < M, register-blocked: R rows by C vectors of columns at a
    // time, so that per k, C loads of `in` and R broadcast weights feed R * C FMAs (R = 8, C = 2: 16 accumulators)
    template <int R, int C>
    inline int rows_block(int m, int M, int K, const S* A, const S* x0, S* o) const {
        for (; m + R <= M; m += R) {
            vec acc[R][C];
            for (int i = 0; i < R; ++i) for (int c = 0; c < C; ++c) acc[i][c] = load(o + (int64_t)(m + i) * W + c * V);
            const S* Am = A + (int64_t)m * K;
            for (int k = 0; k < K; ++k) {
                vec x[C];
                for (int c = 0; c < C; ++c) { x[c] = load(x0 + (int64_t)k * W + c * V); GRUNET_KEEP(x[c]); }
                for (int i = 0; i < R; ++i) {
                    const S a = Am[i * K + k];
                    for (int c = 0; c < C; ++c) acc[i][c] += a * x[c];
                }
            }
            for (int i = 0; i < R; ++i) for (int c = 0; c < C; ++c) store(o + (int64_t)(m + i) * W + c * V, acc[i][c]);
        }
        return m;
    }
    template <int C>
    inline void columns_block(int M, int K, const S* A, const S* in, S* out) const {
        int m = rows_block<8, C>(0, M, K, A, in, out);
        m = rows_block<4, C>(m, M, K, A, in, out);
        m = rows_block<2, C>(m, M, K, A, in, out);
        rows_block<1, C>(m, M, K, A, in, out);
    }
    void gemm(int M, int K, const S* A, const S* in, S* out) const {
        int cb = 0;
        for (; cb + 2 * V <= W; cb += 2 * V) columns_block<2>(M, K, A, in + cb, out + cb);
        for (; cb < W; cb += V) columns_block<1>(M, K, A, in + cb, out + cb);
    }
    // local[f][j] = base[offset + j * column + f * row] (zeros where base is null or j >= width)
    void gather_strided(int rows, const S* base, int64_t offset, int64_t column, int64_t row, int width,
                        S* local) const {
        if (!base) { std::fill(local, local + (int64_t)rows * W, S(0)); return; }
        for (int f = 0; f < rows; ++f) {
            const S* g = base + offset + f * row;
            S* l = local + (int64_t)f * W;
            for (int j = 0; j < width; ++j) l[j] = g[j * column];
            for (int j = width; j < W; ++j) l[j] = S(0);
        }
    }
    // local[i][j] = x_t[j * column + i * feature] for the W columns from c (zeros beyond width)
    void gather_input(int I, const S* x_t, int64_t column, int64_t feature, int width, S* local) const {
        if (feature == 1 && I > 1) {  // (T, B, I) contiguous features: read each column's features in a row
            for (int j = 0; j < W; ++j)
                for (int i = 0; i < I; ++i) local[(int64_t)i * W + j] = j < width ? x_t[j * column + i] : S(0);
            return;
        }
        for (int i = 0; i < I; ++i) {
            S* l = local + (int64_t)i * W;
            const S* g = x_t + i * feature;
            for (int j = 0; j < width; ++j) l[j] = g[j * column];
            for (int j = width; j < W; ++j) l[j] = S(0);
        }
    }
    // C[m][n] (V lanes each, N per row) += A[m][:] * Bm[n][:], lane-wise over the first `chunks` vectors of the rows
    template <int RM, int RN>
    inline void outer_micro(int m, int n, int N, int chunks, const S* A, const S* Bm, S* C) const {
        vec acc[RM][RN];
        for (int i = 0; i < RM; ++i) for (int k = 0; k < RN; ++k) acc[i][k] = load(C + ((int64_t)(m + i) * N + n + k) * V);
        for (int c = 0; c < chunks; ++c) {
            vec a[RM], b[RN];
            for (int i = 0; i < RM; ++i) { a[i] = load(A + (int64_t)(m + i) * W + c * V); GRUNET_KEEP(a[i]); }
            for (int k = 0; k < RN; ++k) { b[k] = load(Bm + (int64_t)(n + k) * W + c * V); GRUNET_KEEP(b[k]); }
            for (int i = 0; i < RM; ++i) for (int k = 0; k < RN; ++k) acc[i][k] += a[i] * b[k];
        }
        for (int i = 0; i < RM; ++i) for (int k = 0; k < RN; ++k) store(C + ((int64_t)(m + i) * N + n + k) * V, acc[i][k]);
    }
    // the weight gradient of one step of a tile, M x N pairs, kept as V partial sums per pair (summed at the end)
    void outer(int M, int N, int width, const S* A, const S* Bm, S* C) const {
        const int chunks = (width + V - 1) / V;
        int m = 0;
        for (; m + 4 <= M; m += 4) {
            int n = 0;
            for (; n + 4 <= N; n += 4) outer_micro<4, 4>(m, n, N, chunks, A, Bm, C);
            for (; n < N; ++n) outer_micro<4, 1>(m, n, N, chunks, A, Bm, C);
        }
        for (; m < M; ++m) {
            int n = 0;
            for (; n + 4 <= N; n += 4) outer_micro<1, 4>(m, n, N, chunks, A, Bm, C);
            for (; n < N; ++n) outer_micro<1, 1>(m, n, N, chunks, A, Bm, C);
        }
    }
    // C[m] (V lanes) += A[m][:] over the first chunks vectors: bias gradients
    void row_sums(int M, int width, const S* A, S* C) const {
        const int chunks = (width + V - 1) / V;
        for (int m = 0; m < M; ++m) {
            vec s = load(C + (int64_t)m * V);
            for (int c = 0; c < chunks; ++c) s += load(A + (int64_t)m * W + c * V);
            store(C + (int64_t)m * V, s);
        }
    }
    // local[f][:] = value[f]
    void fill(int rows, const S* value, S* local) const {
        for (int f = 0; f < rows; ++f) for (int j = 0; j < W; ++j) local[(int64_t)f * W + j] = value[f];
    }
    // local[f][:] = global[f * row + 0 .. width), zero padded to W
    void gather(int rows, const S* global, int64_t row, int width, S* local) const {
        for (int f = 0; f < rows; ++f) {
            const S* g = global + f * row;
            S* l = local + (int64_t)f * W;
            for (int j = 0; j < width; ++j) l[j] = g[j];
            for (int j = width; j < W; ++j) l[j] = S(0);
        }
    }
    // scatter with non-temporal stores for the aligned whole 64-byte lines (stream_fence() before others read)
    void scatter_stream(int rows, const S* local, S* global, int64_t row, int width) const {
        constexpr int line = 64 / sizeof(S);
        for (int f = 0; f < rows; ++f) {
            S* g = global + f * row;
            const S* l = local + (int64_t)f * W;
            int j = 0;
            if (((uintptr_t)g & 63) == 0)
                for (; j + line <= width; j += line) stream64(g + j, l + j);
            for (; j < width; ++j) g[j] = l[j];
        }
    }
    void scatter(int rows, const S* local, S* global, int64_t row, int width) const {
        for (int f = 0; f < rows; ++f) {
            S* g = global + f * row;
            const S* l = local + (int64_t)f * W;
            for (int j = 0; j < width; ++j) g[j] = l[j];
        }
    }
};

// The thread's columns c0..c1 as `count` tiles of nearly equal width, whole vectors each (the last tile may end inside
// its last vector at c1): a ragged last tile would cost a whole step's fixed work for a few columns. Tile i is
// columns start(i) .. start(i + 1) (clipped at c1), at most `widest` wide.
template <int V>
struct Tiling {
    int c0, count, vectors, widest;
    int start(int i) const { return c0 + (int)((int64_t)vectors * i / count) * V; }
};

// Tiles at most MAX_TILE_BYTES per row and with local buffers (about 11 H W values) within ~512 KiB. Measured at the
// tutorial shape (400 columns a thread): 5 tiles of 80 ran 6-9 % faster than 240 + 160 or 6 x 64 + 16, and faster
// than uniform tiles of 96, 112 or 160 with their ragged ends.
constexpr int MAX_TILE_BYTES = 512;

template <typename S, int V>
Tiling<V> tiling(int c0, int c1, int H) {
    const int budget = (int)(524288 / (11 * (int64_t)H * sizeof(S))) / V;  // vectors per row
    const int most = std::max(2, std::min(budget, MAX_TILE_BYTES / (int)sizeof(S) / V));
    const int vectors = (c1 - c0 + V - 1) / V;
    const int count = std::max(1, (vectors + most - 1) / most);
    return Tiling<V>{c0, count, vectors, (vectors + count - 1) / count * V};
}

template <typename S> inline S sigmoid(S a) { return S(1) / (S(1) + std::exp(-a)); }
template <typename S> inline S tanh_(S a) { return S(1) - S(2) / (std::exp(S(2) * a) + S(1)); }  // vectorizes

// The elementwise parts, one simple loop each over n = rows * V values, restrict pointers so that they vectorize.
template <typename S> void sigmoid_all(int n, S* __restrict__ a) { for (int e = 0; e < n; ++e) a[e] = sigmoid(a[e]); }
template <typename S> void tanh_all(int n, S* __restrict__ a) { for (int e = 0; e < n; ++e) a[e] = tanh_(a[e]); }
// candidate, reset_after: a = tanh(a + r * hn)
template <typename S> void candidate_after(int n, S* __restrict__ a, const S* __restrict__ r, const S* __restrict__ hn) {
    for (int e = 0; e < n; ++e) a[e] = tanh_(a[e] + r[e] * hn[e]);
}
template <typename S> void multiply(int n, const S* __restrict__ a, const S* __restrict__ b, S* __restrict__ out) {
    for (int e = 0; e < n; ++e) out[e] = a[e] * b[e];
}
// h' = h + z (h~ - h), in place on h
template <typename S> void update(int n, S* __restrict__ h, const S* __restrict__ z, const S* __restrict__ c) {
    for (int e = 0; e < n; ++e) h[e] += z[e] * (c[e] - h[e]);
}
struct Strides { int64_t f, t; };  // row stride and step stride of a (features, steps, batch) buffer

template <typename S, int V>
void forward_columns(int T, int H, int c0, int c1, bool reset_after, bool reverse, bool training,
                     int I, const S* x, const int64_t* xs, const S* w_ih, const S* bias, const S* w_hh,
                     const S* b_hn, S* hidden, Strides hs, S* gates, Strides gs, S* rh, Strides rs) {
    const Tiling<V> tiles = tiling<S, V>(c0, c1, H + (I + 10) / 11);
    const int most = H * tiles.widest;
    std::vector<S> h(most), acc(3 * most), cand(most), xl((int64_t)I * tiles.widest);
    for (int tile = 0; tile < tiles.count; ++tile) {
        const int c = tiles.start(tile);
        const Tile<S, V> K{tiles.start(tile + 1) - c};
        const int width = std::min(K.W, c1 - c), n = H * K.W;
        S* z = acc.data(); S* r = z + n; S* hn = r + n;  // hn: reset_after's W_hn h + b_hn; else the n pre-activation
        const int first = reverse ? T - 1 : 0, step = reverse ? -1 : 1, out_offset = reverse ? 0 : 1;
        K.gather(H, hidden + (int64_t)(first + 1 - out_offset) * hs.t + c, hs.f, width, h.data());
        for (int i = 0; i < T; ++i) {
            const int t = first + step * i;
            // x_t of these columns: (I, W) from x (T, B, I) with any strides
            K.gather_input(I, x + t * xs[0] + (int64_t)c * xs[1], xs[1], xs[2], width, xl.data());
            K.fill(3 * H, bias, z);                                          // b_i· (+ b_h· where it adds)
            if (reset_after) {
                K.gemm(2 * H, I, w_ih, xl.data(), z);                       // W_iz x, W_ir x
                K.fill(H, bias + 2 * H, cand.data());
                K.gemm(H, I, w_ih + 2 * H * I, xl.data(), cand.data());      // W_in x + b_in
                K.fill(H, b_hn, hn);
                K.gemm(3 * H, H, w_hh, h.data(), z);                       // + W_h· h for z, r and hn
                sigmoid_all(2 * n, z);                                       // z, r = σ(...)
                candidate_after(n, cand.data(), r, hn);                      // h~ = tanh(... + r * hn)
            } else {
                K.gemm(3 * H, I, w_ih, xl.data(), z);                       // W_i· x + b_i· + b_h·
                K.gemm(2 * H, H, w_hh, h.data(), z);                       // + W_hz h, W_hr h
                sigmoid_all(2 * n, z);                                       // z, r = σ(...)
                multiply(n, r, h.data(), cand.data());                       // r * h
                if (rh) K.scatter(H, cand.data(), rh + t * rs.t + c, rs.f, width);
                K.gemm(H, H, w_hh + 2 * H * H, cand.data(), hn);           // + W_hn (r * h)
                std::copy(hn, hn + n, cand.data());
                tanh_all(n, cand.data());                                    // h~ = tanh(...)
            }
            update(n, h.data(), z, cand.data());                             // h' = h + z (h~ - h)
            K.scatter(H, h.data(), hidden + (int64_t)(t + out_offset) * hs.t + c, hs.f, width);
            if (training) {  // saved gates: z, r, h~ (, hn)
                S* g_t = gates + t * gs.t + c;
                K.scatter_stream(2 * H, z, g_t, gs.f, width);
                K.scatter_stream(H, cand.data(), g_t + 2 * H * gs.f, gs.f, width);
                if (reset_after) K.scatter_stream(H, hn, g_t + 3 * H * gs.f, gs.f, width);
            }
        }
    }
    stream_fence();
}

// Backward elementwise, one loop each, straight from the saved z, r, h~ (c), h_{t-1} (h) and, for reset_after, hn:
// the factors Kd = 1 - z, Kz = (h~ - h) z (1 - z), Kn = z (1 - h~^2), Kr = (hn or h) r (1 - r) of `grunet.fast` are
// formed in registers, never stored.
// reset_after: dz, dr, dhn, dn from dh; next += dh Kd
template <typename S> void grads_after(int n, const S* __restrict__ dh, const S* __restrict__ z, const S* __restrict__ r,
                                       const S* __restrict__ c, const S* __restrict__ h, const S* __restrict__ hn,
                                       S* __restrict__ dz, S* __restrict__ dr, S* __restrict__ dhn,
                                       S* __restrict__ dn, S* __restrict__ next) {
    for (int e = 0; e < n; ++e) {
        const S x = dh[e], zz = z[e], r_ = r[e], cc = c[e], an = x * (zz * (S(1) - cc * cc));
        dz[e] = x * ((cc - h[e]) * zz * (S(1) - zz)); dn[e] = an; dhn[e] = an * r_;
        dr[e] = an * (hn[e] * r_ * (S(1) - r_)); next[e] += x * (S(1) - zz);
    }
}
// reset_after=False, before the W_hn^T product: dz, dn; next += dh Kd; g = 0 (it receives W_hn^T dn)
template <typename S> void grads_before(int n, const S* __restrict__ dh, const S* __restrict__ z, const S* __restrict__ c,
                                        const S* __restrict__ h, S* __restrict__ dz, S* __restrict__ dn,
                                        S* __restrict__ next, S* __restrict__ g) {
    for (int e = 0; e < n; ++e) {
        const S x = dh[e], zz = z[e], cc = c[e];
        dz[e] = x * ((cc - h[e]) * zz * (S(1) - zz)); dn[e] = x * (zz * (S(1) - cc * cc)); next[e] += x * (S(1) - zz);
        g[e] = S(0);
    }
}
// and after it, from g = W_hn^T dn (the gradient of r * h): dr = g Kr; next += g r
template <typename S> void grads_via_rh(int n, const S* __restrict__ g, const S* __restrict__ r, const S* __restrict__ h,
                                        S* __restrict__ dr, S* __restrict__ next) {
    for (int e = 0; e < n; ++e) {
        const S r_ = r[e];
        dr[e] = g[e] * (h[e] * r_ * (S(1) - r_)); next[e] += g[e] * r_;
    }
}

// Weight and input gradients inside the backward (small H): each thread sums its columns' share of dW_hh, dW_ih and
// the bias gradients as V partial sums per weight (one SIMD vector, no reduction per step), summed in the end.
template <typename S> struct Accumulate {
    int I; const S* x; const int64_t* xs;  // the layer's input (T, B, I), any strides
    const S* w_ih_t;                       // (I, 3H) = W_ih^T, columns z, r, n
    S* dx; Strides dxs;                    // the input's gradient, (I, T, B) with unit batch stride, or null
    S* partial;  // this thread's sums: dW_hh (3H, H) rows (n, z, r) or (z, r, n), dW_ih (3H, I) rows (z, r, n), bias
                 // (4H) rows (hn, z, r, n) or (3H) rows (z, r, n), V lanes each; null: write the gate gradients
};

// Local gate gradient rows: reset_after (dhn, dz, dr, dn), w_t = [W_hn; W_hz; W_hr]^T (H, 3H); else (dz, dr, dn),
// w_t = [W_hz; W_hr]^T (H, 2H). Without acc.partial, these rows are written to grads in that order.
template <typename S, int V>
void backward_columns(int T, int H, int c0, int c1, bool reset_after, bool reverse,
                      const S* gates, Strides fs, const S* hidden, Strides hs, const S* dout, const int64_t* ds,
                      const S* dh_n, const int64_t* dns,
                      const S* w_t, const S* w_hn_t, S* grads, Strides gs, S* dh0, int64_t dh0_row,
                      const Accumulate<S>& acc) {
    const int I = acc.I;
    const Tiling<V> tiles = tiling<S, V>(c0, c1, acc.partial ? H + (2 * I + 10) / 11 : H);
    const int most = H * tiles.widest;
    std::vector<S> dh(most), saved(5 * most), d(4 * most), next(most), g(most);
    std::vector<S> rhl(acc.partial ? most : 0), xl(acc.partial ? (int64_t)I * tiles.widest : 0);
    std::vector<S> dxl(acc.dx ? (int64_t)I * tiles.widest : 0);
    S* const pw_hh = acc.partial;
    S* const pw_ih = pw_hh ? pw_hh + (int64_t)3 * H * H * V : nullptr;
    S* const pb = pw_ih ? pw_ih + (int64_t)3 * H * I * V : nullptr;
    const int prev_offset = reverse ? 1 : 0;  // h_{t-1} of step t is hidden[t + prev_offset]
    const int first = reverse ? 0 : T - 1, step = reverse ? 1 : -1;
    for (int tile = 0; tile < tiles.count; ++tile) {
        const int c = tiles.start(tile);
        const Tile<S, V> K{tiles.start(tile + 1) - c};
        const int width = std::min(K.W, c1 - c), n = H * K.W;
        const int saved_rows = reset_after ? 4 * H : 3 * H;  // z, r, h~ (, hn)
        // a full tile reads the saved gates in place (rows fs.f apart); a ragged one gathers them, zero padded
        const bool direct = width == K.W;
        const int64_t row = direct ? fs.f : K.W;
        S* sz = saved.data(); S* sh = sz + 4 * n;  // the gathered saved rows (ragged tiles); h_{t-1}, always gathered
        // dh at the last step: the output's gradient there plus h_n's ((T, B, H) and (B, H), any strides)
        K.gather_strided(H, dout, first * ds[0] + c * ds[1], ds[1], ds[2], width, dh.data());
        if (dh_n) {
            K.gather_strided(H, dh_n, c * dns[0], dns[0], dns[1], width, next.data());
            for (int e = 0; e < n; ++e) dh[e] += next[e];
        }
        for (int i = 0; i < T; ++i) {
            const int t = first + step * i;
            if (i + 1 < T) {  // the next step's saved rows: from memory (written with non-temporal stores)
                const S* gn = gates + (t + step) * fs.t + c;
                const S* hp = hidden + (int64_t)(t + step + prev_offset) * hs.t + c;
                for (int f = 0; f < saved_rows; ++f)
                    for (int j = 0; j < width; j += 64 / (int)sizeof(S)) __builtin_prefetch(gn + f * fs.f + j, 0, 2);
                for (int f = 0; f < H; ++f)
                    for (int j = 0; j < width; j += 64 / (int)sizeof(S)) __builtin_prefetch(hp + f * hs.f + j, 0, 2);
            }
            if (!direct) K.gather(saved_rows, gates + t * fs.t + c, fs.f, width, sz);
            const S* zs = direct ? gates + t * fs.t + c : sz;
            const S* rs = zs + H * row; const S* cs = rs + H * row; const S* hns = cs + H * row;  // r, h~, hn rows
            K.gather(H, hidden + (int64_t)(t + prev_offset) * hs.t + c, hs.f, width, sh);
            if (i + 1 < T) K.gather_strided(H, dout, (t + step) * ds[0] + c * ds[1], ds[1], ds[2], width, next.data());
            else std::fill(next.begin(), next.begin() + n, S(0));
            S* gt = grads ? grads + t * gs.t + c : nullptr;
            if (reset_after) {
                S* dhn = d.data(); S* dz = dhn + n; S* dr = dz + n; S* dn = dr + n;
                for (int f = 0; f < H; ++f) {
                    const int64_t l = (int64_t)f * K.W, o = f * row;
                    grads_after(K.W, dh.data() + l, zs + o, rs + o, cs + o, sh + l, hns + o, dz + l, dr + l,
                                dhn + l, dn + l, next.data() + l);
                }
                K.gemm(H, 3 * H, w_t, d.data(), next.data());  // + W_hn^T dhn + W_hz^T dz + W_hr^T dr
                if (gt) K.scatter(4 * H, d.data(), gt, gs.f, width);
            } else {
                S* dz = d.data(); S* dr = dz + n; S* dn = dr + n;
                for (int f = 0; f < H; ++f) {
                    const int64_t l = (int64_t)f * K.W, o = f * row;
                    grads_before(K.W, dh.data() + l, zs + o, cs + o, sh + l, dz + l, dn + l, next.data() + l,
                                 g.data() + l);
                }
                K.gemm(H, H, w_hn_t, dn, g.data());             // g = W_hn^T dn: the gradient of r * h
                for (int f = 0; f < H; ++f) {
                    const int64_t l = (int64_t)f * K.W;
                    grads_via_rh(K.W, g.data() + l, rs + f * row, sh + l, dr + l, next.data() + l);
                }
                K.gemm(H, 2 * H, w_t, d.data(), next.data());  // + W_hz^T dz + W_hr^T dr (w_t is (H, 2H))
                if (gt) K.scatter(3 * H, d.data(), gt, gs.f, width);
            }
            if (acc.partial) {
                const S* dg = reset_after ? d.data() + n : d.data();  // dz, dr, dn
                if (reset_after) {
                    K.outer(3 * H, H, width, d.data(), sh, pw_hh);  // (dhn, dz, dr) h_{t-1}^T
                } else {
                    K.outer(2 * H, H, width, d.data(), sh, pw_hh);  // (dz, dr) h_{t-1}^T
                    for (int f = 0; f < H; ++f)
                        multiply(K.W, rs + f * row, sh + (int64_t)f * K.W, rhl.data() + (int64_t)f * K.W);
                    K.outer(H, H, width, d.data() + 2 * n, rhl.data(), pw_hh + (int64_t)2 * H * H * V);  // dn (r h)^T
                }
                K.gather_input(I, acc.x + t * acc.xs[0] + (int64_t)c * acc.xs[1], acc.xs[1], acc.xs[2], width,
                               xl.data());
                K.outer(3 * H, I, width, dg, xl.data(), pw_ih);                // (dz, dr, dn) x_t^T
                K.row_sums(reset_after ? 4 * H : 3 * H, width, d.data(), pb);  // bias gradients
                if (acc.dx) {                                                  // dx_t = W_ih^T (dz, dr, dn)
                    std::fill(dxl.begin(), dxl.begin() + (int64_t)I * K.W, S(0));
                    K.gemm(I, 3 * H, acc.w_ih_t, dg, dxl.data());
                    K.scatter(I, dxl.data(), acc.dx + t * acc.dxs.t + c, acc.dxs.f, width);
                }
            }
            std::swap(dh, next);
        }
        K.scatter(H, dh.data(), dh0 + c, dh0_row, width);
    }
}

template <typename F>
void run_threads(int batch, int threads, int V, F&& fn) {
    const int tiles = (batch + V - 1) / V;
    threads = std::max(1, std::min(threads, tiles));
    if (threads == 1) { fn(0, batch, 0); return; }
#ifdef _OPENMP
    // built with -fopenmp: the process's libgomp, i.e. torch's own (already spinning) worker threads
    #pragma omp parallel num_threads(threads)
    {
        const int i = omp_get_thread_num(), count = omp_get_num_threads();
        const int c0 = std::min(batch, (int)((int64_t)tiles * i / count) * V);
        const int c1 = std::min(batch, (int)((int64_t)tiles * (i + 1) / count) * V);
        if (c0 < c1) fn(c0, c1, i);
    }
    return;
#endif
    std::vector<std::thread> pool;  // threads - 1 helpers; the calling thread takes the first slice
    for (int i = 1; i < threads; ++i) {
        const int c0 = std::min(batch, (int)((int64_t)tiles * i / threads) * V);
        const int c1 = std::min(batch, (int)((int64_t)tiles * (i + 1) / threads) * V);
        if (c0 < c1) pool.emplace_back([&fn, c0, c1, i] { fn(c0, c1, i); });
    }
    fn(0, std::min(batch, (int)((int64_t)tiles / threads) * V), 0);
    for (auto& th : pool) th.join();
}

template <typename S, int V>
void forward_impl(const int64_t* a, const void* const* p) {
    const int T = a[0], B = a[1], H = a[2], reset_after = a[3], reverse = a[4], training = a[5], threads = a[6];
    const int I = a[7];
    const int64_t* xs = a + 8;  // x strides: step, batch, feature
    const Strides hs{a[11], a[12]}, fs{a[13], a[14]}, rs{a[15], a[16]};
    run_threads(B, threads, V, [&](int c0, int c1, int) {
        forward_columns<S, V>(T, H, c0, c1, reset_after, reverse, training, I, (const S*)p[0], xs, (const S*)p[1],
                              (const S*)p[2], (const S*)p[3], (const S*)p[4], (S*)p[5], hs, (S*)p[6], fs,
                              (S*)p[7], rs);
    });
}

template <typename S, int V>
void backward_impl(const int64_t* a, const void* const* p) {
    const int T = a[0], B = a[1], H = a[2], reset_after = a[3], reverse = a[4], threads = a[6];
    const Strides fs{a[7], a[8]}, hs{a[9], a[10]}, gs{a[11], a[12]};
    const int64_t dh0_row = a[13];
    const int64_t* ds = a + 14;   // output gradient strides: step, batch, feature
    const int64_t* dns = a + 17;  // h_n gradient strides: batch, feature
    const bool accumulate = a[19];
    const int I = a[20];
    const int64_t* xs = a + 21;   // input strides: step, batch, feature
    const Strides dxs{a[24], a[25]};
    const int slices = std::max(1, std::min(threads, (B + V - 1) / V));
    const int64_t per = accumulate ? ((int64_t)3 * H * H + (int64_t)3 * H * I + 4 * H) * V : 0;
    std::vector<S> partials(per * slices, S(0));
    run_threads(B, threads, V, [&](int c0, int c1, int index) {
        const Accumulate<S> acc{I, (const S*)p[8], xs, (const S*)p[9], (S*)p[10], dxs,
                                accumulate ? partials.data() + per * index : nullptr};
        backward_columns<S, V>(T, H, c0, c1, reset_after, reverse, (const S*)p[0], fs, (const S*)p[1], hs,
                               (const S*)p[2], ds, (const S*)p[3], dns, (const S*)p[4], (const S*)p[5], (S*)p[6],
                               gs, (S*)p[7], dh0_row, acc);
    });
    if (!accumulate) return;
    // each weight: the sum of its V lanes, slice by slice in order (deterministic)
    S* const outs[3] = {(S*)p[11], (S*)p[12], (S*)p[13]};
    const int64_t counts[3] = {(int64_t)3 * H * H, (int64_t)3 * H * I, (int64_t)(reset_after ? 4 : 3) * H};
    const int64_t bases[3] = {0, (int64_t)3 * H * H, (int64_t)3 * H * H + (int64_t)3 * H * I};
    for (int b = 0; b < 3; ++b) {
        for (int64_t k = 0; k < counts[b]; ++k) {
            S total = 0;
            for (int slice = 0; slice < slices; ++slice) {
                const S* lanes = partials.data() + per * slice + (bases[b] + k) * V;
                S sum = 0;
                for (int l = 0; l < V; ++l) sum += lanes[l];
                total += sum;
            }
            outs[b][k] = total;
        }
    }
}

}  // namespace

extern "C" {
// a: int64 sizes, flags and strides (see grunet/native.py); p: data pointers. dtype 0 float32, 1 float64.
int grunet_forward(int dtype, const int64_t* a, const void* const* p) {
    if (dtype == 0) forward_impl<float, 16>(a, p); else forward_impl<double, 8>(a, p);
    return 0;
}
int grunet_backward(int dtype, const int64_t* a, const void* const* p) {
    if (dtype == 0) backward_impl<float, 16>(a, p); else backward_impl<double, 8>(a, p);
    return 0;
}
}
"""

_library: ctypes.CDLL | None = None
_tried = False


def _build(source: str = _SOURCE) -> ctypes.CDLL | None:
    """Compiles `source` once per (source, machine, compiler) into the user cache and loads it; None on failure.
    (Another source: `benchmarks/ab_native.py` times two versions of the loop against each other.)

    First with OpenMP (the threads then come from the libgomp that torch has already loaded, the pool that torch's
    own ops use), else with std::thread.
    """
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        return None
    # -ffast-math for the compile step only: linking a shared library with it would add crtfastmath.o, which sets
    # flush-to-zero for the whole process at load time and so changes every float computation of the user's program
    base = ["-O3", "-march=native", "-ffast-math", "-std=c++17", "-fPIC", "-pthread"]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "grunet"
    for flags in (base + ["-fopenmp"], base):
        key = hashlib.sha256("\n".join([source, compiler, *flags, platform.machine(), platform.processor(),
                                         platform.node()]).encode()).hexdigest()[:16]
        library = cache / f"gru_native_{key}.so"
        if not library.exists():
            cache.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cache) as build:
                code = Path(build) / "gru_native.cpp"
                code.write_text(source)
                target, objects = Path(build) / library.name, Path(build) / "gru_native.o"
                link = ["-shared", "-pthread"] + [flag for flag in flags if flag == "-fopenmp"]
                result = subprocess.run([compiler, *flags, "-c", str(code), "-o", str(objects)],
                                        capture_output=True, timeout=180)
                if result.returncode == 0:
                    result = subprocess.run([compiler, *link, str(objects), "-o", str(target)], capture_output=True,
                                            timeout=60)
                if result.returncode != 0:
                    continue
                os.replace(target, library)  # atomic: concurrent builders end with the same file
        try:
            loaded = ctypes.CDLL(str(library))
        except OSError:
            continue
        for name in ("grunet_forward", "grunet_backward"):
            function = getattr(loaded, name)
            function.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_void_p)]
            function.restype = ctypes.c_int
        return loaded
    return None


def _load() -> ctypes.CDLL | None:
    global _library, _tried
    if not _tried:
        _tried = True
        if os.environ.get("GRUNET_NATIVE", "1") != "0":
            try:
                _library = _build()
            except (OSError, subprocess.SubprocessError):
                _library = None
    return _library


def available() -> bool:
    """Whether the compiled loop is usable here (compiles it on the first call)."""
    return _load() is not None


def supports(x: Tensor, hidden_size: int) -> bool:
    """Whether `grunet.fast` should use the compiled loop for this input."""
    return (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and hidden_size <= MAX_HIDDEN
            and available())


# measured up to 256 (faster than the pure-torch loop there, see benchmarks/NOTES.md); beyond, untested
MAX_HIDDEN = 256


def _call(name: str, dtype: torch.dtype, batch: int, sizes: list[int], tensors: list[Tensor | None]) -> None:
    args = (ctypes.c_int64 * len(sizes))(*sizes)
    pointers = (ctypes.c_void_p * len(tensors))(*[0 if t is None else t.data_ptr() for t in tensors])
    getattr(_load(), name)(0 if dtype == torch.float32 else 1, args, pointers)


def _strides(tensor: Tensor | None) -> list[int]:
    """Row and step strides of a (features, steps, batch) buffer with unit batch stride."""
    if tensor is None:
        return [0, 0]
    assert tensor.stride(2) == 1 or tensor.shape[2] == 1
    return [tensor.stride(0), tensor.stride(1)]


def _threads(steps: int, batch: int, hidden_size: int, input_size: int) -> int:
    """torch's thread count, or 1 where the work is too small to pay for starting threads (~50 µs)."""
    return 1 if steps * batch * hidden_size * (hidden_size + input_size) < 2_000_000 else torch.get_num_threads()


def forward(x: Tensor, weight_ih: Tensor, bias: Tensor, weight_hh: Tensor, bias_hn: Tensor, hidden: Tensor,
            gates: Tensor | None, rh: Tensor | None, reset_after: bool, reverse: bool) -> None:
    """Runs the recurrence in place, the input projection included. x (T, B, I), any strides; weight_ih (3H, I)
    and weight_hh (3H, H) rows z, r, n, contiguous; bias (3H,) what adds to W_i· x (reset_after: b_iz + b_hz,
    b_ir + b_hr, b_in; else all of b_ih + b_hh); bias_hn (H,) (reset_after); hidden (H, T+1, B) with h0 in
    place; when training, gates (z, r, h~ and for reset_after hn: 4H or 3H, T, B) and rh (H, T, B) are filled."""
    steps, batch, input_size = x.shape
    H = weight_hh.shape[1]
    training = gates is not None
    sizes = [steps, batch, H, int(reset_after), int(reverse), int(training), _threads(steps, batch, H, input_size),
             input_size, *x.stride(), *_strides(hidden), *_strides(gates), *_strides(rh)]
    _call("grunet_forward", x.dtype, batch, sizes, [x, weight_ih, bias, weight_hh, bias_hn, hidden, gates, rh])


# The backward sums the weight and bias gradients itself, as per-thread partial sums of one 64-byte SIMD vector per
# weight (3H (H + I) + 4H of them), when these stay in the L2 cache (here at most 4096 vectors, 256 KiB): tutorial
# size, H = 20. Beyond, the partial sums thrash the cache (H = 64, I = 8: 880 KiB, train 20 % slower than below), and
# the backward writes the gate gradients for single GEMMs over all T·B columns instead (`grunet.fast`).
ACCUMULATE_MAX_WEIGHTS = 4096


def accumulates(hidden_size: int, input_size: int) -> bool:
    """Whether `backward` computes the weight, bias and input gradients itself (see `ACCUMULATE_MAX_WEIGHTS`)."""
    return 3 * hidden_size * (hidden_size + input_size) + 4 * hidden_size <= ACCUMULATE_MAX_WEIGHTS


def backward(gates: Tensor, hidden: Tensor, grad_output: Tensor | None, grad_h_n: Tensor | None, weight_t: Tensor,
             weight_hn_t: Tensor | None, grads: Tensor | None, grad_h0: Tensor, reset_after: bool, reverse: bool,
             x: Tensor | None = None, weight_ih_t: Tensor | None = None, grad_x: Tensor | None = None,
             grad_w_hh: Tensor | None = None, grad_w_ih: Tensor | None = None, grad_bias: Tensor | None = None) -> None:
    """Backward through time. gates (4H or 3H, T, B) and hidden (H, T+1, B) from `forward`; grad_output
    (T, B, H) and grad_h_n (B, H), any strides, or None; weight_t (H, 3H) = [W_hn; W_hz; W_hr]^T for
    reset_after, else (H, 2H) = [W_hz; W_hr]^T, and weight_hn_t (H, H) = W_hn^T; fills grad_h0 (H, B) and either
    grads (4H or 3H, T, B) rows (dhn,) dz, dr, dn, or (grads None: `accumulates`) from x (T, B, I), any strides,
    and weight_ih_t (I, 3H) = W_ih^T (columns z, r, n): grad_w_hh (3H, H) rows (n, z, r) for reset_after, else
    (z, r, n); grad_w_ih (3H, I) rows (z, r, n); grad_bias (4H,) rows (hn, z, r, n) or (3H,) rows (z, r, n), sums of
    the gate gradients; grad_x (I, T, B) with unit batch stride, when given."""
    steps, batch = gates.shape[1:]
    H = hidden.shape[0]
    accumulate = grads is None
    input_size = x.shape[2] if accumulate else 0
    sizes = [steps, batch, H, int(reset_after), int(reverse), 1, _threads(steps, batch, H, H), *_strides(gates),
             *_strides(hidden), *_strides(grads), grad_h0.stride(0),
             *(grad_output.stride() if grad_output is not None else (0, 0, 0)),
             *(grad_h_n.stride() if grad_h_n is not None else (0, 0)),
             int(accumulate), input_size, *(x.stride() if accumulate else (0, 0, 0)), *_strides(grad_x)]
    _call("grunet_backward", gates.dtype, batch, sizes, [gates, hidden, grad_output, grad_h_n, weight_t, weight_hn_t,
                                                         grads, grad_h0, x, weight_ih_t, grad_x, grad_w_hh, grad_w_ih,
                                                         grad_bias])
