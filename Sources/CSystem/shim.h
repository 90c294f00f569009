#ifndef ARGO_PLUGIN_CSYSTEM_SHIM_H
#define ARGO_PLUGIN_CSYSTEM_SHIM_H
/* Typed forms of POSIX/Linux calls Swift cannot import directly: variadic ones (fcntl,
   syscall) and GNU extensions hidden without _GNU_SOURCE (copy_file_range, syncfs). */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <malloc.h>
#include <poll.h>
#include <time.h>
#include <signal.h>

static inline int argo_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
static inline int argo_set_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFD, 0);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}
static inline int argo_accept_nonblocking(int fd) {
    int c = accept(fd, NULL, NULL);
    if (c < 0) return c;
    if (argo_set_nonblocking(c) < 0 || argo_set_cloexec(c) < 0) { close(c); return -1; }
    return c;
}
/* open with a mode: open(2) is variadic. */
static inline int argo_open(const char *path, int flags, mode_t mode) { return open(path, flags | O_CLOEXEC, mode); }
static inline int argo_openat(int dirfd, const char *path, int flags, mode_t mode) { return openat(dirfd, path, flags | O_CLOEXEC, mode); }

static inline ssize_t argo_copy_file_range(int in_fd, int64_t *off_in, int out_fd, int64_t *off_out, size_t len) {
    return (ssize_t)syscall(SYS_copy_file_range, in_fd, off_in, out_fd, off_out, len, 0u);
}
static inline int argo_syncfs(int fd) { return (int)syscall(SYS_syncfs, fd); }
/* writev on a socket without SIGPIPE when the peer has gone (EPIPE instead). */
static inline ssize_t argo_send_vectors(int fd, struct iovec *iov, int count) {
    struct msghdr m = { 0 };
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)count;
    return sendmsg(fd, &m, MSG_NOSIGNAL);
}
/* Waits until fd is readable or `nanoseconds` pass (negative: no limit), with ppoll's
   nanosecond timeout (a GNU extension: called through syscall, as above). */
static inline int argo_wait_readable(int fd, int64_t nanoseconds) {
    struct pollfd p = { fd, POLLIN, 0 };
    if (nanoseconds < 0) return (int)syscall(SYS_ppoll, &p, 1, NULL, NULL, 8);
    struct timespec ts = { (time_t)(nanoseconds / 1000000000), (long)(nanoseconds % 1000000000) };
    return (int)syscall(SYS_ppoll, &p, 1, &ts, NULL, 8);
}
/* Atomically swap two paths (renameat2 RENAME_EXCHANGE = 2). */
static inline int argo_rename_exchange(const char *a, const char *b) {
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2u);
}
/* Start writeback of a range without waiting (SYNC_FILE_RANGE_WRITE = 2). */
static inline int argo_start_writeback(int fd, int64_t offset, int64_t nbytes) {
    return (int)syscall(SYS_sync_file_range, fd, offset, nbytes, 2u);
}
/* Lock edges for ThreadSanitizer, which cannot see inside the standard library's futex-based
   Mutex: weak, so they are no-ops (null) unless the binary is built with -sanitize=thread. */
extern void __tsan_acquire(void *addr) __attribute__((weak));
extern void __tsan_release(void *addr) __attribute__((weak));
static inline void argo_tsan_acquire(void *addr) { if (__tsan_acquire) __tsan_acquire(addr); }
static inline void argo_tsan_release(void *addr) { if (__tsan_release) __tsan_release(addr); }


/* Names the calling thread (shown by ps, top, perf and strace -f): prctl is variadic. */
static inline int argo_set_thread_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }
/* Memory that follows the live working set. Streamed bodies pass through buffers of about
   1 MiB, allocated and freed by the thousand per GiB: below the mmap threshold they stay in the
   heap and are reused warm (no page faults on every byte). Part buffers (several MiB, cached by
   the buffer pool while transfers run) are mapped and unmapped whole, so RSS falls when they go
   instead of keeping the heap's high-water mark; a fixed threshold also stops glibc raising it
   to 32 MiB after the first such free. Two arenas, not 8 per core: each thread that frees a
   buffer another allocated would otherwise keep free lists of its own. The trim threshold is
   small (ResourcePlan.heapTrimThreshold says why). */
static inline void argo_size_malloc_for_transfers(int mmap_threshold, int trim_threshold) {
    mallopt(M_MMAP_THRESHOLD, mmap_threshold);
    mallopt(M_TRIM_THRESHOLD, trim_threshold);
    mallopt(M_ARENA_MAX, 2);
}
/* Returns the free memory inside malloc's arenas to the system (blocking: run it off the pool). */
static inline int argo_trim_heap(void) { return malloc_trim(0); }
/* What malloc holds, in bytes: in use, free inside the arenas, and mapped whole (mallinfo2). */
typedef struct { size_t in_use; size_t free_in_arenas; size_t mapped; } argo_heap_usage;
static inline argo_heap_usage argo_heap_now(void) {
    struct mallinfo2 m = mallinfo2();
    argo_heap_usage u = { m.uordblks, m.fordblks, m.hblkhd };
    return u;
}
/* SIGTERM and SIGINT caught by a handler installed here, synchronously: it writes the signal's
   number to a pipe a watcher thread reads. (A dispatch signal source installs its handler later,
   on its queue; with SIG_IGN set until then, a SIGTERM sent right after the socket appeared was
   lost, 7 times in 200, and the plugin ran on until SIGKILL.) Async-signal-safe: one write(2). */
static int argo_termination_pipe = -1;
static void argo_on_termination_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t n = write(argo_termination_pipe, &b, 1);
    (void)n;
    errno = saved;
}
static inline int argo_catch_termination_signals(int pipe_write_end) {
    argo_termination_pipe = pipe_write_end;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = argo_on_termination_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) != 0) return -1;
    return sigaction(SIGINT, &sa, NULL);
}
#endif
