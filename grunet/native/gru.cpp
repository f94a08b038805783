// grunet's compiled GRU recurrence (loaded by grunet/native/library.py with ctypes; see grunet/native/__init__.py).
// Buffers are (features, steps, batch) with unit batch stride; rows are strided.
// Gate order z, r, n. Update h' = h + z (h~ - h) (grunet's z multiplies the candidate).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

// glibc declares its vector exp (libmvec) only under -ffast-math's __FAST_MATH__, which -fno-finite-math-only
// (NaN kept as in torch) clears: declared here too, so that the elementwise loops still vectorize.
#if defined(__GLIBC__) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__FAST_MATH__)
extern "C" {
__attribute__((__simd__("notinbranch"))) float expf(float) noexcept;
__attribute__((__simd__("notinbranch"))) double exp(double) noexcept;
}
#endif
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

// The loader passes -DGRUNET_BUILD_KEY="<hash of this source, the compiler and its flags>" and checks it after loading.
#ifndef GRUNET_BUILD_KEY
#define GRUNET_BUILD_KEY ""
#endif

// The arguments of one call. Mirrored field by field, in this order, by the ctypes.Structure of the same name in
// grunet/native/library.py; the loader refuses a library whose sizeof differs (grunet_args_size). Sizes and flags
// are int64 and strides are in elements, so that no field has padding before it.
extern "C" {
struct ForwardArgs {
    int64_t dtype;                        // 0 float32, 1 float64
    int64_t steps, batch, hidden_size, input_size;
    int64_t reset_after, reverse, training;
    int64_t threads;                      // at most this many threads (grunet.native.threads.threads_for)
    int64_t x_strides[3];                 // x (T, B, I): step, batch, feature
    int64_t hidden_strides[2];            // (H, T+1, B) buffers: row, step
    int64_t gates_strides[2];             // (4H or 3H, T, B)
    int64_t rh_strides[2];                // (H, T, B)
    const void* x;                        // (T, B, I), any strides
    const void* weight_ih;                // (3H, I) rows z, r, n
    const void* bias;                     // (3H,) what adds to W_i. x
    const void* weight_hh;                // (3H, H) rows z, r, n
    const void* bias_hn;                  // (H,) b_hn (reset_after)
    void* hidden;                         // (H, T+1, B), h0 in place; every h_t written
    void* gates;                          // saved z, r, h~ (, hn) when training, else null
    void* rh;                             // r * h_{t-1} for dW_hn, or null
};

struct BackwardArgs {
    int64_t dtype;
    int64_t steps, batch, hidden_size, input_size;
    int64_t reset_after, reverse;
    int64_t threads;
    int64_t accumulate;                   // 1: weight, bias and input gradients summed here (small H)
    int64_t gates_strides[2];             // row, step
    int64_t hidden_strides[2];
    int64_t grads_strides[2];
    int64_t grad_h0_row;                  // grad_h0 (H, B): row stride
    int64_t grad_output_strides[3];       // (T, B, H): step, batch, feature
    int64_t grad_h_n_strides[2];          // (B, H): batch, feature
    int64_t x_strides[3];                 // (T, B, I): step, batch, feature
    int64_t grad_x_strides[2];            // (I, T, B): row, step
    const void* gates;                    // from the forward
    const void* hidden;
    const void* grad_output;              // or null
    const void* grad_h_n;                 // or null
    const void* weight_t;                 // (H, 3H) = [W_hn; W_hz; W_hr]^T (reset_after), else (H, 2H) = [W_hz; W_hr]^T
    const void* weight_hn_t;              // (H, H) = W_hn^T (reset_after=False)
    void* grads;                          // gate gradients (4H or 3H, T, B), when not accumulating
    void* grad_h0;                        // (H, B)
    const void* x;                        // accumulating: the layer's input
    const void* weight_ih_t;              // (I, 3H) = W_ih^T, columns z, r, n
    void* grad_x;                         // (I, T, B), or null
    void* grad_w_hh;                      // (3H, H) rows (n, z, r) for reset_after, else (z, r, n)
    void* grad_w_ih;                      // (3H, I) rows z, r, n
    void* grad_bias;                      // (4H,) rows (hn, z, r, n) or (3H,) rows (z, r, n)
};
}

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

// The batch's columns as `count` tiles of nearly equal width, whole vectors each (the last tile may end inside its last
// vector at the batch's end): a ragged last tile would cost a whole step's fixed work for a few columns. Tile i is
// columns start(i) .. start(i + 1) (clipped at the batch), at most `widest` wide. The tiles depend on the shape
// alone, never on the thread count: each column's arithmetic, and the order in which the backward sums the tiles'
// weight gradients, are then the same for any number of threads (bitwise equal results).
template <int V>
struct Tiling {
    int count, vectors, widest;
    int start(int i) const { return (int)((int64_t)vectors * i / count) * V; }
};

// Tiles at most MAX_TILE_BYTES per row and with local buffers (about 11 H W values) within ~512 KiB. Measured at the
// tutorial shape (400 columns a thread): 5 tiles of 80 ran 6-9 % faster than 240 + 160 or 6 x 64 + 16, and faster
// than uniform tiles of 96, 112 or 160 with their ragged ends.
constexpr int MAX_TILE_BYTES = 512;

// From this hidden size on, a batch of 2 or 3 vectors is cut into two tiles of one or two vectors (else one tile, a
// single thread): a step of a one-vector tile is still 3 H^2 V multiply-adds, millions, and two threads then share a
// mini-batch of 32 float32 columns. Measured at H = 1024, batch 32, the train call (benchmarks/NOTES.md, "Wide
// layers"): two threads on two 16-column tiles took 0.61-0.73 of the time of one thread on one 32-column tile; one
// thread on the two tiles, 1.07.
// `grunet.native.threads.WIDE_HIDDEN` mirrors it (the thread rule lets a thread take 16 columns from there on).
constexpr int WIDE_HIDDEN = 512;

// H: the rows a tile's local buffers hold per column (about; the layer's hidden size plus a share for its input)
template <typename S, int V>
Tiling<V> tiling(int batch, int H, bool wide) {
    const int budget = (int)(524288 / (11 * (int64_t)H * sizeof(S))) / V;  // vectors per row
    const int most = std::max(2, std::min(budget, MAX_TILE_BYTES / (int)sizeof(S) / V));
    const int vectors = (batch + V - 1) / V;
    int count = std::max(1, (vectors + most - 1) / most);
    // from 4 vectors on (2 for wide layers), an even count of at least 2: two threads then get equal shares
    if (vectors >= (wide ? 2 : 4)) count = std::max(2, count + (count & 1));
    return Tiling<V>{count, vectors, (vectors + count - 1) / count * V};
}

// Hands out tiles 0 .. count - 1, each to the first thread that asks: a thread slowed down (by another program on
// its core) takes fewer tiles instead of holding up the others at the end of the call, as fixed halves would.
struct TileQueue {
    std::atomic<int> next{0};
    int count;
    explicit TileQueue(int count) : count(count) {}
    bool take(int& tile) { tile = next.fetch_add(1, std::memory_order_relaxed); return tile < count; }
};

// fn() on `threads` threads at once (each takes tiles from a TileQueue), or on the calling thread alone.
template <typename F>
void in_parallel(int threads, F&& fn) {
    if (threads <= 1) { fn(); return; }
#ifdef _OPENMP
    // built with -fopenmp: the process's libgomp, i.e. torch's own worker threads (a pool of our own would compete
    // with them for the cores while they wait for torch's next op)
    #pragma omp parallel num_threads(threads)
    fn();
#else
    std::vector<std::thread> helpers;
    for (int i = 1; i < threads; ++i) helpers.emplace_back([&fn] { fn(); });
    fn();
    for (auto& helper : helpers) helper.join();
#endif
}

// exp's argument is held below where it overflows (88 for float, 709 for double): built with -ffast-math, the
// vectorized division is a reciprocal estimate refined by a Newton step, which turns 1 / inf into NaN (0 * inf), so a
// float32 pre-activation above about 44 (tanh) or below about -88 (sigmoid) gave NaN where the result is 1, -1 or 0.
// Held there, they differ from the exact values by less than 1e-38 (float) or 1e-307 (double).
template <typename S> constexpr S EXP_MAX = sizeof(S) == 4 ? S(88) : S(709);
template <typename S> inline S exp_(S a) { return std::exp(std::min(a, EXP_MAX<S>)); }
template <typename S> inline S sigmoid(S a) { return S(1) / (S(1) + exp_(-a)); }
template <typename S> inline S tanh_(S a) { return S(1) - S(2) / (exp_(S(2) * a) + S(1)); }  // vectorizes

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
void forward_impl(const ForwardArgs& a) {
    const int T = a.steps, B = a.batch, H = a.hidden_size, I = a.input_size;
    const bool reset_after = a.reset_after, reverse = a.reverse, training = a.training;
    const int64_t* xs = a.x_strides;
    const Strides hs{a.hidden_strides[0], a.hidden_strides[1]}, gs{a.gates_strides[0], a.gates_strides[1]};
    const Strides rs{a.rh_strides[0], a.rh_strides[1]};
    const S* x = (const S*)a.x; const S* w_ih = (const S*)a.weight_ih; const S* bias = (const S*)a.bias;
    const S* w_hh = (const S*)a.weight_hh; const S* b_hn = (const S*)a.bias_hn;
    S* hidden = (S*)a.hidden; S* gates = (S*)a.gates; S* rh = (S*)a.rh;
    const Tiling<V> tiles = tiling<S, V>(B, H + (I + 10) / 11, H >= WIDE_HIDDEN);
    const int most = H * tiles.widest;
    TileQueue queue(tiles.count);
    in_parallel(std::min<int64_t>(a.threads, tiles.count), [&] {
        std::vector<S> h(most), acc(3 * most), cand(most), xl((int64_t)I * tiles.widest);
        for (int tile; queue.take(tile);) {
            const int c = tiles.start(tile);
            const Tile<S, V> K{tiles.start(tile + 1) - c};
            const int width = std::min(K.W, B - c), n = H * K.W;
            S* z = acc.data(); S* r = z + n; S* hn = r + n;  // hn: reset_after's W_hn h + b_hn; else n's pre-activation
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
                    K.gemm(H, I, w_ih + (int64_t)2 * H * I, xl.data(), cand.data());  // W_in x + b_in
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
                    K.gemm(H, H, w_hh + (int64_t)2 * H * H, cand.data(), hn);  // + W_hn (r * h)
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
    });
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

// Weight and input gradients inside the backward (small H): a thread sums its tile's share of dW_hh, dW_ih and the
// bias gradients as V partial sums per weight (one SIMD vector, no reduction per step), adds each weight's V lanes
// when the tile is done and stores that tile's sums; `backward_impl` adds the tiles' sums in tile order.
template <typename S> struct Accumulate {
    int I; const S* x; const int64_t* xs;  // the layer's input (T, B, I), any strides
    const S* w_ih_t;                       // (I, 3H) = W_ih^T, columns z, r, n
    S* dx; Strides dxs;                    // the input's gradient, (I, T, B) with unit batch stride, or null
    S* tile_sums;  // (tiles, weights): dW_hh (3H, H) rows (n, z, r) or (z, r, n), dW_ih (3H, I) rows (z, r, n), bias
                   // (4H) rows (hn, z, r, n) or (3H) rows (z, r, n); null: write the gate gradients instead
    int64_t weights;  // 3H H + 3H I + 4H
};

// Local gate gradient rows: reset_after (dhn, dz, dr, dn), w_t = [W_hn; W_hz; W_hr]^T (H, 3H); else (dz, dr, dn),
// w_t = [W_hz; W_hr]^T (H, 2H). Without acc.tile_sums, these rows are written to grads in that order.
template <typename S, int V>
void backward_tiles(const BackwardArgs& a, const Tiling<V>& tiles, TileQueue& queue, const Accumulate<S>& acc) {
    const int T = a.steps, B = a.batch, H = a.hidden_size, I = acc.I;
    const bool reset_after = a.reset_after, reverse = a.reverse;
    const Strides fs{a.gates_strides[0], a.gates_strides[1]}, hs{a.hidden_strides[0], a.hidden_strides[1]};
    const Strides gs{a.grads_strides[0], a.grads_strides[1]};
    const int64_t* ds = a.grad_output_strides;  // step, batch, feature
    const int64_t* dns = a.grad_h_n_strides;    // batch, feature
    const S* gates = (const S*)a.gates; const S* hidden = (const S*)a.hidden;
    const S* dout = (const S*)a.grad_output; const S* dh_n = (const S*)a.grad_h_n;
    const S* w_t = (const S*)a.weight_t; const S* w_hn_t = (const S*)a.weight_hn_t;
    S* grads = (S*)a.grads; S* dh0 = (S*)a.grad_h0;
    const int most = H * tiles.widest;
    std::vector<S> dh(most), saved(5 * most), d(4 * most), next(most), g(most);
    std::vector<S> rhl(acc.tile_sums ? most : 0), xl(acc.tile_sums ? (int64_t)I * tiles.widest : 0);
    std::vector<S> dxl(acc.dx ? (int64_t)I * tiles.widest : 0);
    std::vector<S> lanes(acc.tile_sums ? acc.weights * V : 0);  // this tile's V partial sums per weight
    const int prev_offset = reverse ? 1 : 0;  // h_{t-1} of step t is hidden[t + prev_offset]
    const int first = reverse ? 0 : T - 1, step = reverse ? 1 : -1;
    for (int tile; queue.take(tile);) {
        S* const pw_hh = acc.tile_sums ? lanes.data() : nullptr;
        std::fill(lanes.begin(), lanes.end(), S(0));
        S* const pw_ih = pw_hh ? pw_hh + (int64_t)3 * H * H * V : nullptr;
        S* const pb = pw_ih ? pw_ih + (int64_t)3 * H * I * V : nullptr;
        const int c = tiles.start(tile);
        const Tile<S, V> K{tiles.start(tile + 1) - c};
        const int width = std::min(K.W, B - c), n = H * K.W;
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
            if (pw_hh) {
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
        K.scatter(H, dh.data(), dh0 + c, a.grad_h0_row, width);
        if (pw_hh) {
            S* sums = acc.tile_sums + acc.weights * tile;
            for (int64_t k = 0; k < acc.weights; ++k) {
                S sum = 0;
                for (int l = 0; l < V; ++l) sum += lanes[k * V + l];
                sums[k] = sum;
            }
        }
    }
}

template <typename S, int V>
void backward_impl(const BackwardArgs& a) {
    const int H = a.hidden_size, I = a.accumulate ? a.input_size : 0;
    const Tiling<V> tiles = tiling<S, V>(a.batch, a.accumulate ? H + (2 * I + 10) / 11 : H, H >= WIDE_HIDDEN);
    const int64_t weights = a.accumulate ? (int64_t)3 * H * H + (int64_t)3 * H * I + 4 * H : 0;
    std::vector<S> tile_sums(weights * tiles.count);
    const Accumulate<S> acc{I, (const S*)a.x, a.x_strides, (const S*)a.weight_ih_t, (S*)a.grad_x,
                            Strides{a.grad_x_strides[0], a.grad_x_strides[1]},
                            a.accumulate ? tile_sums.data() : nullptr, weights};
    TileQueue queue(tiles.count);
    in_parallel(std::min<int64_t>(a.threads, tiles.count), [&] { backward_tiles<S, V>(a, tiles, queue, acc); });
    if (!a.accumulate) return;
    // each weight: its tiles' sums in tile order (the same sums for any number of threads)
    S* const outs[3] = {(S*)a.grad_w_hh, (S*)a.grad_w_ih, (S*)a.grad_bias};
    const int64_t counts[3] = {(int64_t)3 * H * H, (int64_t)3 * H * I, (int64_t)(a.reset_after ? 4 : 3) * H};
    const int64_t bases[3] = {0, (int64_t)3 * H * H, (int64_t)3 * H * H + (int64_t)3 * H * I};
    for (int b = 0; b < 3; ++b) {
        for (int64_t k = 0; k < counts[b]; ++k) {
            S total = 0;
            for (int tile = 0; tile < tiles.count; ++tile) total += tile_sums[weights * tile + bases[b] + k];
            outs[b][k] = total;
        }
    }
}

}  // namespace

extern "C" {
// 0: float32, 1: float64; nonzero on arguments the loop cannot take
int grunet_forward(const ForwardArgs* a) {
    if (a->dtype == 0) forward_impl<float, 16>(*a); else if (a->dtype == 1) forward_impl<double, 8>(*a); else return 1;
    return 0;
}
int grunet_backward(const BackwardArgs* a) {
    if (a->dtype == 0) backward_impl<float, 16>(*a); else if (a->dtype == 1) backward_impl<double, 8>(*a); else return 1;
    return 0;
}
// sizeof(ForwardArgs) (kind 0) or sizeof(BackwardArgs) (kind 1): the loader compares them with its ctypes mirrors
int64_t grunet_args_size(int kind) { return kind == 0 ? sizeof(ForwardArgs) : sizeof(BackwardArgs); }
// "grunet build key <the key the loader named this library by>": the loader finds these bytes in the file before it
// loads it (a library under a name it was not built for is not loaded) and asks again once it is loaded
const char* grunet_build_key() { return "grunet build key " GRUNET_BUILD_KEY; }
}
