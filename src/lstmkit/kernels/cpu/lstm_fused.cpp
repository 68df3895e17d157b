// Fused CPU LSTM: one layer in one direction, every variant of lstmkit.nn.functional.lstm_scan,
// forward and a hand-written backward; plus one inference step for streaming.
//
// The Python side (lstmkit.kernels.cpu.scan) computes the input part of the gates for all steps
// with one GEMM and hands this file `xg` (T, B, G*H): x W_ih^T + b_ih + b_hh, with LN_ih already
// applied under layer norm. Here live the time loop, the recurrent GEMM per step, the cell as one
// vectorised pass per batch row, and the backward. Shapes: T time, B batch, H hidden, R
// recurrent width (P with a projection, else H), G gates (4, or 3 with coupled gates).
//
// Gate layout in a row of G*H: i, f, g, o (coupled: i, g, o), as torch.nn.LSTM.
// Peephole rows: i, f, o (coupled: i, o).
//
// Built with -ffast-math so that glibc's vector exp (libmvec) is used in `omp simd` loops;
// there is no NaN/Inf test in this file that fast-math could remove.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

using at::Tensor;

// BLAS from the MKL that libtorch_cpu links statically. Weak, so that a torch build without these
// symbols still loads this extension and takes the at::addmm_ route below instead.
extern "C" {
void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k,
            const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc) __attribute__((weak));
void dgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k,
            const double* alpha, const double* a, const int* lda, const double* b,
            const int* ldb, const double* beta, double* c, const int* ldc)
    __attribute__((weak));
int MKL_Set_Num_Threads_Local(int n) __attribute__((weak));
}

namespace {

template <typename T>
void gemm_aten(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  auto opts = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  Tensor a = ta ? at::from_blob(const_cast<T*>(A), {K, M}, {lda, 1}, opts).t()
                : at::from_blob(const_cast<T*>(A), {M, K}, {lda, 1}, opts);
  Tensor b = tb ? at::from_blob(const_cast<T*>(B), {N, K}, {ldb, 1}, opts).t()
                : at::from_blob(const_cast<T*>(B), {K, N}, {ldb, 1}, opts);
  Tensor c = at::from_blob(C, {M, N}, {ldc, 1}, opts);
  c.addmm_(a, b, beta, alpha);
}

// Row-major C (M, N) = alpha * op(A) op(B) + beta * C; a row-major product is the column-major
// product of the transposes, hence B before A in the BLAS call.
template <typename T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  const char ca = ta ? 'T' : 'N', cb = tb ? 'T' : 'N';
  const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  const int la = static_cast<int>(ldb), lb = static_cast<int>(lda), lc = static_cast<int>(ldc);
  if constexpr (std::is_same_v<T, float>) {
    if (sgemm_ != nullptr) {
      sgemm_(&cb, &ca, &m, &n, &k, &alpha, B, &la, A, &lb, &beta, C, &lc);
      return;
    }
  } else {
    if (dgemm_ != nullptr) {
      dgemm_(&cb, &ca, &m, &n, &k, &alpha, B, &la, A, &lb, &beta, C, &lc);
      return;
    }
  }
  gemm_aten<T>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// The recurrent product of every step, C (M, N) = A (M, K) op(W), with one weight W for all
// steps. Where the build has AVX-512 (-march=native on such a CPU), float weights are packed
// once into panels of 32 columns, k-major, and a register-blocked kernel (6 rows x 32 columns
// in 12 accumulators; one row in four chains over k) computes each step: about twice MKL's sgemm on the AMD EPYC these were
// measured on (MKL takes its AVX2 code there: ~105 GFLOP/s a core against ~240), where
// torch.nn.LSTM's oneDNN kernels use AVX-512. Elsewhere (double, or no AVX-512) it is gemm().
template <typename T>
class StepGemm {
 public:
  // W holds element (n, k) of op(W)^T at W[n * K + k] when `nk` (C = A W^T, W (N, K)), else
  // at W[k * N + n] (C = A W, W (K, N)). `pack`: whether the products this object will
  // compute (`rows`, the rows of all steps together) pay for packing the weight, which reads
  // and writes all of it: packed for a few rows, a short sequence ran several times slower
  // (see pays_to_pack).
  StepGemm(const T* W, int64_t N, int64_t K, bool nk, bool pack)
      : W_(W), N_(N), K_(K), nk_(nk) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      if (!pack || N == 0) return;
      panels_ = (N + kCols - 1) / kCols;
      packed_.resize(panels_ * K * kCols);
      if (N % kCols != 0) {  // the last panel's columns past N are zeros
        std::fill(packed_.begin() + (panels_ - 1) * K * kCols, packed_.end(), 0.f);
      }
      if (nk) {  // read W's rows in order
        for (int64_t n = 0; n < N; ++n) {
          float* to = packed_.data() + (n / kCols) * K * kCols + n % kCols;
          const float* from = W + n * K;
          for (int64_t k = 0; k < K; ++k) to[k * kCols] = from[k];
        }
      } else {
        for (int64_t k = 0; k < K; ++k) {
          const float* from = W + k * N;
          for (int64_t n = 0; n < N; ++n) {
            packed_[((n / kCols) * K + k) * kCols + n % kCols] = from[n];
          }
        }
      }
    }
#endif
  }

  // C (M, N), leading dimension ldc, = A (M, K), leading dimension lda, times op(W).
  void run(int64_t M, const T* A, int64_t lda, T* C, int64_t ldc) const {
    if (M <= 0 || N_ == 0) return;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      if (panels_ == 0) {  // not packed
        gemm<T>(false, nk_, M, N_, K_, T(1), A, lda, W_, nk_ ? K_ : N_, T(0), C, ldc);
        return;
      }
      if (K_ == 0) {
        for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N_, 0.f);
        return;
      }
      for (int64_t p = 0; p < panels_; ++p) {
        const float* panel = packed_.data() + p * K_ * kCols;
        const int64_t n0 = p * kCols, width = std::min(kCols, N_ - n0);
        int64_t i = 0;
        for (; i + 6 <= M; i += 6) block<6>(A + i * lda, lda, panel, C + i * ldc + n0, ldc, width);
        for (; i + 2 <= M; i += 2) block<2>(A + i * lda, lda, panel, C + i * ldc + n0, ldc, width);
        for (; i < M; ++i) row(A + i * lda, panel, C + i * ldc + n0, width);
      }
      return;
    }
#endif
    gemm<T>(false, nk_, M, N_, K_, T(1), A, lda, W_, nk_ ? K_ : N_, T(0), C, ldc);
  }

 private:
  static constexpr int64_t kCols = 32;
#if defined(__AVX512F__)
  // rows [0, MR) of C's columns [0, width) of one panel (width < 32 only in the last panel,
  // whose columns past N are zeros in the packing and are not stored)
  template <int MR>
  void block(const float* A, int64_t lda, const float* panel, float* C, int64_t ldc,
             int64_t width) const {
    __m512 lo[MR], hi[MR];
    for (int i = 0; i < MR; ++i) lo[i] = hi[i] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K_; ++k) {
      const __m512 b0 = _mm512_loadu_ps(panel + k * kCols);
      const __m512 b1 = _mm512_loadu_ps(panel + k * kCols + 16);
      for (int i = 0; i < MR; ++i) {
        const __m512 a = _mm512_set1_ps(A[i * lda + k]);
        lo[i] = _mm512_fmadd_ps(a, b0, lo[i]);
        hi[i] = _mm512_fmadd_ps(a, b1, hi[i]);
      }
    }
    for (int i = 0; i < MR; ++i) store(C + i * ldc, width, lo[i], hi[i]);
  }
  // one row: as block<1>, with the sum over k in four chains (one chain waits on each FMA)
  void row(const float* A, const float* panel, float* C, int64_t width) const {
    __m512 lo[4], hi[4];
    for (int c = 0; c < 4; ++c) lo[c] = hi[c] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 4 <= K_; k += 4) {
      for (int c = 0; c < 4; ++c) {
        const __m512 a = _mm512_set1_ps(A[k + c]);
        lo[c] = _mm512_fmadd_ps(a, _mm512_loadu_ps(panel + (k + c) * kCols), lo[c]);
        hi[c] = _mm512_fmadd_ps(a, _mm512_loadu_ps(panel + (k + c) * kCols + 16), hi[c]);
      }
    }
    for (; k < K_; ++k) {
      const __m512 a = _mm512_set1_ps(A[k]);
      lo[0] = _mm512_fmadd_ps(a, _mm512_loadu_ps(panel + k * kCols), lo[0]);
      hi[0] = _mm512_fmadd_ps(a, _mm512_loadu_ps(panel + k * kCols + 16), hi[0]);
    }
    store(C, width, _mm512_add_ps(_mm512_add_ps(lo[0], lo[1]), _mm512_add_ps(lo[2], lo[3])),
          _mm512_add_ps(_mm512_add_ps(hi[0], hi[1]), _mm512_add_ps(hi[2], hi[3])));
  }
  // columns [0, width) of a row of C from its two halves
  static void store(float* C, int64_t width, __m512 lo, __m512 hi) {
    const __mmask16 m0 = width >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << width) - 1);
    const __mmask16 m1 = width >= 32 ? __mmask16(0xFFFF)
                         : width <= 16 ? __mmask16(0) : __mmask16((1u << (width - 16)) - 1);
    _mm512_mask_storeu_ps(C, m0, lo);
    _mm512_mask_storeu_ps(C + 16, m1, hi);
  }
  int64_t panels_ = 0;
  std::vector<float> packed_;
#endif
  const T* W_;
  int64_t N_, K_;
  bool nk_;
};

// Rows (of all steps together) below which a StepGemm does not pack its weight: packing
// reads and writes the whole weight once, which a few rows' products do not pay back.
constexpr int64_t kPackRows = 64;

// Per-step GEMMs below this many multiply-adds run on one thread: a fork-join per step costs
// more than it saves, and on a busy machine the join waits for a descheduled thread.
constexpr int64_t kSerialStepMacs = int64_t(1) << 20;

// Scoped single-threaded MKL for this thread (a no-op where MKL's symbol is absent).
class SerialBlas {
 public:
  explicit SerialBlas(bool on) : active_(on && MKL_Set_Num_Threads_Local != nullptr) {
    if (active_) previous_ = MKL_Set_Num_Threads_Local(1);
  }
  ~SerialBlas() {
    if (active_) MKL_Set_Num_Threads_Local(previous_);
  }
  SerialBlas(const SerialBlas&) = delete;
  SerialBlas& operator=(const SerialBlas&) = delete;

 private:
  bool active_;
  int previous_ = 0;
};

// sigmoid in its stable form: exp(-|x|) is in (0, 1] and never overflows. 1 / (1 + exp(-x))
// overflowed below x = -88 in float, and -ffast-math (which assumes no infinities) turned that
// into NaN instead of a gate of 0. A NaN input stays NaN: both candidates are NaN.
template <typename T>
inline T sigmoid(T x) {
  const T e = std::exp(-std::fabs(x));
  const T r = T(1) / (T(1) + e);
  return x >= T(0) ? r : e * r;
}

// tanh: exact (libm) for double; for float a rational approximation on [-7.9, 7.9] (Eigen's
// generic_fast_tanh_float coefficients), max abs error 2.6e-7 against tanh in double, about a
// few float ulps, and 3x faster than glibc's vector tanhf. Above 7.9, tanh is 1 in float.
template <typename T>
inline T tanh_(T x) {
  return std::tanh(x);
}

template <>
inline float tanh_(float a) {
  const float c = 7.90531110763549805f;
  const float x = std::min(std::max(a, -c), c);
  const float x2 = x * x;
  float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = x2 * p + -8.60467152213735e-11f;
  p = x2 * p + 5.12229709037114e-08f;
  p = x2 * p + 1.48572235717979e-05f;
  p = x2 * p + 6.37261928875436e-04f;
  p = x2 * p + 4.89352455891786e-03f;
  p = x * p;
  float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = x2 * q + 2.26843463243900e-03f;
  q = x2 * q + 4.89352518554385e-03f;
  return std::fabs(x) < 0.0004f ? x : p / q;
}

template <typename T>
const T* ptr_or(const Tensor& t, const T* fallback) {
  return t.defined() ? t.data_ptr<T>() : fallback;
}

template <typename T>
T* mut_ptr(Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// Mean (into `mean`) and 1/std of `a` (n), in two passes: the mean, then the variance about it.
// Both sums are in double, so that squares of float values past about 1e19 do not overflow.
template <typename T>
inline T moments(const T* a, int64_t n, double eps, T* mean) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < n; ++j) s += double(a[j]);
  const double m = s / double(n);
  double v = 0;
#pragma omp simd reduction(+ : v)
  for (int64_t j = 0; j < n; ++j) {
    const double d = double(a[j]) - m;
    v += d * d;
  }
  *mean = T(m);
  return T(1.0 / std::sqrt(v / double(n) + eps));
}

// Zoneout's blend of the new value `a` and the previous `b` by the keep weight `z`, as
// torch.lerp computes it: exactly `b` where z = 1 (a unit kept is its previous value), exactly
// `a` where z = 0.
template <typename T>
inline T zone(T a, T b, T z) {
  return z < T(0.5) ? a + z * (b - a) : b - (b - a) * (T(1) - z);
}

// Normalise `a` (n) into `xhat` (which may be `a`).
template <typename T>
inline void normalise(const T* a, T* xhat, int64_t n, double eps) {
  T mean;
  const T rstd = moments(a, n, eps, &mean);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) xhat[j] = (a[j] - mean) * rstd;
}

// The cell from its pre-activations `a` (G*H) and c_prev: activations into `act` (G*H), c_new,
// tanh of the (normalised) cell `tc` and hy = o * tc; under layer norm the cell's statistics
// into mean_c/rstd_c.
template <typename T>
inline void cell_row(const T* __restrict a, const T* __restrict cp, const T* __restrict pi,
                     const T* __restrict pf, const T* __restrict po, bool coupled,
                     bool layer_norm, const T* lnc_w, const T* lnc_b, double eps, int64_t H,
                     T* __restrict act, T* __restrict cn, T* __restrict tc, T* __restrict hy,
                     T* mean_c, T* rstd_c) {
  if (coupled) {
    const T* a_i = a;
    const T* a_g = a + H;
    const T* a_o = a + 2 * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T i = sigmoid(a_i[j] + pi[j] * cp[j]);
      const T g = tanh_(a_g[j]);
      const T c = (T(1) - i) * cp[j] + i * g;
      act[j] = i;
      act[H + j] = g;
      act[2 * H + j] = sigmoid(a_o[j] + po[j] * c);
      cn[j] = c;
    }
  } else {
    const T* a_i = a;
    const T* a_f = a + H;
    const T* a_g = a + 2 * H;
    const T* a_o = a + 3 * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T i = sigmoid(a_i[j] + pi[j] * cp[j]);
      const T f = sigmoid(a_f[j] + pf[j] * cp[j]);
      const T g = tanh_(a_g[j]);
      const T c = f * cp[j] + i * g;
      act[j] = i;
      act[H + j] = f;
      act[2 * H + j] = g;
      act[3 * H + j] = sigmoid(a_o[j] + po[j] * c);
      cn[j] = c;
    }
  }
  const T* o = act + (coupled ? 2 : 3) * H;
  if (layer_norm) {
    const T rstd = moments(cn, H, eps, mean_c);
    const T mean = *mean_c;
    *rstd_c = rstd;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T t = tanh_((cn[j] - mean) * rstd * lnc_w[j] + lnc_b[j]);
      tc[j] = t;
      hy[j] = o[j] * t;
    }
  } else {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T t = tanh_(cn[j]);
      tc[j] = t;
      hy[j] = o[j] * t;
    }
  }
}

// Rows [0, active[t]) hold every valid row of step t; the rows after it are padding at t and
// are skipped entirely (no GEMM rows, no cell). With the batch sorted by length, as
// lstmkit.kernels.cpu.scan does, this is the shrinking batch of a packed sequence.
std::vector<int64_t> active_rows(const bool* valid, int64_t Tn, int64_t B) {
  std::vector<int64_t> active(Tn, B);
  if (valid == nullptr) return active;
  for (int64_t t = 0; t < Tn; ++t) {
    int64_t n = B;
    while (n > 0 && !valid[t * B + n - 1]) --n;
    active[t] = n;
  }
  return active;
}

// Rows per range below which more than two ranges are not cut: each range's GEMM reads all of
// W_hh at every step, so thin ranges on many threads would multiply the weight traffic.
constexpr int64_t kMinRowsPerPart = 4;

// Run `body(r0, r1)`, a whole time loop over the batch rows [r0, r1), for all rows [0, B).
// Rows never exchange data, so with several threads the batch is cut into contiguous ranges,
// one per thread, balanced by active steps (`active` from active_rows), and each range runs its
// time loop on its own thread with single-threaded BLAS: no fork-join at every step. On 2
// threads this beat a fork-join per step (row-parallel cell, BLAS threads for GEMMs of 2^20
// multiply-adds and more) at every shape measured, down to one row per thread (B = 2 with
// H = 512 and 1024); more threads were not measured, so beyond two ranges each gets at least
// kMinRowsPerPart rows. With one thread or one row (or inside a parallel region): one range,
// BLAS threads only when the step's GEMM of `step_macs` multiply-adds is large.
inline int64_t row_parts(int64_t B) {
  const int64_t parts = std::min<int64_t>(
      {at::get_num_threads(), B, std::max<int64_t>(2, B / kMinRowsPerPart)});
  return at::in_parallel_region() ? 1 : parts;
}

template <typename F>
void for_row_parts(const std::vector<int64_t>& active, int64_t B, int64_t step_macs,
                   const F& body) {
  const int64_t parts = row_parts(B);
  if (parts < 2) {
    SerialBlas serial(step_macs < kSerialStepMacs);
    body(0, B);
    return;
  }
  // work[b]: the steps at which row b is active; cut where the running sum passes k/parts
  std::vector<int64_t> work(B, 0);
  for (const int64_t a : active) {
    for (int64_t b = 0; b < a; ++b) ++work[b];
  }
  int64_t total = 0;
  for (const int64_t w : work) total += w;
  std::vector<int64_t> bounds(parts + 1, B);
  bounds[0] = 0;
  int64_t sum = 0, b = 0;
  for (int64_t k = 1; k < parts; ++k) {
    while (b < B && sum * parts < k * total) sum += work[b++];
    bounds[k] = std::min(std::max(b, bounds[k - 1] + 1), B - (parts - k));
  }
  at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    SerialBlas serial(true);
    for (int64_t p = p0; p < p1; ++p) body(bounds[p], bounds[p + 1]);
  });
}

// Whether the per-step products of a time loop over the rows `active` (from active_rows) should
// pack their weight (StepGemm): not for fewer than kPackRows rows in all, and not when one row
// range on several threads runs large products, which MKL's threads share (the packed kernel
// runs on the calling thread alone).
inline bool pays_to_pack(const std::vector<int64_t>& active, int64_t B, int64_t step_macs) {
  int64_t rows = 0;
  for (const int64_t a : active) rows += a;
  if (rows < kPackRows) return false;
  return !(row_parts(B) < 2 && step_macs >= kSerialStepMacs && at::get_num_threads() > 1);
}

// out[j] += dot(W[j, :], v) for j < n, W (n, K) row-major. Eight rows at a time: eight
// independent accumulator chains hide the FMA latency that a single dot product is bound by.
template <typename T>
void gemv_rows(const T* __restrict W, int64_t K, const T* __restrict v, T* __restrict out,
               int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const T* w = W + j * K;
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7)
    for (int64_t k = 0; k < K; ++k) {
      const T vk = v[k];
      s0 += w[k] * vk;
      s1 += w[K + k] * vk;
      s2 += w[2 * K + k] * vk;
      s3 += w[3 * K + k] * vk;
      s4 += w[4 * K + k] * vk;
      s5 += w[5 * K + k] * vk;
      s6 += w[6 * K + k] * vk;
      s7 += w[7 * K + k] * vk;
    }
    out[j] += s0;
    out[j + 1] += s1;
    out[j + 2] += s2;
    out[j + 3] += s3;
    out[j + 4] += s4;
    out[j + 5] += s5;
    out[j + 6] += s6;
    out[j + 7] += s7;
  }
  for (; j < n; ++j) {
    const T* w = W + j * K;
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < K; ++k) s += w[k] * v[k];
    out[j] += s;
  }
}

struct Options {
  bool coupled;
  bool layer_norm;
  double eps;
};

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------

template <typename T>
std::vector<Tensor> forward_impl(const Tensor& xg, const Tensor& h0, const Tensor& c0,
                                 const Tensor& w_hh, const Tensor& peep, const Tensor& lnh_w,
                                 const Tensor& lnh_b, const Tensor& lnc_w, const Tensor& lnc_b,
                                 const Tensor& w_hr, const Tensor& valid, const Tensor& reset,
                                 const Tensor& h_drop, const Tensor& zc, const Tensor& zh,
                                 Options op, bool save) {
  const int64_t Tn = xg.size(0), B = xg.size(1), GH = xg.size(2);
  const int64_t G = op.coupled ? 3 : 4, H = GH / G, R = h0.size(1);
  const bool proj = w_hr.defined();
  const auto opt = xg.options();
  const int64_t Ts = save ? Tn : 1;  // saved buffers hold every step only for backward

  Tensor out = at::empty({Tn, B, R}, opt);
  Tensor h = h0.clone(), c = c0.clone();
  Tensor Hin = at::empty({Ts, B, R}, opt);    // h_prev * m_h: the recurrent GEMM's input
  Tensor HH = at::empty({B, GH}, opt);        // recurrent product, then the pre-activations
  Tensor Act = at::empty({Ts, B, GH}, opt);   // i, f, g, o
  Tensor Cp = at::empty({Ts, B, H}, opt);     // c_prev after reset
  Tensor Cn = at::empty({Ts, B, H}, opt);     // c_new before zoneout
  Tensor TC = at::empty({Ts, B, H}, opt);     // tanh(c_new) or tanh(LN_c(c_new))
  Tensor HY = at::empty({proj ? Ts : 1, B, H}, opt);  // o * TC, the projection's input
  Tensor HN = proj ? at::empty({B, R}, opt) : Tensor();  // projected h_new
  Tensor XH, RH, MC, RC;
  if (op.layer_norm) {
    XH = at::empty({Ts, B, GH}, opt);  // normalised recurrent product
    RH = at::empty({Ts, B}, opt);      // its 1/std
    MC = at::empty({Ts, B}, opt);      // mean of c_new
    RC = at::empty({Ts, B}, opt);      // 1/std of c_new
  }
  const int64_t W = std::max({GH, R, H});
  Tensor zeros = at::zeros({W}, opt), ones = at::ones({W}, opt);
  const T* z0 = zeros.data_ptr<T>();
  const T* one = ones.data_ptr<T>();

  const T* xg_p = xg.data_ptr<T>();
  const T* h0_p = h0.data_ptr<T>();
  const T* c0_p = c0.data_ptr<T>();
  const T* whh = w_hh.data_ptr<T>();
  const T* whr = proj ? w_hr.data_ptr<T>() : nullptr;
  const T* pi = peep.defined() ? peep.data_ptr<T>() : z0;
  const T* pf = (peep.defined() && !op.coupled) ? pi + H : z0;
  const T* po = peep.defined() ? pi + (op.coupled ? 1 : 2) * H : z0;
  const T* gh_w = ptr_or<T>(lnh_w, one);
  const T* gh_b = ptr_or<T>(lnh_b, z0);
  const T* gc_w = ptr_or<T>(lnc_w, one);
  const T* gc_b = ptr_or<T>(lnc_b, z0);
  const bool* valid_p = valid.defined() ? valid.data_ptr<bool>() : nullptr;
  const bool* reset_p = reset.defined() ? reset.data_ptr<bool>() : nullptr;
  const T* drop_p = h_drop.defined() ? h_drop.data_ptr<T>() : nullptr;
  const T* zc_p = zc.defined() ? zc.data_ptr<T>() : nullptr;
  const T* zh_p = zh.defined() ? zh.data_ptr<T>() : nullptr;

  T* out_p = out.data_ptr<T>();
  T* h_p = h.data_ptr<T>();
  T* c_p = c.data_ptr<T>();
  T* hin_p = Hin.data_ptr<T>();
  T* hh_p = HH.data_ptr<T>();
  T* act_p = Act.data_ptr<T>();
  T* cp_p = Cp.data_ptr<T>();
  T* cn_p = Cn.data_ptr<T>();
  T* tc_p = TC.data_ptr<T>();
  T* hy_p = HY.data_ptr<T>();
  T* hn_p = mut_ptr<T>(HN);
  T* xh_p = mut_ptr<T>(XH);
  T* rh_p = mut_ptr<T>(RH);
  T* mc_p = mut_ptr<T>(MC);
  T* rc_p = mut_ptr<T>(RC);

  // h_in of step t for row b, from the state after step t-1.
  auto prep_hin = [&](int64_t t, int64_t b) {
    const bool rs = reset_p != nullptr && reset_p[t * B + b];
    const T* src = rs ? h0_p + b * R : h_p + b * R;
    T* dst = hin_p + ((save ? t : 0) * B + b) * R;
    if (drop_p != nullptr) {
      const T* m = drop_p + b * R;
#pragma omp simd
      for (int64_t j = 0; j < R; ++j) dst[j] = src[j] * m[j];
    } else {
      std::copy(src, src + R, dst);
    }
  };

  // Zoneout, padding and the output for row b, from h_new (R).
  auto update_h = [&](int64_t t, int64_t b, const T* hnew) {
    const bool rs = reset_p != nullptr && reset_p[t * B + b];
    const bool v = valid_p == nullptr || valid_p[t * B + b];
    T* hb = h_p + b * R;
    T* ob = out_p + (t * B + b) * R;
    if (!v) {
      std::fill(ob, ob + R, T(0));
      return;
    }
    const T* hp = rs ? h0_p + b * R : hb;
    const T* z = zh_p != nullptr ? zh_p + (t * B + b) * R : z0;
#pragma omp simd
    for (int64_t j = 0; j < R; ++j) {
      const T hz = zone(hnew[j], hp[j], z[j]);
      ob[j] = hz;
      hb[j] = hz;
    }
  };

  // Padding rows after the active ones: zero output, state carried, finite saved inputs.
  auto skip_row = [&](int64_t t, int64_t b) {
    std::fill(out_p + (t * B + b) * R, out_p + (t * B + b + 1) * R, T(0));
    if (proj && save) std::fill(hy_p + (t * B + b) * H, hy_p + (t * B + b + 1) * H, T(0));
    if (t + 1 < Tn) prep_hin(t + 1, b);
  };

  const std::vector<int64_t> active = active_rows(valid_p, Tn, B);
  // (Ba - r0, G*H) = (Ba - r0, R) @ (R, G*H); with a projection (Ba - r0, P) = (Ba - r0, H) @
  // (H, P)
  const bool pack = pays_to_pack(active, B, B * GH * R);
  const StepGemm<T> recurrent(whh, GH, R, true, pack);
  const StepGemm<T> projection(whr, proj ? R : 0, H, true, pack);

  // The whole time loop for the rows [r0, r1): rows never exchange data, so disjoint ranges
  // run on separate threads with no synchronisation per step.
  auto run_rows = [&](int64_t r0, int64_t r1) {
    for (int64_t b = r0; b < r1; ++b) prep_hin(0, b);
    for (int64_t t = 0; t < Tn; ++t) {
      const int64_t ts = save ? t : 0;
      const int64_t Ba = std::min(active[t], r1);  // rows [r0, Ba) are active at t
      if (Ba > r0) {
        // (Ba - r0, G*H) = (Ba - r0, R) @ (R, G*H)
        recurrent.run(Ba - r0, hin_p + (ts * B + r0) * R, R, hh_p + r0 * GH, GH);
      }
      for (int64_t b = r0; b < Ba; ++b) {
        const int64_t row = ts * B + b;
        T* a = hh_p + b * GH;
        const T* xr = xg_p + (t * B + b) * GH;
        if (op.layer_norm) {
          T* xh = xh_p + row * GH;
          T mean;
          const T rstd = moments(a, GH, op.eps, &mean);
          rh_p[row] = rstd;
#pragma omp simd
          for (int64_t j = 0; j < GH; ++j) {
            const T v = (a[j] - mean) * rstd;
            xh[j] = v;
            a[j] = xr[j] + v * gh_w[j] + gh_b[j];
          }
        } else {
#pragma omp simd
          for (int64_t j = 0; j < GH; ++j) a[j] += xr[j];
        }
        const bool rs = reset_p != nullptr && reset_p[t * B + b];
        T* cpr = cp_p + row * H;
        const T* csrc = rs ? c0_p + b * H : c_p + b * H;
        std::copy(csrc, csrc + H, cpr);
        T* cnr = cn_p + row * H;
        T* hyr = hy_p + (proj ? row : b) * H;
        cell_row<T>(a, cpr, pi, pf, po, op.coupled, op.layer_norm, gc_w, gc_b, op.eps, H,
                    act_p + row * GH, cnr, tc_p + row * H, hyr,
                    op.layer_norm ? mc_p + row : nullptr, op.layer_norm ? rc_p + row : nullptr);
        const bool v = valid_p == nullptr || valid_p[t * B + b];
        if (v) {
          T* cb = c_p + b * H;
          const T* z = zc_p != nullptr ? zc_p + (t * B + b) * H : z0;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) cb[j] = zone(cnr[j], cpr[j], z[j]);
        }
        if (!proj) {
          update_h(t, b, hyr);
          if (t + 1 < Tn) prep_hin(t + 1, b);
        }
      }

      if (proj && Ba > r0) {
        // (Ba - r0, P) = (Ba - r0, H) @ (H, P)
        projection.run(Ba - r0, hy_p + (ts * B + r0) * H, H, hn_p + r0 * R, R);
        for (int64_t b = r0; b < Ba; ++b) {
          update_h(t, b, hn_p + b * R);
          if (t + 1 < Tn) prep_hin(t + 1, b);
        }
      }
      for (int64_t b = std::max(Ba, r0); b < r1; ++b) skip_row(t, b);
    }
  };
  for_row_parts(active, B, B * GH * R, run_rows);
  if (!save) return {out, h, c};
  return {out, h, c, Hin, Act, Cp, Cn, TC, proj ? HY : Tensor(), XH, RH, MC, RC};
}

// ---------------------------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------------------------

template <typename T>
std::vector<Tensor> backward_impl(const Tensor& g_out, const Tensor& g_hn, const Tensor& g_cn,
                                  const Tensor& Hin, const Tensor& Act, const Tensor& Cp,
                                  const Tensor& Cn, const Tensor& TC, const Tensor& HY,
                                  const Tensor& XH, const Tensor& RH, const Tensor& MC,
                                  const Tensor& RC, const Tensor& w_hh, const Tensor& peep,
                                  const Tensor& lnh_w, const Tensor& lnc_w, const Tensor& w_hr,
                                  const Tensor& valid, const Tensor& reset, const Tensor& h_drop,
                                  const Tensor& zc, const Tensor& zh, Options op) {
  const int64_t Tn = Act.size(0), B = Act.size(1), GH = Act.size(2);
  const int64_t H = Cp.size(2), R = Hin.size(2);
  const bool proj = w_hr.defined();
  const bool peephole = peep.defined();
  const auto opt = Act.options();

  Tensor DG = at::empty({Tn, B, GH}, opt);                        // d pre-activations = d xg
  Tensor DHH = op.layer_norm ? at::empty({Tn, B, GH}, opt) : DG;  // d recurrent product
  Tensor DHN = proj ? at::empty({Tn, B, R}, opt) : Tensor();      // d projected h_new
  Tensor DHY = at::empty({B, H}, opt);   // d (o * tanh c)
  Tensor DHZ = at::empty({B, R}, opt);   // d h after zoneout, before padding
  Tensor DCZ = at::empty({B, H}, opt);   // d c after zoneout, before padding
  Tensor DCP = at::empty({B, H}, opt);   // d c_prev of this step
  Tensor DHIN = at::empty({B, R}, opt);  // d h_in
  Tensor dh = g_hn.clone(), dc = g_cn.clone();  // d of the carried state
  Tensor dh0 = at::zeros({B, R}, opt), dc0 = at::zeros({B, H}, opt);
  const int64_t np = op.coupled ? 2 : 3;
  Tensor acc_p = at::zeros({B, peephole ? np * H : 1}, opt);
  Tensor acc_hw, acc_hb, acc_cw, acc_cb;
  if (op.layer_norm) {
    acc_hw = at::zeros({B, GH}, opt);
    acc_hb = at::zeros({B, GH}, opt);
    acc_cw = at::zeros({B, H}, opt);
    acc_cb = at::zeros({B, H}, opt);
  }
  const int64_t W = std::max({GH, R, H});
  Tensor zeros = at::zeros({W}, opt), ones = at::ones({W}, opt);
  const T* z0 = zeros.data_ptr<T>();
  const T* one = ones.data_ptr<T>();

  const T* gout = g_out.data_ptr<T>();
  const T* hin_p = Hin.data_ptr<T>();
  const T* act_p = Act.data_ptr<T>();
  const T* cp_p = Cp.data_ptr<T>();
  const T* cn_p = Cn.data_ptr<T>();
  const T* tc_p = TC.data_ptr<T>();
  const T* xh_p = op.layer_norm ? XH.data_ptr<T>() : nullptr;
  const T* rh_p = op.layer_norm ? RH.data_ptr<T>() : nullptr;
  const T* mc_p = op.layer_norm ? MC.data_ptr<T>() : nullptr;
  const T* rc_p = op.layer_norm ? RC.data_ptr<T>() : nullptr;
  const T* whh = w_hh.data_ptr<T>();
  const T* whr = proj ? w_hr.data_ptr<T>() : nullptr;
  const T* pi = peephole ? peep.data_ptr<T>() : z0;
  const T* pf = (peephole && !op.coupled) ? pi + H : z0;
  const T* po = peephole ? pi + (op.coupled ? 1 : 2) * H : z0;
  const T* gh_w = ptr_or<T>(lnh_w, one);
  const T* gc_w = ptr_or<T>(lnc_w, one);
  const bool* valid_p = valid.defined() ? valid.data_ptr<bool>() : nullptr;
  const bool* reset_p = reset.defined() ? reset.data_ptr<bool>() : nullptr;
  const T* drop_p = h_drop.defined() ? h_drop.data_ptr<T>() : nullptr;
  const T* zc_p = zc.defined() ? zc.data_ptr<T>() : nullptr;
  const T* zh_p = zh.defined() ? zh.data_ptr<T>() : nullptr;

  T* dg_p = DG.data_ptr<T>();
  T* dhh_p = DHH.data_ptr<T>();
  T* dhn_p = mut_ptr<T>(DHN);
  T* dhy_p = DHY.data_ptr<T>();
  T* dhz_p = DHZ.data_ptr<T>();
  T* dcz_p = DCZ.data_ptr<T>();
  T* dcp_p = DCP.data_ptr<T>();
  T* dhin_p = DHIN.data_ptr<T>();
  T* dh_p = dh.data_ptr<T>();
  T* dc_p = dc.data_ptr<T>();
  T* dh0_p = dh0.data_ptr<T>();
  T* dc0_p = dc0.data_ptr<T>();
  T* accp = acc_p.data_ptr<T>();
  T* acc_hw_p = mut_ptr<T>(acc_hw);
  T* acc_hb_p = mut_ptr<T>(acc_hb);
  T* acc_cw_p = mut_ptr<T>(acc_cw);
  T* acc_cb_p = mut_ptr<T>(acc_cb);

  // Padding and zoneout of step t, row b: split the carried gradient into this step's part.
  auto pass_a = [&](int64_t t, int64_t b) {
    const bool v = valid_p == nullptr || valid_p[t * B + b];
    T* dhz = dhz_p + b * R;
    T* dcz = dcz_p + b * H;
    T* dhb = dh_p + b * R;
    T* dcb = dc_p + b * H;
    const T* go = gout + (t * B + b) * R;
    if (v) {
#pragma omp simd
      for (int64_t j = 0; j < R; ++j) {
        dhz[j] = dhb[j] + go[j];
        dhb[j] = T(0);
      }
      std::copy(dcb, dcb + H, dcz);
      std::fill(dcb, dcb + H, T(0));
    } else {
      std::fill(dhz, dhz + R, T(0));
      std::fill(dcz, dcz + H, T(0));
    }
    T* dnew = proj ? dhn_p + (t * B + b) * R : dhy_p + b * H;
    const T* z = zh_p != nullptr ? zh_p + (t * B + b) * R : z0;
#pragma omp simd
    for (int64_t j = 0; j < R; ++j) dnew[j] = (T(1) - z[j]) * dhz[j];
  };

  // Through the recurrent GEMM, zoneout and reset into the carried gradient (or into d h0, d c0).
  auto pass_c = [&](int64_t t, int64_t b) {
    const bool rs = reset_p != nullptr && reset_p[t * B + b];
    T* dhp = dhin_p + b * R;
    const T* dhz = dhz_p + b * R;
    const T* z = zh_p != nullptr ? zh_p + (t * B + b) * R : z0;
    if (drop_p != nullptr) {
      const T* m = drop_p + b * R;
#pragma omp simd
      for (int64_t j = 0; j < R; ++j) dhp[j] = dhp[j] * m[j] + z[j] * dhz[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < R; ++j) dhp[j] += z[j] * dhz[j];
    }
    T* dh_dst = rs ? dh0_p + b * R : dh_p + b * R;
    T* dc_dst = rs ? dc0_p + b * H : dc_p + b * H;
    const T* dcp = dcp_p + b * H;
#pragma omp simd
    for (int64_t j = 0; j < R; ++j) dh_dst[j] += dhp[j];
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) dc_dst[j] += dcp[j];
  };

  // The cell backward for row b of step t: d pre-activations, d c_prev, parameter accumulators.
  auto pass_b = [&](int64_t t, int64_t b) {
    const int64_t row = t * B + b;
    const T* act = act_p + row * GH;
    const T* cp = cp_p + row * H;
    const T* cn = cn_p + row * H;
    const T* tc = tc_p + row * H;
    const T* dhy = dhy_p + b * H;
    const T* dcz = dcz_p + b * H;
    const T* z = zc_p != nullptr ? zc_p + row * H : z0;
    T* dcp = dcp_p + b * H;
    T* dg = dg_p + row * GH;
    const T* o = act + (op.coupled ? 2 : 3) * H;

    // d c_new from the output path, into dcp as scratch.
    if (op.layer_norm) {
      const T mean = mc_p[row], rstd = rc_p[row];
      T* aw = acc_cw_p + b * H;
      T* ab = acc_cb_p + b * H;
      T s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
      for (int64_t j = 0; j < H; ++j) {
        const T chat = (cn[j] - mean) * rstd;
        const T dco = dhy[j] * o[j] * (T(1) - tc[j] * tc[j]);
        aw[j] += dco * chat;
        ab[j] += dco;
        const T dchat = dco * gc_w[j];
        dcp[j] = dchat;
        s1 += dchat;
        s2 += dchat * chat;
      }
      s1 /= T(H);
      s2 /= T(H);
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T chat = (cn[j] - mean) * rstd;
        dcp[j] = rstd * (dcp[j] - s1 - chat * s2);
      }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) dcp[j] = dhy[j] * o[j] * (T(1) - tc[j] * tc[j]);
    }

    if (op.coupled) {
      const T* ig = act;
      const T* gg = act + H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T i = ig[j], g = gg[j], oj = o[j];
        const T dao = dhy[j] * tc[j] * oj * (T(1) - oj);
        const T dcn = dcp[j] + (T(1) - z[j]) * dcz[j] + dao * po[j];
        const T df = dcn * cp[j];
        const T di = dcn * g - df;
        const T dai = di * i * (T(1) - i);
        const T dag = dcn * i * (T(1) - g * g);
        dg[j] = dai;
        dg[H + j] = dag;
        dg[2 * H + j] = dao;
        dcp[j] = dcn * (T(1) - i) + dai * pi[j] + z[j] * dcz[j];
      }
    } else {
      const T* ig = act;
      const T* fg = act + H;
      const T* gg = act + 2 * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T i = ig[j], f = fg[j], g = gg[j], oj = o[j];
        const T dao = dhy[j] * tc[j] * oj * (T(1) - oj);
        const T dcn = dcp[j] + (T(1) - z[j]) * dcz[j] + dao * po[j];
        const T dai = dcn * g * i * (T(1) - i);
        const T daf = dcn * cp[j] * f * (T(1) - f);
        const T dag = dcn * i * (T(1) - g * g);
        dg[j] = dai;
        dg[H + j] = daf;
        dg[2 * H + j] = dag;
        dg[3 * H + j] = dao;
        dcp[j] = dcn * f + dai * pi[j] + daf * pf[j] + z[j] * dcz[j];
      }
    }
    if (peephole) {
      T* ap = accp + b * np * H;
      const T* dao = dg + (op.coupled ? 2 : 3) * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        ap[j] += dg[j] * cp[j];
        ap[(np - 1) * H + j] += dao[j] * cn[j];
      }
      if (!op.coupled) {
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) ap[H + j] += dg[H + j] * cp[j];
      }
    }
    if (op.layer_norm) {
      const T* xh = xh_p + row * GH;
      const T rstd = rh_p[row];
      T* aw = acc_hw_p + b * GH;
      T* ab = acc_hb_p + b * GH;
      T* dhh = dhh_p + row * GH;
      T s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
      for (int64_t j = 0; j < GH; ++j) {
        aw[j] += dg[j] * xh[j];
        ab[j] += dg[j];
        const T dx = dg[j] * gh_w[j];
        s1 += dx;
        s2 += dx * xh[j];
      }
      s1 /= T(GH);
      s2 /= T(GH);
#pragma omp simd
      for (int64_t j = 0; j < GH; ++j) dhh[j] = rstd * (dg[j] * gh_w[j] - s1 - xh[j] * s2);
    }
  };

  const std::vector<int64_t> active = active_rows(valid_p, Tn, B);
  // (Ba - r0, R) = (Ba - r0, G*H) @ (G*H, R); with a projection (Ba - r0, H) = (Ba - r0, P) @
  // (P, H)
  const bool pack = pays_to_pack(active, B, B * GH * R);
  const StepGemm<T> recurrent_t(whh, R, GH, false, pack);
  const StepGemm<T> projection_t(whr, proj ? H : 0, R, false, pack);
  // The time loop for the rows [r0, r1), as in the forward.
  auto run_rows = [&](int64_t r0, int64_t r1) {
    for (int64_t b = r0; b < r1; ++b) pass_a(Tn - 1, b);
    for (int64_t t = Tn - 1; t >= 0; --t) {
      const int64_t Ba = std::min(active[t], r1);  // rows [r0, Ba) are active at t
      if (proj && Ba > r0) {
        // (Ba - r0, H) = (Ba - r0, P) @ (P, H)
        projection_t.run(Ba - r0, dhn_p + (t * B + r0) * R, R, dhy_p + r0 * H, H);
      }
      for (int64_t b = r0; b < Ba; ++b) pass_b(t, b);
      // skipped rows: no gradient, and zeros where the weight-gradient GEMMs read them
      const int64_t s0 = std::max(Ba, r0);
      std::fill(dg_p + (t * B + s0) * GH, dg_p + (t * B + r1) * GH, T(0));
      if (op.layer_norm) std::fill(dhh_p + (t * B + s0) * GH, dhh_p + (t * B + r1) * GH, T(0));
      if (Ba > r0) {
        // (Ba - r0, R) = (Ba - r0, G*H) @ (G*H, R)
        recurrent_t.run(Ba - r0, dhh_p + (t * B + r0) * GH, GH, dhin_p + r0 * R, R);
      }
      for (int64_t b = r0; b < r1; ++b) {
        if (b < Ba) pass_c(t, b);
        if (t > 0) pass_a(t - 1, b);
      }
    }
  };
  for_row_parts(active, B, B * GH * R, run_rows);
  // the weight gradients below are large GEMMs: every thread again
  dh0.add_(dh);
  dc0.add_(dc);

  // Weight gradients: one GEMM over all steps each.
  Tensor dw_hh = at::empty({GH, R}, opt);
  // (G*H, R) = (G*H, T*B) @ (T*B, R)
  gemm<T>(true, false, GH, R, Tn * B, T(1), dhh_p, GH, hin_p, R, T(0), dw_hh.data_ptr<T>(), R);
  Tensor dw_hr;
  if (proj) {
    dw_hr = at::empty({R, H}, opt);
    // (P, H) = (P, T*B) @ (T*B, H)
    gemm<T>(true, false, R, H, Tn * B, T(1), dhn_p, R, HY.data_ptr<T>(), H, T(0),
            dw_hr.data_ptr<T>(), H);
  }
  Tensor dpeep = peephole ? acc_p.sum(0).view({np, H}) : Tensor();
  Tensor dlnh_w, dlnh_b, dlnc_w, dlnc_b;
  if (op.layer_norm) {
    dlnh_w = acc_hw.sum(0);
    dlnh_b = acc_hb.sum(0);
    dlnc_w = acc_cw.sum(0);
    dlnc_b = acc_cb.sum(0);
  }
  return {DG, dh0, dc0, dw_hh, dpeep, dlnh_w, dlnh_b, dlnc_w, dlnc_b, dw_hr};
}

// ---------------------------------------------------------------------------------------------
// One inference step (streaming)
// ---------------------------------------------------------------------------------------------

template <typename T>
std::vector<Tensor> step_impl(const Tensor& x, const Tensor& h, const Tensor& c,
                              const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                              const Tensor& b_hh, const Tensor& peep, const Tensor& lni_w,
                              const Tensor& lni_b, const Tensor& lnh_w, const Tensor& lnh_b,
                              const Tensor& lnc_w, const Tensor& lnc_b, const Tensor& w_hr,
                              double zone_c, double zone_h, Options op, const Tensor& h_out,
                              const Tensor& c_out) {
  const int64_t B = x.size(0), I = x.size(1), R = h.size(1), H = c.size(1);
  const int64_t GH = w_hh.size(0);
  const bool proj = w_hr.defined();
  const auto opt = x.options();
  const int64_t W = std::max({GH, R, H});
  // scratch: gates (B, GH), LN scratch (B, GH), activations (GH), hy (B, H), tanh(c) (H),
  // bias (GH), zeros, ones
  Tensor scratch = at::empty({2 * B * GH + GH + B * H + H + GH + 2 * W}, opt);
  T* gates = scratch.data_ptr<T>();
  T* tmp = gates + B * GH;
  T* act = tmp + B * GH;
  T* hy = act + GH;
  T* tc = hy + B * H;  // tanh(c) is not kept: one row's scratch
  T* bias = tc + H;
  T* z0 = bias + GH;
  T* one = z0 + W;
  std::fill(z0, z0 + W, T(0));
  std::fill(one, one + W, T(1));
  {
    const T* bi = ptr_or<T>(b_ih, z0);
    const T* bh = ptr_or<T>(b_hh, z0);
#pragma omp simd
    for (int64_t j = 0; j < GH; ++j) bias[j] = bi[j] + bh[j];
  }
  Tensor h_new = h_out.defined() ? h_out : at::empty({B, R}, opt);
  Tensor c_new = c_out.defined() ? c_out : at::empty({B, H}, opt);

  const T* xp = x.data_ptr<T>();
  const T* hp = h.data_ptr<T>();
  const T* cp = c.data_ptr<T>();
  const T* bias_p = bias;
  const T* pi = peep.defined() ? peep.data_ptr<T>() : z0;
  const T* pf = (peep.defined() && !op.coupled) ? pi + H : z0;
  const T* po = peep.defined() ? pi + (op.coupled ? 1 : 2) * H : z0;
  T* hn = h_new.data_ptr<T>();
  T* cn = c_new.data_ptr<T>();

  const T* wih = w_ih.data_ptr<T>();
  const T* whh = w_hh.data_ptr<T>();
  SerialBlas serial(B * GH * (I + R) < kSerialStepMacs);
  if (B <= 4 && !op.layer_norm) {
    // A few rows: bias + W_ih x + W_hh h as dot products, each weight read once. Single-threaded:
    // a step is too short for a fork-join to pay, and on a busy machine the join waits for a
    // descheduled thread.
    for (int64_t b = 0; b < B; ++b) {
      T* gb = gates + b * GH;
      std::copy(bias_p, bias_p + GH, gb);
      gemv_rows<T>(wih, I, xp + b * I, gb, GH);
      gemv_rows<T>(whh, R, hp + b * R, gb, GH);
    }
  } else if (op.layer_norm) {
    const T* ai_w = ptr_or<T>(lni_w, one);
    const T* ai_b = ptr_or<T>(lni_b, z0);
    const T* ah_w = ptr_or<T>(lnh_w, one);
    const T* ah_b = ptr_or<T>(lnh_b, z0);
    gemm<T>(false, true, B, GH, I, T(1), xp, I, wih, I, T(0), gates, GH);
    gemm<T>(false, true, B, GH, R, T(1), hp, R, whh, R, T(0), tmp, GH);
    for (int64_t b = 0; b < B; ++b) {
      T* g = gates + b * GH;
      T* u = tmp + b * GH;
      normalise(g, g, GH, op.eps);
      normalise(u, u, GH, op.eps);
#pragma omp simd
      for (int64_t j = 0; j < GH; ++j)
        g[j] = g[j] * ai_w[j] + ai_b[j] + u[j] * ah_w[j] + ah_b[j] + bias_p[j];
    }
  } else {
    for (int64_t b = 0; b < B; ++b) std::copy(bias_p, bias_p + GH, gates + b * GH);
    gemm<T>(false, true, B, GH, I, T(1), xp, I, wih, I, T(1), gates, GH);
    gemm<T>(false, true, B, GH, R, T(1), hp, R, whh, R, T(1), gates, GH);
  }
  const T* gc_w = ptr_or<T>(lnc_w, one);
  const T* gc_b = ptr_or<T>(lnc_b, z0);
  const T zc = T(zone_c), zh = T(zone_h);
  for (int64_t b = 0; b < B; ++b) {
    T mean_c, rstd_c;
    T* cnb = cn + b * H;
    const T* cpb = cp + b * H;
    cell_row<T>(gates + b * GH, cpb, pi, pf, po, op.coupled, op.layer_norm, gc_w, gc_b, op.eps,
                H, act, cnb, tc, hy + b * H, &mean_c, &rstd_c);
    if (zc != T(0)) {
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) cnb[j] = zone(cnb[j], cpb[j], zc);
    }
  }
  const T* hsrc = hy;
  if (proj) {
    gemm<T>(false, true, B, R, H, T(1), hy, H, w_hr.data_ptr<T>(), H, T(0), hn, R);
    hsrc = hn;
  }
  const int64_t n = B * R;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) hn[j] = zone(hsrc[j], hp[j], zh);
  return {h_new, c_new};
}

Tensor opt_tensor(const c10::optional<Tensor>& t) { return t.has_value() ? *t : Tensor(); }

void check_cpu_contiguous(const Tensor& t, const char* name, at::ScalarType dtype) {
  if (!t.defined()) return;
  TORCH_CHECK(t.device().is_cpu(), "lstmkit fused kernel: ", name, " must be on the CPU, got ",
              t.device());
  TORCH_CHECK(t.is_contiguous(), "lstmkit fused kernel: ", name, " must be contiguous");
  TORCH_CHECK(t.scalar_type() == dtype, "lstmkit fused kernel: ", name, " must be ", dtype,
              ", got ", t.scalar_type());
}

void check_size(const Tensor& t, const char* name, std::vector<int64_t> shape,
                const char* who = "lstmkit step") {
  if (!t.defined()) return;
  TORCH_CHECK(t.sizes() == at::IntArrayRef(shape), who, ": ", name, " must have shape ",
              at::IntArrayRef(shape), ", got ", t.sizes());
}

using OptT = c10::optional<Tensor>;

std::vector<Tensor> scan_forward(const Tensor& xg, const Tensor& h0, const Tensor& c0,
                                 const Tensor& w_hh, const OptT& peep, const OptT& lnh_w,
                                 const OptT& lnh_b, const OptT& lnc_w, const OptT& lnc_b,
                                 const OptT& w_hr, const OptT& valid, const OptT& reset,
                                 const OptT& h_drop, const OptT& zc, const OptT& zh,
                                 bool coupled, bool layer_norm, double eps, bool save) {
  const auto dt = xg.scalar_type();
  const std::vector<std::pair<Tensor, const char*>> float_args = {
      {xg, "xg"}, {h0, "h0"}, {c0, "c0"}, {w_hh, "weight_hh"},
      {opt_tensor(peep), "weight_peephole"}, {opt_tensor(lnh_w), "ln_hh_weight"},
      {opt_tensor(lnh_b), "ln_hh_bias"}, {opt_tensor(lnc_w), "ln_c_weight"},
      {opt_tensor(lnc_b), "ln_c_bias"}, {opt_tensor(w_hr), "weight_hr"},
      {opt_tensor(h_drop), "h_dropout"}, {opt_tensor(zc), "zoneout_c"},
      {opt_tensor(zh), "zoneout_h"}};
  for (const auto& [t, name] : float_args) check_cpu_contiguous(t, name, dt);
  check_cpu_contiguous(opt_tensor(valid), "valid", at::kBool);
  check_cpu_contiguous(opt_tensor(reset), "reset", at::kBool);
  // every shape, before any pointer arithmetic relies on it
  const char* who = "lstmkit fused kernel";
  TORCH_CHECK(xg.dim() == 3 && xg.size(0) >= 1,
              "lstmkit fused kernel: xg must be (T, B, G*H) with T >= 1, got ", xg.sizes());
  TORCH_CHECK(c0.dim() == 2, "lstmkit fused kernel: c0 must be (B, H), got ", c0.sizes());
  TORCH_CHECK(!w_hr.has_value() || w_hr->dim() == 2,
              "lstmkit fused kernel: weight_hr must be (R, H), got ", opt_tensor(w_hr).sizes());
  // H from the cell state, R (the hidden state's width) from the projection or H
  const int64_t Tn = xg.size(0), B = xg.size(1), H = c0.size(1);
  const int64_t R = w_hr.has_value() ? w_hr->size(0) : H;
  const int64_t G = coupled ? 3 : 4;
  check_size(xg, "xg", {Tn, B, G * H}, who);
  check_size(c0, "c0", {B, H}, who);
  check_size(h0, "h0", {B, R}, who);
  check_size(w_hh, "weight_hh", {G * H, R}, who);
  check_size(opt_tensor(w_hr), "weight_hr", {R, H}, who);
  check_size(opt_tensor(peep), "weight_peephole", {coupled ? 2 : 3, H}, who);
  check_size(opt_tensor(lnh_w), "ln_hh_weight", {G * H}, who);
  check_size(opt_tensor(lnh_b), "ln_hh_bias", {G * H}, who);
  check_size(opt_tensor(lnc_w), "ln_c_weight", {H}, who);
  check_size(opt_tensor(lnc_b), "ln_c_bias", {H}, who);
  check_size(opt_tensor(valid), "valid", {Tn, B}, who);
  check_size(opt_tensor(reset), "reset", {Tn, B}, who);
  check_size(opt_tensor(h_drop), "h_dropout", {B, R}, who);
  check_size(opt_tensor(zc), "zoneout_c", {Tn, B, H}, who);
  check_size(opt_tensor(zh), "zoneout_h", {Tn, B, R}, who);
  Options op{coupled, layer_norm, eps};
  std::vector<Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(dt, "lstmkit_scan_forward", [&] {
    res = forward_impl<scalar_t>(xg, h0, c0, w_hh, opt_tensor(peep), opt_tensor(lnh_w),
                                 opt_tensor(lnh_b), opt_tensor(lnc_w), opt_tensor(lnc_b),
                                 opt_tensor(w_hr), opt_tensor(valid), opt_tensor(reset),
                                 opt_tensor(h_drop), opt_tensor(zc), opt_tensor(zh), op, save);
  });
  return res;
}

std::vector<Tensor> scan_backward(const Tensor& g_out, const Tensor& g_hn, const Tensor& g_cn,
                                  const std::vector<Tensor>& saved, const Tensor& w_hh,
                                  const OptT& peep, const OptT& lnh_w, const OptT& lnc_w,
                                  const OptT& w_hr, const OptT& valid, const OptT& reset,
                                  const OptT& h_drop, const OptT& zc, const OptT& zh,
                                  bool coupled, bool layer_norm) {
  TORCH_CHECK(saved.size() == 10, "lstmkit fused kernel: expected 10 saved tensors");
  Options op{coupled, layer_norm, 0.0};
  const Tensor go = g_out.contiguous(), gh = g_hn.contiguous(), gc = g_cn.contiguous();
  std::vector<Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(go.scalar_type(), "lstmkit_scan_backward", [&] {
    res = backward_impl<scalar_t>(go, gh, gc, saved[0], saved[1], saved[2], saved[3], saved[4],
                                  saved[5], saved[6], saved[7], saved[8], saved[9], w_hh,
                                  opt_tensor(peep), opt_tensor(lnh_w), opt_tensor(lnc_w),
                                  opt_tensor(w_hr), opt_tensor(valid), opt_tensor(reset),
                                  opt_tensor(h_drop), opt_tensor(zc), opt_tensor(zh), op);
  });
  return res;
}

// ---------------------------------------------------------------------------------------------
// The scan as torch operators
// ---------------------------------------------------------------------------------------------
//
// lstmkit::scan is what Python calls: a differentiable operator whose autograd kernel runs
// lstmkit::scan_forward (outputs and the buffers the backward needs) and lstmkit::scan_backward.
// Registered with the dispatcher rather than called through Python, the scan is one node of a
// torch.jit.trace (which torch.jit.save can store), and its Meta kernels give the shapes that
// torch.export and torch.compile trace with.

constexpr int kSaved = 10;  // buffers scan_forward keeps for the backward
constexpr int kDiff = 10;   // differentiable inputs: xg, h0, c0 and seven weights

// Every buffer as a tensor: one a configuration does not use is an empty tensor, as the
// operator schema's Tensor[] holds no undefined ones.
std::vector<Tensor> defined_or_empty(std::vector<Tensor> ts, const at::TensorOptions& opt) {
  for (auto& t : ts) {
    if (!t.defined()) t = at::empty({0}, opt);
  }
  return ts;
}

std::vector<Tensor> scan_forward_op(const Tensor& xg, const Tensor& h0, const Tensor& c0,
                                    const Tensor& w_hh, const OptT& peep, const OptT& lnh_w,
                                    const OptT& lnh_b, const OptT& lnc_w, const OptT& lnc_b,
                                    const OptT& w_hr, const OptT& valid, const OptT& reset,
                                    const OptT& h_drop, const OptT& zc, const OptT& zh,
                                    bool coupled, bool layer_norm, double eps) {
  return defined_or_empty(scan_forward(xg, h0, c0, w_hh, peep, lnh_w, lnh_b, lnc_w, lnc_b, w_hr,
                                       valid, reset, h_drop, zc, zh, coupled, layer_norm, eps,
                                       true),
                          xg.options());
}

std::tuple<Tensor, Tensor, Tensor> scan_cpu(const Tensor& xg, const Tensor& h0, const Tensor& c0,
                                            const Tensor& w_hh, const OptT& peep,
                                            const OptT& lnh_w, const OptT& lnh_b,
                                            const OptT& lnc_w, const OptT& lnc_b,
                                            const OptT& w_hr, const OptT& valid,
                                            const OptT& reset, const OptT& h_drop,
                                            const OptT& zc, const OptT& zh, bool coupled,
                                            bool layer_norm, double eps) {
  auto res = scan_forward(xg, h0, c0, w_hh, peep, lnh_w, lnh_b, lnc_w, lnc_b, w_hr, valid,
                          reset, h_drop, zc, zh, coupled, layer_norm, eps, false);
  return {res[0], res[1], res[2]};
}

std::vector<Tensor> scan_backward_op(const Tensor& g_out, const Tensor& g_hn, const Tensor& g_cn,
                                     at::TensorList saved, const Tensor& w_hh, const OptT& peep,
                                     const OptT& lnh_w, const OptT& lnc_w, const OptT& w_hr,
                                     const OptT& valid, const OptT& reset, const OptT& h_drop,
                                     const OptT& zc, const OptT& zh, bool coupled,
                                     bool layer_norm) {
  return defined_or_empty(scan_backward(g_out, g_hn, g_cn, saved.vec(), w_hh, peep, lnh_w, lnc_w,
                                        w_hr, valid, reset, h_drop, zc, zh, coupled,
                                        layer_norm),
                          g_out.options());
}

// Meta kernels: the shapes and dtypes alone, in symbolic sizes so that a dynamic time or batch
// dimension stays symbolic.
std::vector<Tensor> scan_forward_meta(const Tensor& xg, const Tensor& h0, const Tensor& c0,
                                      const Tensor& w_hh, const OptT& peep, const OptT& lnh_w,
                                      const OptT& lnh_b, const OptT& lnc_w, const OptT& lnc_b,
                                      const OptT& w_hr, const OptT& valid, const OptT& reset,
                                      const OptT& h_drop, const OptT& zc, const OptT& zh,
                                      bool coupled, bool layer_norm, double eps) {
  const auto opt = xg.options();
  const c10::SymInt Tn = xg.sym_size(0), B = xg.sym_size(1), GH = xg.sym_size(2);
  const c10::SymInt R = h0.sym_size(1), H = c0.sym_size(1);
  auto empty = [&](std::vector<c10::SymInt> shape) { return at::empty_symint(shape, opt); };
  auto none = [&]() { return at::empty({0}, opt); };
  return {empty({Tn, B, R}), empty({B, R}), empty({B, H}),
          empty({Tn, B, R}), empty({Tn, B, GH}), empty({Tn, B, H}), empty({Tn, B, H}),
          empty({Tn, B, H}), w_hr.has_value() ? empty({Tn, B, H}) : none(),
          layer_norm ? empty({Tn, B, GH}) : none(), layer_norm ? empty({Tn, B}) : none(),
          layer_norm ? empty({Tn, B}) : none(), layer_norm ? empty({Tn, B}) : none()};
}

std::tuple<Tensor, Tensor, Tensor> scan_meta(const Tensor& xg, const Tensor& h0,
                                             const Tensor& c0, const Tensor& w_hh,
                                             const OptT& peep, const OptT& lnh_w,
                                             const OptT& lnh_b, const OptT& lnc_w,
                                             const OptT& lnc_b, const OptT& w_hr,
                                             const OptT& valid, const OptT& reset,
                                             const OptT& h_drop, const OptT& zc, const OptT& zh,
                                             bool coupled, bool layer_norm, double eps) {
  const auto opt = xg.options();
  const c10::SymInt Tn = xg.sym_size(0), B = xg.sym_size(1);
  const c10::SymInt R = h0.sym_size(1), H = c0.sym_size(1);
  return {at::empty_symint({Tn, B, R}, opt), at::empty_symint({B, R}, opt),
          at::empty_symint({B, H}, opt)};
}

std::vector<Tensor> scan_backward_meta(const Tensor& g_out, const Tensor& g_hn,
                                       const Tensor& g_cn, at::TensorList saved,
                                       const Tensor& w_hh, const OptT& peep, const OptT& lnh_w,
                                       const OptT& lnc_w, const OptT& w_hr, const OptT& valid,
                                       const OptT& reset, const OptT& h_drop, const OptT& zc,
                                       const OptT& zh, bool coupled, bool layer_norm) {
  const auto opt = g_out.options();
  auto like = [&](const OptT& t) {
    return t.has_value() ? at::empty_symint(t->sym_sizes(), opt) : at::empty({0}, opt);
  };
  const c10::SymInt GH = w_hh.sym_size(0), H = saved[2].sym_size(2);
  const OptT ln_gh = layer_norm ? OptT(at::empty_symint({GH}, opt)) : OptT();
  const OptT ln_h = layer_norm ? OptT(at::empty_symint({H}, opt)) : OptT();
  return {at::empty_symint(saved[1].sym_sizes(), opt), like(g_hn), like(g_cn), like(w_hh),
          like(peep), like(ln_gh), like(ln_gh), like(ln_h), like(ln_h), like(w_hr)};
}

// The autograd kernel of lstmkit::scan.
class ScanFunction : public torch::autograd::Function<ScanFunction> {
 public:
  static torch::autograd::variable_list forward(
      torch::autograd::AutogradContext* ctx, const Tensor& xg, const Tensor& h0,
      const Tensor& c0, const Tensor& w_hh, const OptT& peep, const OptT& lnh_w,
      const OptT& lnh_b, const OptT& lnc_w, const OptT& lnc_b, const OptT& w_hr,
      const OptT& valid, const OptT& reset, const OptT& h_drop, const OptT& zc, const OptT& zh,
      bool coupled, bool layer_norm, double eps) {
    at::AutoDispatchBelowADInplaceOrView below;
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("lstmkit::scan_forward", "")
                         .typed<decltype(scan_forward_op)>();
    auto res = op.call(xg, h0, c0, w_hh, peep, lnh_w, lnh_b, lnc_w, lnc_b, w_hr, valid, reset,
                       h_drop, zc, zh, coupled, layer_norm, eps);
    const Tensor none = at::empty({0}, xg.options());
    auto or_none = [&](const OptT& t) { return t.has_value() ? *t : none; };
    std::vector<Tensor> keep(res.begin() + 3, res.end());
    for (const OptT& t : {OptT(w_hh), peep, lnh_w, lnc_w, w_hr, valid, reset, h_drop, zc, zh})
      keep.push_back(or_none(t));
    ctx->save_for_backward(keep);
    // which optional inputs were given, so that absent ones get no gradient
    ctx->saved_data["present"] = std::vector<bool>{
        peep.has_value(), lnh_w.has_value(), lnh_b.has_value(), lnc_w.has_value(),
        lnc_b.has_value(), w_hr.has_value(), valid.has_value(), reset.has_value(),
        h_drop.has_value(), zc.has_value(), zh.has_value()};
    ctx->saved_data["coupled"] = coupled;
    ctx->saved_data["layer_norm"] = layer_norm;
    return {res[0], res[1], res[2]};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    // autograd runs a backward in grad mode only when it builds a graph for a second
    // derivative (create_graph=True); the kernel's backward is not differentiable
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "the fused CPU kernel has no second derivative (a backward with "
                "create_graph=True, e.g. for a gradient penalty); use backend='reference', or "
                "backend='torch' for a plain LSTM (the fused kernel serves it with lengths= or a "
                "PackedSequence)");
    const auto saved = ctx->get_saved_variables();
    const auto present = ctx->saved_data["present"].toBoolList().vec();
    std::vector<Tensor> buffers(saved.begin(), saved.begin() + kSaved);
    const Tensor* w = saved.data() + kSaved;  // w_hh, peep, lnh_w, lnc_w, w_hr, masks
    auto opt = [&](int i, bool given) { return given ? OptT(w[i]) : OptT(); };
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("lstmkit::scan_backward", "")
                         .typed<decltype(scan_backward_op)>();
    auto d = op.call(grads[0], grads[1], grads[2], buffers, w[0], opt(1, present[0]),
                     opt(2, present[1]), opt(3, present[3]), opt(4, present[5]),
                     opt(5, present[6]), opt(6, present[7]), opt(7, present[8]),
                     opt(8, present[9]), opt(9, present[10]),
                     ctx->saved_data["coupled"].toBool(), ctx->saved_data["layer_norm"].toBool());
    // d: xg, h0, c0, w_hh, then the seven optional weights (present[0..5])
    torch::autograd::variable_list out(kDiff + 8);
    for (int i = 0; i < 4; ++i) out[i] = d[i];
    for (int i = 0; i < 6; ++i) out[4 + i] = present[i] ? d[4 + i] : Tensor();
    return out;
  }
};

// lstmkit::scan through the dispatcher, for the kernels that redispatch below themselves
const c10::TypedOperatorHandle<decltype(scan_cpu)>& scan_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("lstmkit::scan", "")
                             .typed<decltype(scan_cpu)>();
  return op;
}

bool any_requires_grad(std::initializer_list<OptT> ts) {
  for (const OptT& t : ts) {
    if (t.has_value() && t->requires_grad()) return true;
  }
  return false;
}

std::tuple<Tensor, Tensor, Tensor> scan_autograd(
    const Tensor& xg, const Tensor& h0, const Tensor& c0, const Tensor& w_hh, const OptT& peep,
    const OptT& lnh_w, const OptT& lnh_b, const OptT& lnc_w, const OptT& lnc_b, const OptT& w_hr,
    const OptT& valid, const OptT& reset, const OptT& h_drop, const OptT& zc, const OptT& zh,
    bool coupled, bool layer_norm, double eps) {
  if (!at::GradMode::is_enabled() ||
      !any_requires_grad({xg, h0, c0, w_hh, peep, lnh_w, lnh_b, lnc_w, lnc_b, w_hr})) {
    // nothing to differentiate: the outputs alone, no buffers kept
    at::AutoDispatchBelowADInplaceOrView below;
    return scan_op().call(xg, h0, c0, w_hh, peep, lnh_w, lnh_b, lnc_w, lnc_b, w_hr, valid,
                          reset, h_drop, zc, zh, coupled, layer_norm, eps);
  }
  auto res = ScanFunction::apply(xg, h0, c0, w_hh, peep, lnh_w, lnh_b, lnc_w, lnc_b, w_hr, valid,
                                 reset, h_drop, zc, zh, coupled, layer_norm, eps);
  return {res[0], res[1], res[2]};
}

// The autocast kernel: the scan runs in float32 under mixed precision, as the Python caller
// runs it in eager mode; a replayed jit trace, which does not record the caller's
// autocast-disabled block, hands it a bfloat16 or float16 input product.
std::tuple<Tensor, Tensor, Tensor> scan_autocast(
    const Tensor& xg, const Tensor& h0, const Tensor& c0, const Tensor& w_hh, const OptT& peep,
    const OptT& lnh_w, const OptT& lnh_b, const OptT& lnc_w, const OptT& lnc_b, const OptT& w_hr,
    const OptT& valid, const OptT& reset, const OptT& h_drop, const OptT& zc, const OptT& zh,
    bool coupled, bool layer_norm, double eps) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  auto f32 = [](const Tensor& t) {
    const auto dt = t.scalar_type();
    return dt == at::kBFloat16 || dt == at::kHalf ? t.to(at::kFloat) : t;
  };
  auto opt32 = [&](const OptT& t) { return t.has_value() ? OptT(f32(*t)) : t; };
  return scan_op().call(f32(xg), f32(h0), f32(c0), f32(w_hh), opt32(peep), opt32(lnh_w),
                        opt32(lnh_b), opt32(lnc_w), opt32(lnc_b), opt32(w_hr), valid, reset,
                        opt32(h_drop), opt32(zc), opt32(zh), coupled, layer_norm, eps);
}


std::vector<Tensor> step(const Tensor& x, const Tensor& h, const Tensor& c, const Tensor& w_ih,
                         const Tensor& w_hh, const OptT& b_ih, const OptT& b_hh,
                         const OptT& peep, const OptT& lni_w, const OptT& lni_b,
                         const OptT& lnh_w, const OptT& lnh_b, const OptT& lnc_w,
                         const OptT& lnc_b, const OptT& w_hr, double zone_c, double zone_h,
                         bool coupled, bool layer_norm, double eps, const OptT& h_out,
                         const OptT& c_out) {
  const auto dt = x.scalar_type();
  TORCH_CHECK(x.dim() == 2 && h.dim() == 2 && c.dim() == 2,
              "lstmkit step: x_t (B, I), h (B, R) and c (B, H) must be 2-d");
  const int64_t B = x.size(0), I = x.size(1), R = h.size(1), H = c.size(1);
  const int64_t GH = (coupled ? 3 : 4) * H;
  const std::vector<std::pair<Tensor, const char*>> args = {
      {x, "x_t"}, {h, "h"}, {c, "c"}, {w_ih, "weight_ih"}, {w_hh, "weight_hh"},
      {opt_tensor(b_ih), "bias_ih"}, {opt_tensor(b_hh), "bias_hh"},
      {opt_tensor(peep), "weight_peephole"}, {opt_tensor(lni_w), "ln_ih_weight"},
      {opt_tensor(lni_b), "ln_ih_bias"}, {opt_tensor(lnh_w), "ln_hh_weight"},
      {opt_tensor(lnh_b), "ln_hh_bias"}, {opt_tensor(lnc_w), "ln_c_weight"},
      {opt_tensor(lnc_b), "ln_c_bias"}, {opt_tensor(w_hr), "weight_hr"},
      {opt_tensor(h_out), "h_out"}, {opt_tensor(c_out), "c_out"}};
  for (const auto& [t, name] : args) check_cpu_contiguous(t, name, dt);
  check_size(h, "h", {B, R});
  check_size(c, "c", {B, H});
  check_size(w_ih, "weight_ih", {GH, I});
  check_size(w_hh, "weight_hh", {GH, R});
  for (const auto& [t, name] : args) {
    const std::string n(name);
    if (n == "bias_ih" || n == "bias_hh" || n.rfind("ln_ih", 0) == 0 || n.rfind("ln_hh", 0) == 0)
      check_size(t, name, {GH});
    else if (n.rfind("ln_c", 0) == 0)
      check_size(t, name, {H});
  }
  check_size(opt_tensor(peep), "weight_peephole", {coupled ? 2 : 3, H});
  check_size(opt_tensor(h_out), "h_out", {B, R});
  check_size(opt_tensor(c_out), "c_out", {B, H});
  if (w_hr.has_value()) check_size(*w_hr, "weight_hr", {R, H});
  else TORCH_CHECK(R == H, "lstmkit step: h must have H = ", H, " columns without weight_hr");
  TORCH_CHECK(!h_out.has_value() || !h_out->is_same(h),
              "lstmkit step: h_out must not be the input h");
  TORCH_CHECK(!c_out.has_value() || !c_out->is_same(c),
              "lstmkit step: c_out must not be the input c");
  Options op{coupled, layer_norm, eps};
  std::vector<Tensor> res;
  AT_DISPATCH_FLOATING_TYPES(dt, "lstmkit_step", [&] {
    res = step_impl<scalar_t>(x, h, c, w_ih, w_hh, opt_tensor(b_ih), opt_tensor(b_hh),
                              opt_tensor(peep), opt_tensor(lni_w), opt_tensor(lni_b),
                              opt_tensor(lnh_w), opt_tensor(lnh_b), opt_tensor(lnc_w),
                              opt_tensor(lnc_b), opt_tensor(w_hr), zone_c, zone_h, op,
                              opt_tensor(h_out), opt_tensor(c_out));
  });
  return res;
}

// A whole unidirectional stack, one step: x (B, I), h (L, B, R), c (L, B, H); `weights` holds
// 12 entries per layer in CellWeights' order. Returns the top output (B, R), h_new, c_new.
std::vector<Tensor> step_stack(const Tensor& x, const Tensor& h, const Tensor& c,
                               const std::vector<OptT>& weights, double zone_c, double zone_h,
                               bool coupled, bool layer_norm, double eps) {
  TORCH_CHECK(h.dim() == 3 && c.dim() == 3, "lstmkit step: h (L, B, R) and c (L, B, H)");
  const int64_t L = h.size(0);
  TORCH_CHECK(static_cast<int64_t>(weights.size()) == 12 * L,
              "lstmkit step: expected 12 weight entries per layer, got ", weights.size(),
              " for ", L, " layers");
  const Tensor hc = h.contiguous(), cc = c.contiguous();
  Tensor h_new = at::empty_like(hc), c_new = at::empty_like(cc);
  Tensor input = x.contiguous();
  // a module's weights may be views (a transposed copy assigned to .data); forward takes them
  std::vector<OptT> dense;
  dense.reserve(weights.size());
  for (const auto& t : weights) dense.push_back(t.has_value() ? OptT(t->contiguous()) : t);
  for (int64_t l = 0; l < L; ++l) {
    const OptT* w = dense.data() + 12 * l;
    TORCH_CHECK(w[0].has_value() && w[1].has_value(),
                "lstmkit step: weight_ih and weight_hh are required");
    // CellWeights order: ih, hh, b_ih, b_hh, hr, peephole, ln_ih w/b, ln_hh w/b, ln_c w/b
    step(input, hc[l], cc[l], *w[0], *w[1], w[2], w[3], w[5], w[6], w[7], w[8], w[9], w[10],
         w[11], w[4], zone_c, zone_h, coupled, layer_norm, eps, h_new[l], c_new[l]);
    input = h_new[l];
  }
  return {input, h_new, c_new};
}

// ---------------------------------------------------------------------------------------------
// Keep masks (zoneout): a counter-based sampler, the same stream as
// lstmkit.nn.functional.keep_mask computes with torch operations
// ---------------------------------------------------------------------------------------------

// SplitMix64's output function (Steele, Lea & Flood 2014). Word w of a stream is
// mix64(seed + (w + 1) * golden gamma): SplitMix64's w-th output, computable out of order, so
// that threads fill disjoint ranges and the result does not depend on their number.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Word w of the stream `key`.
inline uint64_t stream_word(uint64_t key, int64_t w) {
  return mix64(key + static_cast<uint64_t>(w + 1) * 0x9E3779B97F4A7C15ULL);
}

// 1 when the 32-bit number u is below `threshold`, else 0.
template <typename T>
inline T keep(uint64_t u, uint64_t threshold) {
  return static_cast<T>(u < threshold ? 1.0f : 0.0f);
}

// Words [w0, w1) of the stream `key` as 0/1 into o[2 * w0, 2 * w1).
template <typename T>
void keep_words(uint64_t key, uint64_t threshold, int64_t w0, int64_t w1, T* __restrict o) {
#pragma omp simd
  for (int64_t w = w0; w < w1; ++w) {
    const uint64_t r = stream_word(key, w);
    o[2 * w] = keep<T>(r & 0xFFFFFFFFULL, threshold);
    o[2 * w + 1] = keep<T>(r >> 32, threshold);
  }
}

// A tensor of `size` in `dtype`, each element 1 with probability p, else 0: element k is 1 when
// the 32-bit number u_k < floor(p * 2^32 + 1/2), u_k the low (k even) or high (k odd) half of word
// k / 2. Several times faster than torch.rand(...) < p on CPU (torch's generator is serial).
Tensor keep_mask(const Tensor& seed, c10::SymIntArrayRef size, double p, c10::ScalarType dtype) {
  TORCH_CHECK(seed.numel() == 1 && seed.scalar_type() == at::kLong,
              "lstmkit keep_mask: seed must be one int64, got ", seed.scalar_type(), " of shape ",
              seed.sizes());
  TORCH_CHECK(p >= 0 && p <= 1, "lstmkit keep_mask: p must be in [0, 1], got ", p);
  const uint64_t key = static_cast<uint64_t>(seed.item<int64_t>());
  // floor(p * 2^32 + 1/2), as the torch sampler computes it; <= 2^32
  const uint64_t threshold = static_cast<uint64_t>(p * 4294967296.0 + 0.5);
  Tensor out = at::empty(C10_AS_INTARRAYREF_SLOW(size), seed.options().dtype(dtype));
  const int64_t n = out.numel();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, "keep_mask", [&] {
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, n / 2, 1 << 14, [&](int64_t w0, int64_t w1) {
      keep_words(key, threshold, w0, w1, o);
    });
    if (n % 2 == 1) {  // the last word's low half
      o[n - 1] = keep<scalar_t>(stream_word(key, n / 2) & 0xFFFFFFFFULL, threshold);
    }
  });
  return out;
}

Tensor keep_mask_meta(const Tensor& seed, c10::SymIntArrayRef size, double p,
                      c10::ScalarType dtype) {
  return at::empty_symint(size, seed.options().dtype(dtype));
}

}  // namespace

#define LSTMKIT_SCAN_ARGS                                                                     \
  "Tensor xg, Tensor h0, Tensor c0, Tensor weight_hh, Tensor? weight_peephole, "              \
  "Tensor? ln_hh_weight, Tensor? ln_hh_bias, Tensor? ln_c_weight, Tensor? ln_c_bias, "        \
  "Tensor? weight_hr, Tensor? valid, Tensor? reset, Tensor? h_dropout, Tensor? zoneout_c, "   \
  "Tensor? zoneout_h, bool coupled_gates, bool layer_norm, float eps"

TORCH_LIBRARY(lstmkit, m) {
  m.def("scan(" LSTMKIT_SCAN_ARGS ") -> (Tensor output, Tensor h_n, Tensor c_n)");
  m.def("scan_forward(" LSTMKIT_SCAN_ARGS ") -> Tensor[]");
  m.def("scan_backward(Tensor g_out, Tensor g_hn, Tensor g_cn, Tensor[] saved, "
        "Tensor weight_hh, Tensor? weight_peephole, Tensor? ln_hh_weight, Tensor? ln_c_weight, "
        "Tensor? weight_hr, Tensor? valid, Tensor? reset, Tensor? h_dropout, Tensor? zoneout_c, "
        "Tensor? zoneout_h, bool coupled_gates, bool layer_norm) -> Tensor[]");
  m.def("keep_mask(Tensor seed, SymInt[] size, float p, ScalarType dtype) -> Tensor");
}

TORCH_LIBRARY_IMPL(lstmkit, CPU, m) {
  m.impl("scan", &scan_cpu);
  m.impl("scan_forward", &scan_forward_op);
  m.impl("scan_backward", &scan_backward_op);
  m.impl("keep_mask", &keep_mask);
}

TORCH_LIBRARY_IMPL(lstmkit, Meta, m) {
  m.impl("scan", &scan_meta);
  m.impl("scan_forward", &scan_forward_meta);
  m.impl("scan_backward", &scan_backward_meta);
  m.impl("keep_mask", &keep_mask_meta);
}

TORCH_LIBRARY_IMPL(lstmkit, Autograd, m) { m.impl("scan", &scan_autograd); }

TORCH_LIBRARY_IMPL(lstmkit, AutocastCPU, m) { m.impl("scan", &scan_autocast); }

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("step_stack", &step_stack, "one step of a unidirectional stack, for inference");
  m.def("step", &step, "one LSTM step for inference");
}
