/*===- fault_injection.c - Failing system calls for tests (LD_PRELOAD) ----===*
 *
 * Part of the Kiln project.
 *
 *===----------------------------------------------------------------------===*
 *
 * Preloaded into a process, makes one kind of call fail from its Nth use
 * on, with an errno, as a full disk or a failing device would:
 *
 *   KILN_FAULT=write:ENOSPC:1    every write() from the first one fails
 *   KILN_FAULT=fsync:EIO:1       fsync() fails
 *   KILN_FAULT=rename:EIO:1      rename() fails
 *   KILN_FAULT=fread:EIO:2       fread() from the second call returns
 *                                short with the stream's error flag set
 *
 * Only calls on files whose path (for rename: its target; for the others
 * what the descriptor is open on) contains KILN_FAULT_PATH, when set, are
 * counted and failed; other files work, so the interpreter and the test
 * harness are unaffected.
 *
 *===----------------------------------------------------------------------===*/

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fault_call[16];
static int fault_errno;
static long fault_from;
static long fault_count;
static int fault_loaded;

static void load(void) {
  if (fault_loaded)
    return;
  fault_loaded = 1;
  const char *spec = getenv("KILN_FAULT");
  if (!spec)
    return;
  char name[16] = {0}, code[16] = {0};
  long from = 1;
  if (sscanf(spec, "%15[^:]:%15[^:]:%ld", name, code, &from) < 2)
    return;
  strcpy(fault_call, name);
  fault_errno = strcmp(code, "ENOSPC") == 0  ? ENOSPC
                : strcmp(code, "EIO") == 0   ? EIO
                : strcmp(code, "EDQUOT") == 0 ? EDQUOT
                                              : EIO;
  fault_from = from;
}

/* Whether KILN_FAULT names a call at all (cheap: most calls pass). */
static int fault_armed(void) {
  load();
  return fault_call[0] != 0;
}

static int matches(const char *path) {
  const char *want = getenv("KILN_FAULT_PATH");
  return !want || (path && strstr(path, want));
}

/* Whether this use of `call` must fail. */
static int failing(const char *call) {
  load();
  if (strcmp(fault_call, call) != 0)
    return 0;
  return ++fault_count >= fault_from;
}

#define NEXT(type, name, args) ((type(*) args)dlsym(RTLD_NEXT, name))

/* Whether descriptor `fd` is open on a path KILN_FAULT_PATH names. */
static int fd_matches(int fd) {
  if (!getenv("KILN_FAULT_PATH"))
    return 1;
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n < 0)
    return 0;
  path[n] = 0;
  return matches(path);
}

ssize_t write(int fd, const void *data, size_t n) {
  if (fd > 2 && fault_armed() && fd_matches(fd) && failing("write")) {
    errno = fault_errno;
    return -1;
  }
  return NEXT(ssize_t, "write", (int, const void *, size_t))(fd, data, n);
}

int fsync(int fd) {
  if (fault_armed() && fd_matches(fd) && failing("fsync")) {
    errno = fault_errno;
    return -1;
  }
  return NEXT(int, "fsync", (int))(fd);
}

int rename(const char *from, const char *to) {
  if (fault_armed() && matches(to) && failing("rename")) {
    errno = fault_errno;
    return -1;
  }
  return NEXT(int, "rename", (const char *, const char *))(from, to);
}

size_t fread(void *data, size_t size, size_t count, FILE *f) {
  if (fault_armed() && fd_matches(fileno(f)) && failing("fread")) {
    errno = fault_errno;
    /* A short read with the error flag set, as a failing device gives. */
    f->_flags |= 0x20; /* _IO_ERR_SEEN */
    return 0;
  }
  return NEXT(size_t, "fread", (void *, size_t, size_t, FILE *))(data, size,
                                                                  count, f);
}
