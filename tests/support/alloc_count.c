/* An LD_PRELOAD shim that counts heap allocations of a whole process.
 *
 * Loaded with LD_PRELOAD=libvalmesh_alloc_count.so and
 * VALMESH_ALLOC_COUNT_FILE=<path>, it creates <path> (8 bytes), maps it
 * shared, and adds one to the 64-bit counter there on every call to malloc,
 * calloc, realloc, aligned_alloc, memalign, valloc and posix_memalign
 * (libstdc++'s operator new calls malloc, so C++ allocations count too).
 * A test reads the file while the process runs: the difference between two
 * reads is the number of allocations in between. Without the variable the
 * shim only forwards.
 *
 * The real functions come from dlsym(RTLD_NEXT). dlsym may itself call
 * calloc before it has answered; those few early requests are served from a
 * small static buffer and never freed. Not for sanitizer builds: ASan and
 * TSan interpose malloc themselves (the test skips there).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef void* (*malloc_fn)(size_t);
typedef void* (*calloc_fn)(size_t, size_t);
typedef void* (*realloc_fn)(void*, size_t);
typedef void (*free_fn)(void*);
typedef void* (*aligned_alloc_fn)(size_t, size_t);
typedef void* (*memalign_fn)(size_t, size_t);
typedef void* (*valloc_fn)(size_t);
typedef int (*posix_memalign_fn)(void**, size_t, size_t);

static malloc_fn real_malloc;
static calloc_fn real_calloc;
static realloc_fn real_realloc;
static free_fn real_free;
static aligned_alloc_fn real_aligned_alloc;
static memalign_fn real_memalign;
static valloc_fn real_valloc;
static posix_memalign_fn real_posix_memalign;

/* The counter: in the mapped file once it exists, here before. */
static _Atomic uint64_t local_count;
static _Atomic(_Atomic uint64_t*) counter = &local_count;

/* Requests made while dlsym runs (before the real calloc is known). */
static _Alignas(16) unsigned char bootstrap_buffer[4096];
static size_t bootstrap_used;
static int resolving;

static int from_bootstrap(const void* p) {
  const unsigned char* c = (const unsigned char*)p;
  return c >= bootstrap_buffer &&
         c < bootstrap_buffer + sizeof(bootstrap_buffer);
}

static void* bootstrap_alloc(size_t n) {
  size_t at = (bootstrap_used + 15) & ~(size_t)15;
  if (at + n > sizeof(bootstrap_buffer)) return NULL;
  bootstrap_used = at + n;
  return bootstrap_buffer + at; /* static storage: already zeroed */
}

static void resolve(void) {
  if (real_malloc || resolving) return;
  resolving = 1;
  real_calloc = (calloc_fn)dlsym(RTLD_NEXT, "calloc");
  real_malloc = (malloc_fn)dlsym(RTLD_NEXT, "malloc");
  real_realloc = (realloc_fn)dlsym(RTLD_NEXT, "realloc");
  real_free = (free_fn)dlsym(RTLD_NEXT, "free");
  real_aligned_alloc = (aligned_alloc_fn)dlsym(RTLD_NEXT, "aligned_alloc");
  real_memalign = (memalign_fn)dlsym(RTLD_NEXT, "memalign");
  real_valloc = (valloc_fn)dlsym(RTLD_NEXT, "valloc");
  real_posix_memalign =
      (posix_memalign_fn)dlsym(RTLD_NEXT, "posix_memalign");
  resolving = 0;
}

static inline void count(void) {
  atomic_fetch_add_explicit(
      atomic_load_explicit(&counter, memory_order_relaxed), 1,
      memory_order_relaxed);
}

/* Maps the counter file named by VALMESH_ALLOC_COUNT_FILE, if any. */
__attribute__((constructor)) static void open_counter_file(void) {
  resolve();
  const char* path = getenv("VALMESH_ALLOC_COUNT_FILE");
  if (!path || !*path) return;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (ftruncate(fd, sizeof(uint64_t)) != 0) {
    close(fd);
    return;
  }
  void* p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED,
                 fd, 0);
  close(fd);
  if (p == MAP_FAILED) return;
  _Atomic uint64_t* shared = (_Atomic uint64_t*)p;
  atomic_store(shared, atomic_load(&local_count));
  atomic_store(&counter, shared);
}

void* malloc(size_t n) {
  resolve();
  if (!real_malloc) return bootstrap_alloc(n);
  count();
  return real_malloc(n);
}

void* calloc(size_t k, size_t n) {
  resolve();
  if (!real_calloc) {
    if (n && k > SIZE_MAX / n) return NULL;
    return bootstrap_alloc(k * n);
  }
  count();
  return real_calloc(k, n);
}

void* realloc(void* p, size_t n) {
  resolve();
  if (from_bootstrap(p)) {
    /* Moves a bootstrap block to the real heap (its old size is unknown:
       copy what can be there). */
    void* q = malloc(n);
    if (q) {
      size_t left = (size_t)(bootstrap_buffer + sizeof(bootstrap_buffer) -
                             (unsigned char*)p);
      memcpy(q, p, n < left ? n : left);
    }
    return q;
  }
  count();
  return real_realloc(p, n);
}

void free(void* p) {
  if (!p || from_bootstrap(p)) return;
  resolve();
  real_free(p);
}

void* aligned_alloc(size_t alignment, size_t n) {
  resolve();
  count();
  return real_aligned_alloc(alignment, n);
}

void* memalign(size_t alignment, size_t n) {
  resolve();
  count();
  return real_memalign(alignment, n);
}

void* valloc(size_t n) {
  resolve();
  count();
  return real_valloc(n);
}

int posix_memalign(void** out, size_t alignment, size_t n) {
  resolve();
  count();
  return real_posix_memalign(out, alignment, n);
}
