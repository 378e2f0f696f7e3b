/* A stand-in for the NVIDIA driver's libcuda.so.1, for tests on machines without a GPU. What it reports comes from
 * the environment, read at every call:
 *   FAKE_CUDA_VERSION     the CUDA version the driver supports, as cuDriverGetVersion encodes it (default 12040)
 *   FAKE_CUDA_DEVICES     "NAME=MAJOR.MINOR,NAME=MAJOR.MINOR,..." (default: no GPU)
 *   FAKE_CUDA_INIT_ERROR  a CUresult for cuInit to fail with
 * Built by the fake_libcuda fixture (tests/conftest.py) with soname libcuda.so.1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;

enum { CUDA_SUCCESS = 0, CUDA_ERROR_INVALID_VALUE = 1, CUDA_ERROR_NO_DEVICE = 100, CUDA_ERROR_INVALID_DEVICE = 101,
       CUDA_ERROR_NOT_SUPPORTED = 801, CUDA_ERROR_UNKNOWN = 999 };
enum { COMPUTE_CAPABILITY_MAJOR = 75, COMPUTE_CAPABILITY_MINOR = 76 };

/* Copies device `index`'s "NAME=MAJOR.MINOR" entry into entry; 0 when there is no such device. */
static int device_entry(int index, char *entry, size_t size) {
    const char *devices = getenv("FAKE_CUDA_DEVICES");
    if (!devices || !*devices) return 0;
    for (int i = 0; i <= index; i++) {
        const char *end = strchr(devices, ',');
        size_t length = end ? (size_t)(end - devices) : strlen(devices);
        if (i == index) {
            snprintf(entry, size, "%.*s", (int)length, devices);
            return 1;
        }
        if (!end) return 0;
        devices = end + 1;
    }
    return 0;
}

static int device_count(void) {
    char entry[512];
    int count = 0;
    while (device_entry(count, entry, sizeof entry)) count++;
    return count;
}

CUresult cuDriverGetVersion(int *version) {
    const char *value = getenv("FAKE_CUDA_VERSION");
    *version = value ? atoi(value) : 12040;
    return CUDA_SUCCESS;
}

CUresult cuInit(unsigned int flags) {
    const char *error = getenv("FAKE_CUDA_INIT_ERROR");
    (void)flags;
    if (error) return atoi(error);
    return device_count() ? CUDA_SUCCESS : CUDA_ERROR_NO_DEVICE;
}

CUresult cuDeviceGetCount(int *count) {
    *count = device_count();
    return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice *device, int ordinal) {
    if (ordinal < 0 || ordinal >= device_count()) return CUDA_ERROR_INVALID_DEVICE;
    *device = ordinal;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char *name, int length, CUdevice device) {
    char entry[512];
    if (!device_entry(device, entry, sizeof entry)) return CUDA_ERROR_INVALID_DEVICE;
    char *equals = strrchr(entry, '=');
    if (equals) *equals = '\0';
    snprintf(name, (size_t)length, "%s", entry);
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int *value, int attribute, CUdevice device) {
    char entry[512];
    int major = 0, minor = 0;
    if (!device_entry(device, entry, sizeof entry)) return CUDA_ERROR_INVALID_DEVICE;
    char *equals = strrchr(entry, '=');
    if (!equals || sscanf(equals + 1, "%d.%d", &major, &minor) != 2) return CUDA_ERROR_INVALID_VALUE;
    if (attribute == COMPUTE_CAPABILITY_MAJOR) *value = major;
    else if (attribute == COMPUTE_CAPABILITY_MINOR) *value = minor;
    else return CUDA_ERROR_NOT_SUPPORTED;
    return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice device) {
    if (device < 0 || device >= device_count()) return CUDA_ERROR_INVALID_DEVICE;
    *bytes = (size_t)80 << 30;
    return CUDA_SUCCESS;
}

CUresult cuGetErrorName(CUresult error, const char **name) {
    switch (error) {
        case CUDA_ERROR_NO_DEVICE: *name = "CUDA_ERROR_NO_DEVICE"; return CUDA_SUCCESS;
        case CUDA_ERROR_UNKNOWN: *name = "CUDA_ERROR_UNKNOWN"; return CUDA_SUCCESS;
        default: return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult cuGetErrorString(CUresult error, const char **text) { return cuGetErrorName(error, text); }

/* The other driver functions libmxnet.so links (mxnet-cu112 1.9.1), so that MXNet loads beside this stand-in. It
 * cannot run kernels: a test that trains with it keeps MXNet on the CPU (SM_NUM_GPUS=0). */
CUresult cuDevicePrimaryCtxRetain(void) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuGraphKernelNodeGetParams(void) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuGraphNodeGetType(void) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuLaunchKernel(void) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuModuleGetFunction(void) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuModuleLoadData(void) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuModuleLoadDataEx(void) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuModuleUnload(void) { return CUDA_ERROR_NOT_SUPPORTED; }
