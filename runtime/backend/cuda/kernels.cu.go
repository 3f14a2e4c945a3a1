package cuda

// kernelSource is compiled at start with NVRTC for the GPU found, so the
// binary needs no CUDA toolkit at build time and no prebuilt cubin per
// architecture. Element-wise work follows each matrix product: bias plus
// activation fused in one pass, and row-wise softmax and layernorm.
// bf16 values are carried as unsigned short with explicit round-to-nearest-
// even, so the source needs no CUDA headers.
const kernelSource = `
typedef unsigned short bf16;
typedef long long i64;
__device__ __forceinline__ float bf2f(bf16 h) { union { unsigned int u; float f; } c; c.u = ((unsigned int)h) << 16; return c.f; }
__device__ __forceinline__ bf16 f2bf(float f) {
  union { unsigned int u; float f; } c; c.f = f;
  unsigned int u = c.u;
  if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (bf16)(u >> 16);
}
__device__ __forceinline__ float ld(const float* p, i64 i) { return p[i]; }
__device__ __forceinline__ float ld(const bf16* p, i64 i) { return bf2f(p[i]); }
__device__ __forceinline__ void st(float* p, i64 i, float v) { p[i] = v; }
__device__ __forceinline__ void st(bf16* p, i64 i, float v) { p[i] = f2bf(v); }

// act: 0 none, 1 relu, 2 gelu (erf), 3 gelu (tanh), 4 sigmoid, 5 tanh
__device__ __forceinline__ float act(float v, int a) {
  switch (a) {
  case 1: return v > 0.f ? v : 0.f;
  case 2: return 0.5f * v * (1.f + erff(v * 0.7071067811865476f));
  case 3: return 0.5f * v * (1.f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
  case 4: return 1.f / (1.f + expf(-v));
  case 5: return tanhf(v);
  }
  return v;
}

// y[r][c] = act(y[r][c] + bias[c]) over rows x n; grid.x covers columns
// (4 per thread), grid.y strides over rows, so no division per element.
template <typename T>
__device__ void bias_act(T* y, const T* bias, int rows, int n, int a) {
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    T* row = y + (i64)r * n;
    for (int c = (blockIdx.x * blockDim.x + threadIdx.x) * 4; c < n; c += gridDim.x * blockDim.x * 4) {
      #pragma unroll
      for (int k = 0; k < 4; k++) {
        if (c + k < n) {
          float v = ld(row, c + k);
          if (bias) v += ld(bias, c + k);
          st(row, c + k, act(v, a));
        }
      }
    }
  }
}
extern "C" __global__ void bias_act_f32(float* y, const float* b, int rows, int n, int a) { bias_act<float>(y, b, rows, n, a); }
extern "C" __global__ void bias_act_bf16(bf16* y, const bf16* b, int rows, int n, int a) { bias_act<bf16>(y, b, rows, n, a); }

extern "C" __global__ void f32_to_bf16(const float* x, bf16* y, i64 total) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) y[i] = f2bf(x[i]);
}
extern "C" __global__ void bf16_to_f32(const bf16* x, float* y, i64 total) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)gridDim.x * blockDim.x) y[i] = bf2f(x[i]);
}

// Block-wide sum over 256 threads.
__device__ float block_sum(float v, float* sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int w = threadIdx.x >> 5, l = threadIdx.x & 31;
  __syncthreads();
  if (l == 0) sh[w] = v;
  __syncthreads();
  float t = 0.f;
  for (int i = 0; i < (int)(blockDim.x >> 5); i++) t += sh[i];
  return t;
}
__device__ float block_max(float v, float* sh) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  int w = threadIdx.x >> 5, l = threadIdx.x & 31;
  __syncthreads();
  if (l == 0) sh[w] = v;
  __syncthreads();
  float t = sh[0];
  for (int i = 1; i < (int)(blockDim.x >> 5); i++) t = fmaxf(t, sh[i]);
  return t;
}

// One block of 256 threads per row.
template <typename T>
__device__ void softmax_rows(T* y, int rows, int n) {
  __shared__ float sh[32];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    T* row = y + (i64)r * n;
    float m = -3.402823466e38f;
    for (int c = threadIdx.x; c < n; c += blockDim.x) m = fmaxf(m, ld(row, c));
    m = block_max(m, sh);
    float s = 0.f;
    for (int c = threadIdx.x; c < n; c += blockDim.x) s += expf(ld(row, c) - m);
    s = block_sum(s, sh);
    float inv = 1.f / s;
    for (int c = threadIdx.x; c < n; c += blockDim.x) st(row, c, expf(ld(row, c) - m) * inv);
    __syncthreads();
  }
}
extern "C" __global__ void softmax_f32(float* y, int rows, int n) { softmax_rows<float>(y, rows, n); }
extern "C" __global__ void softmax_bf16(bf16* y, int rows, int n) { softmax_rows<bf16>(y, rows, n); }

template <typename T>
__device__ void layernorm_rows(T* y, const float* g, const float* b, int rows, int n, float eps) {
  __shared__ float sh[32];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    T* row = y + (i64)r * n;
    float s = 0.f;
    for (int c = threadIdx.x; c < n; c += blockDim.x) s += ld(row, c);
    float mean = block_sum(s, sh) / n;
    float q = 0.f;
    for (int c = threadIdx.x; c < n; c += blockDim.x) { float d = ld(row, c) - mean; q += d * d; }
    float inv = rsqrtf(block_sum(q, sh) / n + eps);
    for (int c = threadIdx.x; c < n; c += blockDim.x) {
      float v = (ld(row, c) - mean) * inv;
      if (g) v *= g[c];
      if (b) v += b[c];
      st(row, c, v);
    }
    __syncthreads();
  }
}
extern "C" __global__ void layernorm_f32(float* y, const float* g, const float* b, int rows, int n, float eps) { layernorm_rows<float>(y, g, b, rows, n, eps); }
extern "C" __global__ void layernorm_bf16(bf16* y, const float* g, const float* b, int rows, int n, float eps) { layernorm_rows<bf16>(y, g, b, rows, n, eps); }
`
