// InputStream: the bytes of a user input file, read front to back in large blocks.
//
// Contract
// - What: Open(path) reads a regular file, a zstd-compressed file, or standard input when path
//   is "-". Compression is detected by the zstd frame magic number in the first 4 bytes
//   (regular or skippable frame), not by the name; concatenated frames are decoded in sequence.
//   A name ending in ".zst" whose content does not start with the magic is Corruption (the
//   user expects compressed input, and parsing the raw bytes as text would only hide that).
// - Shapes: Read(out, max_bytes, &read_bytes) writes up to max_bytes decompressed bytes;
//   read_bytes == 0 means end of input. For a regular file read_bytes < max_bytes only at end
//   of input. Any other input (pipe, terminal, socket, FIFO: partial_reads()) returns what one
//   read() delivered as soon as it has at least one byte, so that a slow producer's rows are
//   seen when they arrive instead of after max_bytes have accumulated.
//   Raw reads from the file (and compressed input) are block_bytes at a time.
// - Waiting: for partial_reads() inputs, SetWaitHook(hook) makes every read that would block
//   first ask hook() for a timeout in ms (< 0: block until input arrives); when that much time
//   passes without input, the hook is called again (it may do work, e.g. commit what was read,
//   and returns the next timeout). A hook error is returned by Read. Regular files never call
//   the hook.
// - Ownership/lifetime: the stream owns its file descriptor (stdin is borrowed, never closed)
//   and its zstd context; both are released by the destructor.
// - Errors (messages name the file; stdin is named "<stdin>"):
//   missing file → NotFound; any other open/read failure → IOError with errno text;
//   undecodable zstd data or a failed frame checksum → Corruption naming the compressed byte
//   offset where the decoder stopped (zstd reports no exact byte: the offset is how much
//   compressed input the decoder had taken when it failed, which may be before the damage, or
//   after it for a checksum, checked at the frame's end);
//   compressed input that ends inside a frame → Corruption ("truncated").
// - Thread-safety: none; use one stream from one thread at a time.
//
// User input files are read with plain POSIX read(), not through Env: Env is the interface for
// the store's own files (so that tests can inject faults into them); a CSV being ingested is
// read once, front to back, and may be a pipe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "persistence/status.h"

struct ZSTD_DCtx_s;  // zstd.h: typedef struct ZSTD_DCtx_s ZSTD_DCtx

namespace cowtree::tools {

class InputStream {
 public:
  static constexpr size_t kDefaultBlockBytes = size_t{1} << 20;

  // block_bytes: size of each raw read() (must be > 0; tests use tiny blocks).
  static Result<std::unique_ptr<InputStream>> Open(const std::string& path,
                                                   size_t block_bytes = kDefaultBlockBytes);
  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  // Fills out[0, max_bytes) with the next bytes; see the contract for read_bytes.
  Status Read(char* out, size_t max_bytes, size_t* read_bytes);

  // See "Waiting" in the contract.
  using WaitHook = std::function<Result<int>()>;
  void SetWaitHook(WaitHook hook) { wait_hook_ = std::move(hook); }
  bool partial_reads() const { return partial_reads_; }

  // The name used in messages: the path as given, or "<stdin>" for "-".
  const std::string& name() const { return name_; }
  bool compressed() const { return dctx_ != nullptr; }
  // Raw (possibly compressed) bytes consumed from the file so far.
  uint64_t raw_bytes_read() const { return raw_offset_; }

  // A second stream over the same file from its start (a new open file description of the
  // same inode, through /proc/self/fd, so a file renamed or replaced meanwhile is not read
  // instead), named as this one in messages. For a regular file only: InvalidArgument for
  // partial_reads() inputs; IOError if the file cannot be opened again.
  Result<std::unique_ptr<InputStream>> OpenSameFile() const;

 private:
  InputStream(std::string name, int fd, bool owns_fd, size_t block_bytes);
  // Open for a file: opens `path`, names the stream `name`.
  static Result<std::unique_ptr<InputStream>> OpenFile(const std::string& path,
                                                       const std::string& name, size_t block_bytes);
  // Reads the magic number and sets up the zstd context if it is one.
  static Status Sniff(InputStream* stream, bool named_zst);
  // Reads from fd_ until max_bytes are read or end of file; *read_bytes < max_bytes only at EOF,
  // except with allow_partial on a partial_reads() input: then it returns after the first
  // read() that delivered bytes.
  Status ReadRaw(char* out, size_t max_bytes, size_t* read_bytes, bool allow_partial = false);
  // Before a read() on a partial_reads() input: polls with the wait hook's timeouts.
  Status WaitForInput();
  Status ReadPlain(char* out, size_t max_bytes, size_t* read_bytes);
  Status ReadZstd(char* out, size_t max_bytes, size_t* read_bytes);

  std::string name_;
  int fd_;
  bool owns_fd_;
  size_t block_bytes_;
  // Raw input bytes not yet consumed: [in_pos_, in_size_) of in_buf_. Holds the sniffed magic
  // bytes for plain input, and compressed input for zstd.
  std::unique_ptr<char[]> in_buf_;
  size_t in_capacity_ = 0;
  size_t in_pos_ = 0;
  size_t in_size_ = 0;
  uint64_t raw_offset_ = 0;        // file offset just past the last raw byte read
  bool raw_eof_ = false;           // read() returned end of file
  ::ZSTD_DCtx_s* dctx_ = nullptr;  // non-null iff the input is zstd
  size_t frame_remaining_ = 0;     // last ZSTD_decompressStream hint; 0 at a frame boundary
  bool partial_reads_ = false;     // fd_ is not a regular file
  WaitHook wait_hook_;
};

}  // namespace cowtree::tools
