// Prototypes of the dlsym trampolines defined in lib.go, shared by every
// file of the package that calls them.
#include <stddef.h>
int c_i(void*, int);
int c_pp(void*, void*, void*);
int c_ppu(void*, void*, void*, unsigned int);
int c_p_i(void*, void*, int);
int c_p_pp(void*, void*, void**);
int c_graph_inst(void*, void**, void*);
int c_host_alloc(void*, void**, size_t, unsigned int);
int c_pi(void*, int*);
int c_ppsz(void*, void**, size_t);
int c_p(void*, void*);
int c_memcpy_async(void*, void*, const void*, size_t, int, void*);
int c_stream_create(void*, void**, unsigned int);
int c_attr(void*, int*, int, int);
int c_meminfo(void*, size_t*, size_t*);
int c_cu_device_get(void*, int*, int);
int c_cu_primary_retain(void*, void**, int);
int c_cu_module_load_data(void*, void**, const void*);
int c_cu_module_get_function(void*, void**, void*, const char*);
int c_cu_launch(void*, void*, unsigned, unsigned, unsigned, void*, void**);
int c_blas_create(void*, void**);
int c_blas_set_stream(void*, void*, void*);
int c_blas_gemm_ex(void*, void*, int, int, int, int, int, const float*, const void*, int, int, const void*, int, int, const float*, void*, int, int, int);
int c_blas_set_ws(void*, void*, void*, size_t);
int c_lt_desc_create(void*, void**, int, int);
int c_lt_set_attr(void*, void*, int, const void*, size_t);
int c_lt_layout_create(void*, void**, int, unsigned long long, unsigned long long, long long);
int c_lt_heuristic(void*, void*, void*, void*, void*, void*, void*, void*, void*, int*);
int c_lt_matmul(void*, void*, void*, const float*, const void*, void*, const void*, void*, const float*, void*, void*, void*, void*, const void*, void*, size_t, void*);
int c_nvrtc_create(void*, void**, const char*, const char*);
int c_nvrtc_compile(void*, void*, int, const char* const*);
int c_nvrtc_size(void*, void*, size_t*);
int c_nvrtc_get(void*, void*, char*);
int c_nvrtc_destroy(void*, void**);
