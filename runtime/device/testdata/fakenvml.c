// A stand-in for libnvidia-ml.so.1 with two GPUs, built by the tests with
// the system C compiler, so the dlopen path is exercised on machines with
// no NVIDIA driver. -DINIT_FAILS makes nvmlInit_v2 fail the way a machine
// with the library but no loaded kernel module does (NVML_ERROR_DRIVER_NOT_LOADED);
// -DMISSING_UUID leaves out a symbol, as a broken or too old library would.
#include <string.h>

typedef struct { int index; } *nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;

static int inits;
static struct { int index; } devs[2] = {{0}, {1}};

int nvmlInit_v2(void) {
#ifdef INIT_FAILS
	return 9;
#endif
	inits++;
	return 0;
}
int nvmlShutdown(void) { inits--; return 0; }
const char *nvmlErrorString(int r) {
	switch (r) {
	case 0: return "Success";
	case 9: return "Driver Not Loaded";
	default: return "Unknown Error";
	}
}
int nvmlSystemGetDriverVersion(char *v, unsigned int n) { strncpy(v, "580.159.04", n); return 0; }
int nvmlSystemGetCudaDriverVersion(int *v) { *v = 13000; return 0; }
int nvmlDeviceGetCount_v2(unsigned int *n) { *n = inits > 0 ? 2 : 0; return inits > 0 ? 0 : 1; }
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) {
	if (i >= 2) return 2;
	*d = (nvmlDevice_t)&devs[i];
	return 0;
}
int nvmlDeviceGetName(nvmlDevice_t d, char *v, unsigned int n) {
	strncpy(v, d->index == 0 ? "NVIDIA H100 80GB HBM3" : "NVIDIA L4", n);
	return 0;
}
#ifndef MISSING_UUID
int nvmlDeviceGetUUID(nvmlDevice_t d, char *v, unsigned int n) {
	strncpy(v, d->index == 0 ? "GPU-aaaa" : "GPU-bbbb", n);
	return 0;
}
#endif
int nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m) {
	m->total = d->index == 0 ? 85520809984ULL : 24152899584ULL;
	m->used = d->index == 0 ? 1ULL << 30 : 0;
	m->free = m->total - m->used;
	return 0;
}
int nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
	u->gpu = d->index == 0 ? 42 : 0;
	u->memory = 0;
	return 0;
}
