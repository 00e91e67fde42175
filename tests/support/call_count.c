/* An LD_PRELOAD shim that counts a process's socket reads and readings of
 * the monotonic clock.
 *
 * Loaded with LD_PRELOAD=libvalmesh_call_count.so and
 * VALMESH_CALL_COUNT_FILE=<path>, it creates <path> (24 bytes), maps it
 * shared, and counts in three 64-bit counters there: [0] every call to
 * recv, recvfrom and recvmsg, [1] those that found nothing to read (-1
 * with EAGAIN or EWOULDBLOCK), [2] every clock_gettime of CLOCK_MONOTONIC
 * (what std::chrono::steady_clock::now() calls). A test reads the file
 * while the process runs: the difference between two reads is the number
 * of calls in between. Without the variable the shim only forwards.
 *
 * The real functions come from dlsym(RTLD_NEXT), which allocates nothing
 * here (unlike malloc's, these are not called while dlsym runs).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

typedef ssize_t (*recv_fn)(int, void*, size_t, int);
typedef ssize_t (*recvfrom_fn)(int, void*, size_t, int, struct sockaddr*,
                               socklen_t*);
typedef ssize_t (*recvmsg_fn)(int, struct msghdr*, int);

typedef int (*clock_gettime_fn)(clockid_t, struct timespec*);

enum { counter_calls, counter_empty, counter_clock, counters };

static _Atomic uint64_t local_counts[counters];
static _Atomic(_Atomic uint64_t*) counts = local_counts;

__attribute__((constructor)) static void open_counter_file(void) {
  const char* path = getenv("VALMESH_CALL_COUNT_FILE");
  if (!path || !*path) return;
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  size_t size = sizeof(uint64_t) * counters;
  if (ftruncate(fd, (off_t)size) != 0) {
    close(fd);
    return;
  }
  void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return;
  atomic_store(&counts, (_Atomic uint64_t*)p);
}

static ssize_t counted(ssize_t result) {
  int saved = errno;
  _Atomic uint64_t* c = atomic_load(&counts);
  atomic_fetch_add(&c[counter_calls], 1);
  if (result < 0 && (saved == EAGAIN || saved == EWOULDBLOCK))
    atomic_fetch_add(&c[counter_empty], 1);
  errno = saved;
  return result;
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
  static recv_fn real;
  if (!real) real = (recv_fn)dlsym(RTLD_NEXT, "recv");
  return counted(real(fd, buf, len, flags));
}

ssize_t recvfrom(int fd, void* buf, size_t len, int flags,
                 struct sockaddr* from, socklen_t* from_len) {
  static recvfrom_fn real;
  if (!real) real = (recvfrom_fn)dlsym(RTLD_NEXT, "recvfrom");
  return counted(real(fd, buf, len, flags, from, from_len));
}

ssize_t recvmsg(int fd, struct msghdr* msg, int flags) {
  static recvmsg_fn real;
  if (!real) real = (recvmsg_fn)dlsym(RTLD_NEXT, "recvmsg");
  return counted(real(fd, msg, flags));
}

int clock_gettime(clockid_t id, struct timespec* ts) {
  static clock_gettime_fn real;
  if (!real) real = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
  if (id == CLOCK_MONOTONIC)
    atomic_fetch_add(&atomic_load(&counts)[counter_clock], 1);
  return real(id, ts);
}
