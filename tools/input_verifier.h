// InputVerifier: checks a zstd-compressed input file end to end before ingest commits any row
// decoded from it.
//
// Why: zstd verifies a frame's content checksum (XXH64) only at the frame's end, and `zstd`
// writes one frame per file. A flipped bit in a literal often still decodes to valid CSV — other
// digits — so the reader hands out wrong rows and the checksum error arrives after ingest has
// committed batches of them. Those rows cannot be taken back.
//
// Contract
// - What: Start(stream) opens the stream's file a second time (InputStream::OpenSameFile) and
//   decompresses it to its end on a thread of its own, discarding the bytes. Wait() joins it
//   and returns the result: OK, or the InputStream error that the ingest's own reader would
//   reach later (Corruption naming the file: a failed checksum, undecodable or truncated data;
//   IOError). Ingest calls Wait() before its first commit (tools/ingest.h).
// - Limit: a frame without a content checksum (`zstd --no-check`) is only decoded: damage
//   that still decodes goes unnoticed (an adversarial run: 7 of 40 single-bit flips).
// - When: only for zstd-compressed regular files. Start returns nullptr for plain files, pipes
//   and stdin (a stream cannot be read twice: their frames are checked as they are read), and
//   when the file cannot be opened again (the reader still checks every frame, later).
// - Cost: one more decompression, on another core while the first batch is parsed: 0.14 s of
//   CPU for the 96 MB of the bundled 3 M flights (README, "Measured"). Memory: one 1 MiB block
//   and a zstd context.
// - Lifetime: the destructor stops the thread at its next block and joins it.
// - Thread-safety: Start, Wait and the destructor are called from one thread.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "persistence/status.h"
#include "tools/input_stream.h"

namespace cowtree::tools {

class InputVerifier {
 public:
  static std::unique_ptr<InputVerifier> Start(const InputStream& stream);
  ~InputVerifier();
  InputVerifier(const InputVerifier&) = delete;
  InputVerifier& operator=(const InputVerifier&) = delete;

  // Joins the thread (at most once; later calls return the same result).
  Status Wait();

 private:
  explicit InputVerifier(std::unique_ptr<InputStream> copy);
  void Run();

  std::unique_ptr<InputStream> copy_;
  std::atomic<bool> stop_{false};
  Status result_;  // written by the thread, read after join
  std::thread thread_;
};

}  // namespace cowtree::tools
