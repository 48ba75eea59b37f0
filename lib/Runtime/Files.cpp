//===- Files.cpp - Durable, atomic file writes -----------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Every file the runtime writes (.npy outputs, checkpoints) goes through
// writeFileAtomically: the bytes go to a fresh temporary file next to the
// target, are flushed to disk, and the temporary file is renamed over the
// target. A reader sees the old file or the new one, never a mix, even if
// the process is killed mid-write.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

/// Writes all of `n` bytes to `fd`, retrying after interrupts.
bool writeAll(int fd, const void *p, size_t n) {
  const char *c = static_cast<const char *>(p);
  while (n) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

/// The directory part of `path` ("." if none), for fsync after a rename.
std::string directoryOf(const std::string &path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

} // namespace

kiln_status_t
kiln::runtime::writeFileAtomically(const char *path,
                                   const std::pair<const void *, size_t> *pieces,
                                   size_t numPieces) {
  // A fresh temporary file next to `path`: pid and a counter make the name
  // unique within this machine; O_EXCL skips stale files of dead processes.
  static std::atomic<unsigned> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = std::string(path) + ".tmp-" + std::to_string(::getpid()) + "-" +
          std::to_string(counter.fetch_add(1));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST)
      break;
  }
  if (fd < 0)
    return kiln_status_create(KILN_IO_ERROR,
                              "cannot write %s: cannot create "
                              "%s: %s",
                              path, tmp.c_str(), std::strerror(errno));
  bool ok = true;
  for (size_t i = 0; i < numPieces && ok; ++i)
    ok = writeAll(fd, pieces[i].first, pieces[i].second);
  ok = ok && ::fsync(fd) == 0;
  int err = errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && std::rename(tmp.c_str(), path) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return kiln_status_create(KILN_IO_ERROR, "cannot write %s: %s", path,
                              std::strerror(err));
  }
  // Make the rename itself durable. Best effort: some file systems cannot
  // fsync a directory, and the data is already in place.
  int dir =
      ::open(directoryOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return nullptr;
}
